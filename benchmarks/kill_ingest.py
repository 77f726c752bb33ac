"""Kill trials: SIGKILL the real ``ingest`` at random moments; after each, a re-run must leave an
index whose manifest, Chroma chunks, sentence vectors and BM25 agree exactly (no orphans, no
duplicates) and hold every paper of the collection; the vectors stored beyond the listed ones (in
chunk stores and in sentence folders, bases and deltas) are exactly the garbage the manifest
counts, and no store or sentence folder is on disk that neither kept generation lists.

Trial 0 kills a from-scratch ingest of the whole collection. Every later trial first removes a
random 2-12% of the papers from the committed index (through the index's own commit, as a
``--prune`` would), then runs ``ingest`` on the whole collection again, which must re-embed and
re-commit them, and SIGKILLs it after a random delay drawn over that run's expected length (read
from trial 0), so kills land while reading, loading the model, embedding, upserting, writing BM25
or replacing the manifest. A run that finishes before its kill is counted, not killed; trials go
on until ``--trials`` runs were really killed.

    python benchmarks/kill_ingest.py [--data data] [--expect 502] [--trials 20] [--seed 0] [--compact-removals]

Without ``--compact-removals`` the removed papers' vectors stay stored as garbage and the re-run
finds them, so it embeds nothing and writes no delta; with it, each removal commit compacts (a new
chunk base and sentence base without garbage), and each re-run embeds the removed papers again and
writes a chunk delta and a sentence delta, which the kills then interrupt.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and would shadow the `ingest` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)
from assistant import segments  # noqa: E402
from assistant.manifest import load_manifest  # noqa: E402
from assistant.sentsegments import SentenceSegments  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store import PaperIndex  # noqa: E402
from assistant.writer import IndexWriter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run_ingest(data: Path, index: Path, kill_after: float | None, log: Path) -> tuple[bool, float]:
    """Run ``ingest`` in its own process; SIGKILL it after ``kill_after`` s. (killed?, seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERS_")}
    env["PAPERS_CONFIG"] = os.devnull
    started = time.monotonic()
    with log.open("a") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "ingest"), str(data), "--index", str(index), "--json"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, time.monotonic() - started
    if proc.returncode != 0:
        raise IngestFailed(f"ingest failed with exit code {proc.returncode}")
    return False, time.monotonic() - started


class IngestFailed(Exception):
    """The re-run after a kill did not complete: the kill left an index the next run cannot use."""


def check(index: Path, expect: int) -> list[str]:
    """Every way the index can disagree with itself; [] when it is whole."""
    problems = []
    manifest = load_manifest(index)
    store = PaperIndex(index, manifest)
    if len(manifest.papers) != expect:
        problems.append(f"{len(manifest.papers)} papers, expected {expect}")
    chunk_ids = [c for e in manifest.papers.values() for c in e.chunk_ids]
    sentence_ids = [s for e in manifest.papers.values() for s in e.sentence_ids]
    bm25 = json.loads((index / f"bm25-{manifest.generation}" / "ids.json").read_text())
    chroma, sentences = store.stored_ids(), store.stored_ids("sentences")
    if len(chunk_ids) != len(set(chunk_ids)) or len(bm25) != len(set(bm25)):
        problems.append("duplicate chunk ids")
    if set(chunk_ids) != chroma:
        problems.append(f"chunks: {len(chroma - set(chunk_ids))} orphans, {len(set(chunk_ids) - chroma)} missing")
    # stored vectors no paper lists (garbage left in older stores, assistant.segments) must be exactly
    # those the manifest counts: anything else is an orphan a killed run left in a listed store
    held = store.collection.ids()
    if (
        len(held - set(chunk_ids)) > manifest.chunk_garbage
        or store.collection.stored() != len(chunk_ids) + manifest.chunk_garbage
    ):
        problems.append(
            f"chunks: {store.collection.stored() - len(chunk_ids)} unlisted, manifest counts {manifest.chunk_garbage}"
        )
    if set(bm25) != set(chunk_ids):
        problems.append("BM25 and manifest disagree")
    if set(sentence_ids) != sentences:
        problems.append(
            f"sentences: {len(sentences - set(sentence_ids))} orphans, {len(set(sentence_ids) - sentences)} missing"
        )
    if any(not e.chunk_ids or not e.sentence_ids for e in manifest.papers.values()):
        problems.append("a paper without chunks or sentence vectors")
    # the committed generation and the previous one (kept for readers until the next commit), no more
    allowed = {f"bm25-{manifest.generation}", f"bm25-{manifest.generation - 1}"}
    if not {p.name for p in index.glob("bm25-*")} <= allowed:
        problems.append(f"BM25 folders left: {sorted(p.name for p in index.glob('bm25-*'))}")
    stores = {p.name for p in index.glob("chroma*") if p.is_dir()}
    if not stores <= manifest.kept_stores():
        problems.append(f"vector stores left: {sorted(stores)}")
    # the same for the sentence folders (base and deltas, assistant.sentsegments): rows stored across
    # them are the listed ones plus the garbage the manifest counts, and no unlisted id beyond it
    held_sentences = store.sentences
    if isinstance(held_sentences, SentenceSegments):
        unlisted = set(held_sentences.ids()) - set(sentence_ids)
        stored = held_sentences.stored()
        if len(unlisted) > manifest.sentence_garbage or stored != len(sentence_ids) + manifest.sentence_garbage:
            problems.append(
                f"sentences: {stored - len(sentence_ids)} unlisted rows, manifest counts {manifest.sentence_garbage}"
            )
    else:
        problems.append("sentences: no sentence folder")
    sentences = {p.name for p in index.glob("sentences-*")}  # staged *.tmp ones included: the run finished
    if not sentences <= manifest.kept_sentences():
        problems.append(f"sentence folders left: {sorted(sentences)}")
    return problems


