"""Cost against collection size: retrieval latency, cold start, load times, memory, disk, ingest.

    make bench-scale        # = .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --sizes 1000,10000 --ingest-sizes 1000,2000

Writes ``benchmarks/results/scale.json``, ``benchmarks/results/scale.png`` and prints the Scale
table of docs/evaluation.md. Collections are made from a real corpus (SciFact when ``--corpus`` is a BEIR folder, else
any ingestible path) by ``benchmarks/scale_corpus.py`` (recombined real sentences, unique titles
and ids), built by the product's own ``run_ingest`` with vectors derived from real ones (see that
module), so 100k papers build in minutes instead of hours of encoding. Measured per size:

* ``build_s``: that ingest with derived vectors (reading, identity, chunking, Chroma, BM25, catalog,
  calibration: everything but encoding);
* ``disk_bytes_per_paper`` and ``ingest_peak_rss_mib`` (the building process);
* ``open_ms`` (manifest + catalog), ``bm25_load_ms``;
* ``cold_start_s``: wall time of ``ask --retrieve-only`` as a new process (median of 3), and its
  ``ask_peak_rss_mib``;
* warm latency per question, p50/p95 in ms: ``dense`` (chunk ANN + its papers' sentence scores), ``bm25``,
  ``fused`` (the whole hybrid search), ``retrieve`` (search + evidence selection + abstention);
* ``incremental``: a second ingest adding 1% new papers with the real encoder, in seconds and as a
  share of a full ingest at that size, estimated as size x the per-paper cost of the largest real
  ingest (a lower bound, so the share is an upper bound: Chroma writes get slower as a store grows).

Ingest throughput with real encoding (``--ingest-sizes``, fresh indexes of 1k and 2k papers) gives
that per-paper cost and shows whether it is flat. Timings are from one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # benchmarks/ingest.py shadows `ingest`

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

ROOT = _HERE.parent
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
NEW_PAPERS = 10_000_000  # synthetic paper numbers from here on are never in a collection built here


def _corpus_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_corpus", _HERE / "scale_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1),
    }


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_child(args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of a child process (its own rusage, from wait4)."""
    import tempfile

    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"{args[:4]} failed: {err.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss // 1024, out


# -- one collection (run in a child process, so its peak RSS is its own) -------------------------


def build(n: int, work: Path, corpus: Path) -> dict[str, Any]:
    """Build the n-paper collection with derived vectors; returns the build's figures."""
    sc = _corpus_module()
    from assistant import embedding
    from assistant.settings import Settings
    from ingest.pipeline import run_ingest

    settings = Settings(index=work / f"index-{n}")
    shutil.rmtree(settings.index.path, ignore_errors=True)
    sources = sc.source_papers(corpus)
    known = sc.sentence_vectors(sources, work, settings)
    path = sc.write_jsonl(sc.make_papers(sources, 0, n), work / f"papers-{n}.jsonl")
    derived = sc.DerivedEncoder(known)
    real = embedding.DocumentEncoder
    embedding.DocumentEncoder = lambda *a, **k: derived  # type: ignore[assignment,misc]
    try:
        started = time.perf_counter()
        report = run_ingest([path], settings)
        seconds = time.perf_counter() - started
    finally:
        embedding.DocumentEncoder = real  # type: ignore[misc]
    with open("/proc/self/status") as fh:
        peak = next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmHWM"))
    return {
        "papers": report.added,
        "build_s": round(seconds, 1),
        "calibration_s": report.calibration.get("seconds"),
        "ingest_peak_rss_mib": peak,
    }


def measure(n: int, work: Path, questions: list[str]) -> dict[str, Any]:
    """Load times and warm latencies of the n-paper collection, in this (fresh) process."""
    from assistant.answer import AnswerChain
    from assistant.settings import Settings
    from assistant.store import PaperIndex

    settings = Settings(index=work / f"index-{n}")
    started = time.perf_counter()
    index = PaperIndex.open(settings)
    open_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    index._load_bm25()
    bm25_ms = (time.perf_counter() - started) * 1000
    chain = AnswerChain(settings)
    retriever = chain.retriever
    chain.retrieve(questions[0])  # warm: HNSW segments, ONNX session
    k = settings.retrieval.candidates if hasattr(settings.retrieval, "candidates") else 50
    times: dict[str, list[float]] = {"dense": [], "bm25": [], "fused": [], "retrieve": []}
    for question in questions:
        vector = retriever.encoder.encode(question)
        t0 = time.perf_counter()
        hits = retriever.index.dense(vector, k)
        retriever.index.sentence_hits(vector, {h.paper_id for h in hits}, k)
        t1 = time.perf_counter()
        retriever.index.sparse(question, k)
        t2 = time.perf_counter()
        retriever.search(question)
        t3 = time.perf_counter()
        chain.retrieve(question)
        t4 = time.perf_counter()
        times["dense"].append((t1 - t0) * 1000)
        times["bm25"].append((t2 - t1) * 1000)
        times["fused"].append((t3 - t2) * 1000)
        times["retrieve"].append((t4 - t3) * 1000)
    return {
        "open_ms": round(open_ms, 1),
        "bm25_load_ms": round(bm25_ms, 1),
        "latency_ms": {name: percentiles(values) for name, values in times.items()},
        "questions": len(questions),
    }


