"""Read → de-duplicate → chunk → embed what changed → upsert → commit (BM25 + manifest)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import embedding, storage
from assistant.catalog import PaperEntry
from assistant.dates import normalise_date
from assistant.errors import IndexMissingError, InputError
from assistant.manifest import empty_manifest
from assistant.settings import Settings
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.chunking import Chunk, chunk_paper, missing_units, sentence_units
from ingest.identity import Merge, alternate_id, deduplicate, match_stored, stored_keys
from ingest.lock import writer_lock
from ingest.merge import ORIGIN_KEYS, merge_stored
from ingest.paths import path_text, safe_text
from ingest.prune import check_share, plan_prune
from ingest.readers import read_paths
from ingest.records import Paper, Skipped

Progress = Callable[[int, int], None]


def progress_bar(desc: str = "embedding", unit: str = "text") -> Progress:
    """A tqdm bar on stderr driven by ``run_ingest``'s (done, total) callbacks, shown from the first."""
    from tqdm import tqdm

    bars: list[Any] = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=desc, unit=unit, file=sys.stderr))
        bar = bars[0]
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


@dataclass
class IngestReport:
    records: int = 0
    papers: int = 0
    duplicates: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    kept_from_damaged: int = 0  # --prune kept these: their file could not be read whole this time
    pruned: list[dict[str, Any]] = field(default_factory=list)  # what --prune removes (or would: --dry-run)
    embedded: int = 0  # chunk and sentence vectors computed this run (what was not in the store already)
    repaired: int = 0  # of which the index listed but its vector store had lost (re-embedded from the manifest)
    restored: str = ""  # how the index was recovered: "backup", "sources", "store" (a lost vector store), or ""
    unrecovered: list[str] = field(default_factory=list)  # in the store, but in none of the paths given
    skipped: list[Skipped] = field(default_factory=list)
    merged: list[Merge] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)  # assistant.calibrate.refresh's summary
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "papers": self.papers,
            "duplicates": self.duplicates,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "kept_from_damaged": self.kept_from_damaged,
            "pruned": self.pruned,
            "embedded": self.embedded,
            "repaired": self.repaired,
            "restored": self.restored,
            "unrecovered": self.unrecovered,
            "skipped": [s.as_dict() for s in self.skipped],
            "merged": [m.as_dict() for m in self.merged],
            "calibration": self.calibration,
            "seconds": round(self.seconds, 3),
        }