def _sentence_folders(index: Path) -> str:
    """The committed sentence folders, said briefly: "base + N deltas, G garbage"."""
    m = load_manifest(index)
    return f"sentences: {m.sentence_dir} + {len(m.sentence_deltas)} deltas, {m.sentence_garbage} garbage"


def remove_some(index: Path, rng: random.Random, share: tuple[float, float], compact: bool = False) -> int:
    """Drop a random share of the papers from the committed index (their chunks go with them).
    ``compact``: the commit compacts (a new chunk base and a new sentence base, garbage dropped), so
    the re-run must embed the removed papers again and write chunk and sentence deltas; otherwise
    their vectors stay as garbage and the re-run reuses them, embedding nothing."""
    saved = segments.MAX_DELTAS
    segments.MAX_DELTAS = 0 if compact else saved  # segments.compaction_due: due at any number of deltas
    try:
        store = IndexWriter.open_for_write(Settings(index=index), load_manifest(index).dimension)
        ids = sorted(store.manifest.papers)
        drop = rng.sample(ids, max(1, int(len(ids) * rng.uniform(*share))))
        kept = store.manifest.staged()
        for pid in drop:
            del kept.papers[pid]
        store.commit(kept)
        store.close()
    finally:
        segments.MAX_DELTAS = saved
    return len(drop)


def _keep(index: Path, log: Path, keep: Path) -> Path:
    """Copy a failed trial's index (if any) and ingest log to ``keep``, for reading after the run."""
    shutil.rmtree(keep, ignore_errors=True)
    if index.exists():
        shutil.copytree(index, keep)
    keep.mkdir(parents=True, exist_ok=True)
    if log.exists():
        shutil.copy(log, keep / "ingest.log")
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--expect", type=int, default=502, help="Papers the collection holds.")
    parser.add_argument("--trials", type=int, default=20, help="Runs to kill.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compact-removals",
        action="store_true",
        help="Each removal commit compacts, so every re-run embeds the removed papers again and writes deltas.",
    )
    parser.add_argument("--full-estimate", type=float, default=220.0, help="Seconds a full ingest takes (trial 0).")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/kill_ingest.json")
    args = parser.parse_args()
    args.data = args.data.resolve()  # ingest runs from the repository's root: a relative path is the caller's
    if not args.data.exists():
        sys.exit(f"kill_ingest: --data {args.data} does not exist")
    rng = random.Random(args.seed)
    Settings()  # fail early on a bad config
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        index, log = Path(tmp) / "index", Path(tmp) / "ingest.log"
        # trial 0: the whole collection from scratch, killed within its expected length; the killed
        # run plus the re-run that completes it give the full length, which places the later kills
        delay = rng.uniform(0, args.full_estimate)
        try:
            killed, ran = run_ingest(args.data, index, delay, log)
            _, rerun = run_ingest(args.data, index, None, log)
        except IngestFailed as exc:
            keep = _keep(index, log, args.out.parent / "kill_ingest_failed_0")
            sys.exit(f"trial 0: {exc} (index and log kept in {keep})")
        full = ran + rerun if killed else ran
        problems = check(index, args.expect)
        results.append(
            {"trial": 0, "removed": "all", "kill_after_s": round(delay, 2), "killed": killed, "problems": problems}
        )
        print(f"trial 0: full ingest {full:.0f} s, killed at {delay:.1f} s: {problems or 'consistent'}", flush=True)
        kills = int(killed)
        while kills < args.trials:
            removed = remove_some(index, rng, (0.02, 0.12), compact=args.compact_removals)
            expected = 6 + (full - 6) * removed / args.expect  # start-up plus the share to embed
            delay = rng.uniform(0, expected * 1.2)
            killed, _ = run_ingest(args.data, index, delay, log)
            try:
                run_ingest(args.data, index, None, log)
                problems = check(index, args.expect)
            except IngestFailed as exc:
                problems = [f"re-run failed: {exc}"]
                keep = _keep(index, log, args.out.parent / f"kill_ingest_failed_{len(results)}")
                problems.append(f"index and log kept in {keep}")
                kills += killed
                results.append({"trial": len(results), "removed": removed, "killed": killed, "problems": problems})
                print(f"trial {len(results) - 1}: {problems}", flush=True)
                break  # the index can no longer be used: stop here
            kills += killed
            folders = _sentence_folders(index)
            results.append(
                {
                    "trial": len(results),
                    "removed": removed,
                    "kill_after_s": round(delay, 2),
                    "killed": killed,
                    "problems": problems,
                    "sentence_folders": folders,
                }
            )
            print(
                f"trial {len(results) - 1}: {removed} papers removed, "
                + (f"killed at {delay:.1f} s" if killed else f"finished before {delay:.1f} s")
                + f" ({folders}): {problems or 'consistent'}",
                flush=True,
            )
    failures = sum(bool(r["problems"]) for r in results)
    summary = {"trials": len(results), "killed": kills, "inconsistent": failures, "full_ingest_s": round(full, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**summary, "results": results}, indent=2))
    print(f"{summary}; wrote {args.out}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