def incremental(n: int, work: Path, corpus: Path) -> dict[str, Any]:
    """A second ingest adding 1% new papers (real encoder) to the n-paper collection."""
    sc = _corpus_module()
    from assistant.settings import Settings
    from ingest.pipeline import run_ingest

    settings = Settings(index=work / f"index-{n}")
    sources = sc.source_papers(corpus)
    count = max(n // 100, 1)
    path = sc.write_jsonl(sc.make_papers(sources, NEW_PAPERS + n, count), work / f"new-{n}.jsonl")
    started = time.perf_counter()
    report = run_ingest([path], settings)
    seconds = time.perf_counter() - started
    return {"papers": report.added, "seconds": round(seconds, 1), "embedded": report.embedded}


def real_ingest(m: int, work: Path, corpus: Path) -> dict[str, Any]:
    """A fresh ingest of m papers with the real encoder (the configured backend)."""
    sc = _corpus_module()
    from assistant.settings import Settings
    from ingest.pipeline import run_ingest

    settings = Settings(index=work / f"real-{m}")
    shutil.rmtree(settings.index.path, ignore_errors=True)
    sources = sc.source_papers(corpus)
    path = sc.write_jsonl(sc.make_papers(sources, 2 * NEW_PAPERS, m), work / f"real-{m}.jsonl")
    started = time.perf_counter()
    report = run_ingest([path], settings)
    seconds = time.perf_counter() - started
    shutil.rmtree(settings.index.path, ignore_errors=True)
    return {
        "papers": report.added,
        "seconds": round(seconds, 1),
        "papers_per_s": round(report.added / seconds, 2),
        "s_per_paper": round(seconds / report.added, 4),
        "backend": settings.embedding.backend,
    }


# -- the driver ------------------------------------------------------------------------------------


def child(step: str, n: int, work: Path, corpus: Path, questions: Path | None = None) -> tuple[dict[str, Any], int]:
    args = [sys.executable, __file__, "--child", step, "--n", str(n), "--work", str(work), "--corpus", str(corpus)]
    if questions:
        args += ["--questions", str(questions)]
    _, rss, out = run_child(args)
    return json.loads(out.strip().splitlines()[-1]), rss


def cold_start(n: int, work: Path, question: str, runs: int = 3) -> dict[str, Any]:
    ask = str(Path(sys.executable).parent / "ask")
    walls, rsses = [], []
    for _ in range(runs):
        wall, rss, _ = run_child([ask, "--index", str(work / f"index-{n}"), "--retrieve-only", question])
        walls.append(wall)
        rsses.append(rss)
    return {"cold_start_s": round(statistics.median(walls), 2), "ask_peak_rss_mib": max(rsses)}


def load_questions(corpus: Path, limit: int) -> list[str]:
    if (corpus / "queries.jsonl").is_file():
        rows = [json.loads(line) for line in (corpus / "queries.jsonl").read_text().splitlines() if line.strip()]
        return [r["text"] for r in rows][:limit]
    rows = [json.loads(line) for line in (ROOT / "evals/questions/dev.jsonl").read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows][:limit]


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["papers"] for row in results["collections"]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name in ("dense", "bm25", "fused", "retrieve"):
        axes[0].plot(sizes, [r["latency_ms"][name]["p95"] for r in results["collections"]], marker="o", label=name)
    axes[0].axhline(100, color="grey", linestyle=":", label="target (retrieve)")
    axes[0].set(xscale="log", xlabel="papers", ylabel="p95 ms", title="Warm latency per question (p95)")
    axes[0].legend()
    axes[1].plot(sizes, [r["cold_start_s"] for r in results["collections"]], marker="o", label="ask cold start (s)")
    axes[1].plot(sizes, [r["open_ms"] / 1000 for r in results["collections"]], marker="o", label="open index (s)")
    axes[1].plot(sizes, [r["bm25_load_ms"] / 1000 for r in results["collections"]], marker="o", label="BM25 load (s)")
    axes[1].axhline(3, color="grey", linestyle=":", label="target (cold start)")
    axes[1].set(xscale="log", xlabel="papers", ylabel="s", title="Start-up")
    axes[1].legend()
    axes[2].plot(
        sizes, [r["disk_bytes_per_paper"] / 1024 for r in results["collections"]], marker="o", label="disk KiB/paper"
    )
    axes[2].plot(sizes, [r["ask_peak_rss_mib"] for r in results["collections"]], marker="o", label="ask peak RSS MiB")
    shared = [
        (n, (r.get("incremental") or {}).get("share_of_full"))
        for n, r in zip(sizes, results["collections"], strict=True)
    ]
    shared = [(n, share * 100) for n, share in shared if share is not None]  # None: --ingest-sizes "" skipped it
    if shared:
        axes[2].plot(*zip(*shared, strict=True), marker="o", label="+1% ingest, % of full")
    axes[2].set(xscale="log", yscale="log", xlabel="papers", title="Memory, disk, incremental ingest")
    axes[2].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| papers | retrieve p50 / p95 ms | dense p95 | BM25 p95 | fused p95 | cold start s | open ms | BM25 load ms "
        "| ask RSS MiB | disk KiB/paper | +1% ingest s (% of full) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["collections"]:
        lat = r["latency_ms"]
        inc = r.get("incremental") or {}
        share = inc.get("share_of_full")
        step = (
            "not run"
            if not inc
            else f"{inc['seconds']} ({share * 100:.1f}%)"
            if share
            else f"{inc['seconds']} (no estimate)"
        )
        lines.append(
            f"| {r['papers']:,} | {lat['retrieve']['p50']} / {lat['retrieve']['p95']} | {lat['dense']['p95']} "
            f"| {lat['bm25']['p95']} | {lat['fused']['p95']} | {r['cold_start_s']} | {r['open_ms']} "
            f"| {r['bm25_load_ms']} | {r['ask_peak_rss_mib']} | {r['disk_bytes_per_paper'] / 1024:.1f} "
            f"| {step} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ingest-sizes", default="1000,2000")
    parser.add_argument("--corpus", type=Path, default=SCIFACT if SCIFACT.is_dir() else ROOT / "data")
    parser.add_argument("--questions-count", type=int, default=200)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks/out/scale")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scale.json")
    parser.add_argument("--keep", action="store_true", help="Keep the built indexes (they are large).")
    parser.add_argument(
        "--update", action="store_true", help="Keep what --out holds and replace only what this run measures."
    )
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="With --update and a kept index: measure the query side again (no build, no incremental ingest).",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--questions", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    if args.child:
        if args.child == "build":
            out = build(args.n, work, args.corpus)
        elif args.child == "measure":
            out = measure(args.n, work, json.loads(args.questions.read_text()))
        elif args.child == "incremental":
            out = incremental(args.n, work, args.corpus)
        else:
            out = real_ingest(args.n, work, args.corpus)
        print(json.dumps(out))
        return

    questions = load_questions(args.corpus, args.questions_count)
    qpath = work / "questions.json"
    qpath.write_text(json.dumps(questions))
    results: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, no GPU",
        "corpus": str(args.corpus),
        "how": "scale_corpus.py: recombined real sentences, unique titles/ids; vectors derived from real ones",
        "ingest": [],
        "collections": [],
    }
    if args.update and args.out.is_file():
        results = json.loads(args.out.read_text())
    ingest_sizes = [int(x) for x in args.ingest_sizes.split(",") if x]
    if ingest_sizes:
        results["ingest"] = []
    for m in ingest_sizes:
        row, rss = child("real", m, work, args.corpus)
        row["peak_rss_mib"] = rss
        results["ingest"].append(row)
        print("ingest", json.dumps(row), flush=True)
    per_paper = results["ingest"][-1]["s_per_paper"] if results["ingest"] else None
    if len(results["ingest"]) >= 2:
        a, b = results["ingest"][0]["s_per_paper"], results["ingest"][-1]["s_per_paper"]
        results["ingest_per_paper_ratio"] = round(b / a, 3)
    for n in [int(x) for x in args.sizes.split(",") if x]:
        index = work / f"index-{n}"
        earlier = next((r for r in results["collections"] if r["papers"] == n), None)
        if args.measure_only and earlier is not None and index.is_dir():  # the kept index: query side again
            row = earlier
        else:
            row, rss = child("build", n, work, args.corpus)
            row["ingest_peak_rss_mib"] = max(row["ingest_peak_rss_mib"], rss)
            row["disk_bytes"] = disk_bytes(index)
            row["disk_bytes_per_paper"] = round(row["disk_bytes"] / n)
            row["parts_bytes"] = {p.name: disk_bytes(p) if p.is_dir() else p.stat().st_size for p in index.iterdir()}
        measured, _ = child("measure", n, work, args.corpus, qpath)
        row |= measured
        row |= cold_start(n, work, questions[1])
        if not args.measure_only:
            inc, _ = child("incremental", n, work, args.corpus)
            full = n * per_paper if per_paper else None
            inc["full_estimate_s"] = round(full, 1) if full else None
            inc["share_of_full"] = round(inc["seconds"] / full, 4) if full else None
            row["incremental"] = inc
        row["papers"] = n
        results["collections"] = [r for r in results["collections"] if r["papers"] != n] + [row]
        results["collections"].sort(key=lambda r: r["papers"])
        print("collection", json.dumps(row), flush=True)
        if not args.keep:
            shutil.rmtree(index, ignore_errors=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if per_paper:  # the full-ingest estimate follows the measured per-paper encode cost
        for row in results["collections"]:
            if "incremental" not in row:
                continue
            full = row["papers"] * per_paper
            row["incremental"]["full_estimate_s"] = round(full, 1)
            row["incremental"]["share_of_full"] = round(row["incremental"]["seconds"] / full, 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    plot(results, args.out.with_suffix(".png"))
    print(table(results))


if __name__ == "__main__":
    main()