def run_ingest(
    paths: Sequence[Path],
    settings: Settings,
    *,
    rebuild: bool = False,
    prune: bool = False,
    recalibrate: bool = False,
    repair: bool = False,
    progress: Progress | None = None,
    ray_address: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    calibration_progress: Progress | None = None,
) -> IngestReport:
    """Ingest ``paths`` into ``settings.index.path`` (see the module docstring). ``repair``: also recover
    an unreadable manifest (from its backup, else from these sources, reusing every vector the
    store still holds); missing vectors and a missing BM25 folder are repaired by any run.
    ``ray_address`` (``auto`` or HOST:PORT): encode on that Ray cluster (``ingest.distributed``).
    ``prune``: also remove papers these paths held and no longer hold (``ingest.prune``; more than
    20% of the collection only with ``yes``). ``dry_run``: read, match and count, but write nothing
    (no lock, no embedding; ``report.prune`` lists what a prune would remove)."""
    started = time.perf_counter()
    report = IngestReport()
    storage.check_text_path(settings.index.path)  # before anything is read or written
    if prune and (missing := [path_text(p) for p in paths if not p.exists()]):  # a typo must not delete papers
        raise InputError(
            f"not pruning: {', '.join(missing)} does not exist (a path that cannot be read removes nothing)"
        )
    papers: list[Paper] = []
    for item in read_paths(paths):
        if isinstance(item, Skipped):
            report.skipped.append(item)
        else:
            papers.append(item)
    report.records = len(papers)
    unique, report.merged = deduplicate(papers)
    report.papers = len(unique)
    root = settings.index.path
    if repair and not paths and not (root / "manifest.json").exists() and not root.is_dir():
        raise IndexMissingError(f"no index at {settings.index.path} to repair: run `ingest PATHS` to build one")
    if not unique and not (repair and not paths):  # `ingest --repair` alone: from the index's own data
        where = ", ".join(map(path_text, paths)) or "(no paths)"
        reasons = "; ".join(f"{s.source}:{s.line or '-'}: {s.reason}" for s in report.skipped[:5])
        raise InputError(f"nothing to ingest in {where}" + (f" ({reasons})" if reasons else ""))
    dimension = embedding.MODELS[settings.embedding.model].dimension
    if dry_run:  # a reader's view of the committed index: no lock, nothing written
        exists = (root / "manifest.json").is_file()
        index = PaperIndex.open(settings) if exists else PaperIndex(root, empty_manifest(settings, dimension))
        _plan(index, unique, paths, settings, report, prune=prune, yes=True)
        index.close()
        report.duplicates = len(report.merged)
        report.seconds = time.perf_counter() - started
        return report

    with writer_lock(settings.index.path):
        storage.clear_staging(root)  # partial copies a killed or out-of-space run left: free their space first
        # a rebuild starts empty, but the committed index stays readable until the new one commits
        index = IndexWriter.open_for_write(settings, dimension, rebuild=rebuild, repair=repair)
        report.restored = index.restored
        if index.restored == "sources" and not paths:
            raise InputError(
                f"the manifest of {settings.index.path} and its backup are unreadable: give the source paths, "
                "`ingest --repair PATHS` (only what the vector store lacks is embedded)"
            )
        in_store = index.stored_papers() if index.restored == "sources" else set()
        plan = _plan(index, unique, paths, settings, report, prune=prune, yes=yes)
        try:
            _write(index, plan, settings, report, repair=repair, progress=progress, ray_address=ray_address)
        except Exception as exc:
            if not storage.is_disk_full(exc):
                raise
            needed = plan.space_needed + storage.folder_size(root / index.committed_dir) + storage.MARGIN
            index.abandon()  # this run's partial copy must not keep the disk full
            free = storage.free_space(root)
            raise storage.DiskFullError(storage.disk_full_message(root, needed, free, "this ingest")) from exc
        # recovered from the sources given: papers whose vectors are in the store but that no path held
        report.unrecovered = sorted(in_store - set(plan.new.papers))
        if index.paper_count:  # from the manifest: no record is read
            from assistant.calibrate import refresh

            changed = report.added + report.updated + report.removed
            try:
                report.calibration = refresh(
                    settings, changed, force=recalibrate or rebuild, progress=calibration_progress
                )
            except Exception as exc:
                if not storage.is_disk_full(exc):
                    raise
                raise storage.DiskFullError(
                    f"the ingest was committed, but the abstention calibration could not be written: {root} is full "
                    f"({storage.human(storage.free_space(root))} free); free some space and run `ingest --recalibrate`"
                ) from exc
    report.duplicates = len(report.merged)  # within the run and against the index
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Plan:
    """What a run will write: the staged manifest, the papers to (re-)embed, and whether anything changed."""

    new: Any
    pending: list[tuple[str, Paper, list[Chunk], list[Chunk]]]
    changed_entries: bool
    space_needed: int = 0


def _plan(
    index: PaperIndex,
    unique: list[Paper],
    paths: Sequence[Path],
    settings: Settings,
    report: IngestReport,
    *,
    prune: bool,
    yes: bool,
) -> _Plan:
    """Match this run's records to the stored papers, merge them field by field (``ingest.merge``) and
    stage the result; with ``prune``, stage the removals (``ingest.prune``), refused before anything
    is written when they exceed the share that needs ``yes``."""
    old = index.manifest
    new = old.staged()  # entries below are replaced, never mutated in place; commit writes only these
    keys = stored_keys(old.papers)
    pending: list[tuple[str, Paper, list[Chunk], list[Chunk]]] = []
    want_sentences = settings.embedding.sentence_vectors
    seen: set[str] = set()
    changed_entries = False
    matched: list[str | None] = []
    taken: set[str] = set()
    for paper in unique:  # one stored paper is matched by at most one record of this run
        pid = match_stored(paper, old.papers, keys)
        matched.append(pid if pid not in taken else None)
        if pid:
            taken.add(pid)
    free = set(old.papers) - {pid for pid in matched if pid}  # for abstracts edited in place (rule 5)
    for paper, pid in zip(unique, matched, strict=True):
        if pid is None and (pid := match_stored(paper, old.papers, keys, edited_in=free)):
            free.discard(pid)
        if pid is None:
            pid = paper.paper_id
            if pid in old.papers or pid in seen:  # that id is another paper with the same title
                pid = alternate_id(paper)
        seen.add(pid)
        entry = old.papers.get(pid)
        if entry is not None:
            merged = merge_stored(entry, paper)
            paper = merged.paper
            if merged.kept or merged.filled:
                why = merged.kept or _merge_reason(entry, merged.filled)
                report.merged.append(Merge(entry.title, paper.title, paper.source, paper.line, why))
            if not merged.text_changed:  # unchanged: nothing embedded again, no recalibration
                report.unchanged += 1
                if merged.update:
                    new.papers[pid] = new.papers[pid].model_copy(update=merged.update)
                    changed_entries = True
                if want_sentences and not entry.sentence_ids:  # stored before sentence vectors: add them
                    pending.append((pid, paper, [], sentence_units(paper, pid)))
                continue
        chunks = chunk_paper(paper, pid, settings.chunking.chunk_size, settings.chunking.chunk_overlap)
        pending.append((pid, paper, chunks, sentence_units(paper, pid) if want_sentences else []))
        if entry is None:
            report.added += 1
        else:
            report.updated += 1
    if prune:
        plan = plan_prune(old.papers, seen, paths, [s.source for s in report.skipped])
        check_share(plan, index.paper_count, paths, confirmed=yes)
        report.kept_from_damaged = plan.kept_from_damaged
        report.removed = len(plan.remove)
        report.pruned = plan.listing()
        for pid in plan.remove:
            del new.papers[pid]
        for pid, sources in plan.trim.items():
            new.papers[pid] = new.papers[pid].model_copy(update={"sources": sources})
            changed_entries = True
    return _Plan(new, pending, changed_entries)


def _write(
    index: IndexWriter,
    plan: _Plan,
    settings: Settings,
    report: IngestReport,
    *,
    repair: bool,
    progress: Progress | None,
    ray_address: str | None,
) -> None:
    """Embed what the plan needs and commit it (or tidy, when nothing changed)."""
    new, pending = plan.new, plan.pending
    all_chunks = [("chunks", c) for *_, chunks, _ in pending for c in chunks]
    all_chunks += [("sentences", s) for *_, sentences in pending for s in sentences]
    # what the manifest lists but the vector store lacks (a damaged store): re-embedded from the
    # manifest's own text, so a plain re-run repairs it and nothing else is embedded again
    stored = _stored_ids(index)  # read once: what is missing (repaired here) and what is stale (swept)
    repairs = _missing_units(new, stored, {pid for pid, _, chunks, _ in pending if chunks}, settings)
    report.repaired = len(repairs)
    all_chunks += repairs
    dimension = embedding.MODELS[settings.embedding.model].dimension
    # about what the new vectors take on disk (HNSW, Chroma's SQLite, its log), checked before copying
    index.space_wanted = plan.space_needed = sum(dimension * 12 + 3 * len(c.text) + 1024 for _, c in all_chunks)
    if all_chunks:
        index.begin()  # writes go to a copy of the committed vectors (crash safety: IndexWriter.begin)
    # a crashed run may have stored some already (in the copy it left, when that copy is sound)
    already = index.existing([(kind, c.id) for kind, c in all_chunks]) if all_chunks else set()
    # Longest first across the whole run, as one encode call would order them: batches then hold
    # texts of similar length, and little of the encoder's work goes on padding.
    to_embed = sorted((kc for kc in all_chunks if kc[1].id not in already), key=lambda kc: -len(kc[1].text))
    report.embedded = len(to_embed)
    if to_embed:
        meta = {pid: (paper.title, paper.date, paper.source) for pid, paper, *_ in pending}
        repaired = new.papers.get_many(sorted({c.paper_id for _, c in to_embed} - set(meta)))
        meta |= {pid: (e.title, e.date, e.sources[0] if e.sources else "") for pid, e in repaired.items()}
        _embed(index, to_embed, meta, settings, progress, ray_address)
    for pid, paper, chunks, sentences in pending:
        if chunks:
            entry = _entry(paper, [c.id for c in chunks], [s.id for s in sentences])
            if pid in index.manifest.papers:  # an update keeps where the paper was seen before
                entry.sources = sorted(set(index.manifest.papers[pid].sources) | set(entry.sources))
            new.papers[pid] = entry
        else:  # an unchanged paper that only gained its sentence vectors
            new.papers[pid] = new.papers[pid].model_copy(update={"sentence_ids": [s.id for s in sentences]})
    committing = pending or report.removed or plan.changed_entries or repairs or new.generation == 0 or repair
    if committing or _needs_repair(index, stored):
        index.commit(new)
    else:
        index.tidy()  # what a run killed before its commit left beside the committed state


def _embed(
    index: IndexWriter,
    to_embed: list[tuple[str, Chunk]],
    meta: dict[str, tuple[str, str | None, str]],
    settings: Settings,
    progress: Progress | None,
    ray_address: str | None,
) -> None:
    """Encode ``to_embed`` in rounds and upsert each round into the writer's store."""
    step = max(settings.embedding.batch_size * 16, 1024)  # per encode + store round (Chroma: big batches)
    model: Any
    if ray_address:  # `ingest --ray`: only the encoding moves to a Ray cluster (ingest.distributed)
        from ingest.distributed import RayEncoder

        model = RayEncoder(settings, ray_address)
    else:
        model = embedding.DocumentEncoder(
            settings.embedding.model, settings.cache, settings.embedding.backend, settings.embedding.batch_size
        )
    try:
        for start in range(0, len(to_embed), step):
            batch = to_embed[start : start + step]
            vectors = model.encode([c.text for _, c in batch])
            for kind in ("chunks", "sentences"):
                rows = [i for i, (k, _) in enumerate(batch) if k == kind]
                if rows:
                    index.upsert(
                        [batch[i][1].id for i in rows],
                        vectors[rows],
                        [batch[i][1].text for i in rows],
                        [_chunk_metadata(batch[i][1], *meta[batch[i][1].paper_id]) for i in rows],
                        kind,
                    )
            if progress:
                progress(min(start + step, len(to_embed)), len(to_embed))
    finally:
        if ray_address:
            model.close()


def _stored_ids(index: IndexWriter) -> tuple[set[str], set[str]] | None:
    """(chunk ids, sentence ids) in the store this run starts from; none when it starts empty; None
    (nothing read) when the store holds exactly as many of each as the manifest lists: then nothing
    is missing and nothing is stale, and an incremental run reads no id it does not add."""
    if index.fresh or not index.store_present():
        return set(), set()
    if (index.collection.count(), index.sentences.count()) == index.expected_counts():
        return None
    return index.stored_ids(), index.stored_ids("sentences")


def _needs_repair(index: PaperIndex, stored: tuple[set[str], set[str]] | None) -> bool:
    """A crash after upserting but before commit leaves chunks no manifest owns; sweep them."""
    bm25_ok = (index.root / f"bm25-{index.manifest.generation}" / "ids.json").is_file()
    if stored is None:
        return not bm25_ok
    chunks, sentences = stored
    return not bm25_ok or bool(chunks - set(index.owner)) or bool(sentences - set(index.sentence_owner))


def _chunk_metadata(chunk: Chunk, title: str, date: str | None, source: str) -> dict[str, Any]:
    """Chroma's metadata of one chunk: every value a str (or the int position) Chroma accepts, whatever
    bytes a file name or a record held (``ingest.paths.safe_text``)."""
    position = int(chunk.id.rsplit(":", 1)[1].lstrip("s"))
    texts = {"paper_id": chunk.paper_id, "title": title, "date": date or "", "source": source}
    return {key: safe_text(value) for key, value in texts.items()} | {"position": position}


def _missing_units(
    manifest: Any, stored: tuple[set[str], set[str]] | None, rechunked: set[str], settings: Settings
) -> list[tuple[str, Chunk]]:
    """Chunks and sentences that ``manifest`` lists (for papers this run does not re-chunk) and the
    ``stored`` ids lack (all of them when the run starts from an empty store), as ``(kind, Chunk)``
    rebuilt from the manifest (``missing_units``). ``stored`` None: the counts agree, none missing."""
    if stored is None:
        return []
    listed = {c for pid, e in manifest.papers.items() if pid not in rechunked for c in [*e.chunk_ids, *e.sentence_ids]}
    missing = listed - stored[0] - stored[1]
    if not missing:
        return []
    size, overlap = settings.chunking.chunk_size, settings.chunking.chunk_overlap
    out: list[tuple[str, Chunk]] = []
    for pid, entry in manifest.papers.items():
        if pid not in rechunked and not missing.isdisjoint([*entry.chunk_ids, *entry.sentence_ids]):
            out += missing_units(pid, entry, missing, size, overlap)
    return out


def _entry(paper: Paper, chunk_ids: list[str], sentence_ids: list[str]) -> PaperEntry:
    entry = PaperEntry(
        title=paper.title,
        abstract=paper.abstract,
        hash=paper.content_hash,
        chunk_ids=chunk_ids,
        sentence_ids=sentence_ids,
        date=paper.date,
        day=normalise_date(paper.date),
        url=paper.url or (paper.links[0] if paper.links else None),
        links=paper.links,
        authors=paper.authors,
        sources=[paper.source],
        version=paper.arxiv_version,
        arxiv_id=paper.arxiv_id,
        doi=paper.doi,
    )
    # which source gave each field the entry holds ("" where an older index did not record it)
    entry.origins = {key: paper.origins.get(key, paper.source) for key in ORIGIN_KEYS.values() if getattr(entry, key)}
    return entry


def _merge_reason(entry: PaperEntry, given: list[str]) -> str:
    """What a record gave the stored paper ``entry``: the fields it lacked ("fills") and those it had
    and a newer version (or an edit of their own file) replaced (a replaced date shown as it was)."""
    replaced = [name for name in given if getattr(entry, name)]
    filled = [name for name in given if name not in replaced]
    parts = (
        ["replaces " + ", ".join(f"date (was {entry.date})" if n == "date" else n for n in replaced)]
        if replaced
        else []
    )
    parts += ["fills " + ", ".join(filled)] if filled else []
    return " and ".join(parts) + " of the indexed paper"
