"""Ingest: read the paths (``ingest.readers``), plan what changes (``ingest.plan``: identify, merge,
prune; pure), then apply the plan (``ingest.apply``: chunk, embed what the store lacks, commit BM25,
catalog and manifest), all under the index's writer lock; then refresh the abstention calibration."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import embedding, storage
from assistant.errors import IndexMissingError, InputError
from assistant.manifest import empty_manifest
from assistant.settings import Settings
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.apply import Applied, Encoder, Progress, apply
from ingest.identity import Merge
from ingest.lock import writer_lock
from ingest.paths import index_source, path_text
from ingest.plan import Plan, plan
from ingest.prune import check_share
from ingest.readers import read_paths
from ingest.records import Paper, Skipped

__all__ = ["IngestReport", "Progress", "progress_bar", "run_ingest"]


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
    """What one ``run_ingest`` did (or, with ``dry_run``, would do): the plan's counts (``ingest.plan``),
    what was embedded and repaired, recovery, the calibration's summary; ``as_dict()`` for ``--json``."""

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
    (no lock, no embedding; ``report.pruned`` lists what a prune would remove).

    Raises InputError (nothing to ingest, a missing path to prune, a prune that needs ``yes``),
    IndexMissingError / IndexError_ (no index to repair, a damaged or mismatched one) and
    ``storage.DiskFullError`` (the disk filled: nothing committed, this run's partial copy removed)."""
    started = time.perf_counter()
    storage.check_text_path(settings.index.path)  # before anything is read or written
    if prune and (missing := [path_text(p) for p in paths if not p.exists()]):  # a typo must not delete papers
        raise InputError(
            f"not pruning: {', '.join(missing)} does not exist (a path that cannot be read removes nothing)"
        )
    root = settings.index.path
    records = [_in_index(r, root) for r in read_paths(paths)]
    _check_input(records, paths, settings, repair=repair)
    dimension = embedding.MODELS[settings.embedding.model].dimension
    sentences, prune_under = settings.embedding.sentence_vectors, paths if prune else None
    if dry_run:  # a reader's view of the committed index: no lock, nothing written
        exists = (root / "manifest.json").is_file()
        index = PaperIndex.open(settings) if exists else PaperIndex(root, empty_manifest(settings, dimension))
        try:
            report = _report(
                plan(records, index.manifest.papers, sentence_vectors=sentences, prune_under=prune_under, root=root)
            )
        finally:
            index.close()
        report.duplicates = len(report.merged)
        report.seconds = time.perf_counter() - started
        return report

    with writer_lock(root):
        storage.clear_staging(root)  # partial copies a killed or out-of-space run left: free their space first
        # a rebuild starts empty, but the committed index stays readable until the new one commits
        writer = IndexWriter.open_for_write(settings, dimension, rebuild=rebuild, repair=repair)
        if writer.restored == "sources" and not paths:
            raise InputError(
                f"the manifest of {root} and its backup are unreadable: give the source paths, "
                "`ingest --repair PATHS` (only what the vector store lacks is embedded)"
            )
        in_store = writer.stored_papers() if writer.restored == "sources" else set()
        planned = plan(records, writer.manifest.papers, sentence_vectors=sentences, prune_under=prune_under, root=root)
        if prune:  # refused before anything is written
            check_share(planned.remove, writer.paper_count, paths, confirmed=yes)
        report = _report(planned)
        report.restored = writer.restored
        applied = _apply(planned, writer, settings, repair=repair, progress=progress, ray_address=ray_address)
        report.embedded, report.repaired = applied.embedded, applied.repaired
        # recovered from the sources given: papers whose vectors are in the store but that no path held
        report.unrecovered = sorted(in_store - set(applied.manifest.papers))
        if writer.paper_count:  # from the manifest: no record is read
            report.calibration = _recalibrate(
                settings, planned.changed, force=recalibrate or rebuild, progress=calibration_progress
            )
    report.duplicates = len(report.merged)  # within the run and against the index
    report.seconds = time.perf_counter() - started
    return report


def _in_index(record: Paper | Skipped, root: Path) -> Paper | Skipped:
    """A paper read from the index's own ``fetched/`` responses names them relative to the index
    (``ingest.paths.index_source``); skipped records are shown at once, as read."""
    if isinstance(record, Paper):
        record.source = index_source(record.source, root)
    return record


def _check_input(records: list[Paper | Skipped], paths: Sequence[Path], settings: Settings, *, repair: bool) -> None:
    """Refuse a run with nothing to do: ``--repair`` alone without an index (IndexMissingError), or no
    record read from ``paths`` (InputError naming the first skipped records' reasons); ``ingest
    --repair`` alone works from the index's own data."""
    root = settings.index.path
    if repair and not paths and not (root / "manifest.json").exists() and not root.is_dir():
        raise IndexMissingError(f"no index at {root} to repair: run `ingest PATHS` to build one")
    if not any(isinstance(r, Paper) for r in records) and not (repair and not paths):
        where = ", ".join(map(path_text, paths)) or "(no paths)"
        skipped = [r for r in records if isinstance(r, Skipped)]
        reasons = "; ".join(f"{s.where}: {s.reason}" for s in skipped[:5])
        raise InputError(f"nothing to ingest in {where}" + (f" ({reasons})" if reasons else ""))


def _report(planned: Plan) -> IngestReport:
    """The counts of a plan, as the report shows them (before anything is applied)."""
    return IngestReport(
        records=planned.records,
        papers=planned.papers,
        added=len(planned.add),
        updated=len(planned.update),
        unchanged=len(planned.keep),
        removed=len(planned.remove),
        kept_from_damaged=planned.kept_from_damaged,
        pruned=[r.as_dict() for r in planned.remove],
        skipped=planned.skipped,
        merged=planned.merges,
    )


def _apply(
    planned: Plan,
    writer: IndexWriter,
    settings: Settings,
    *,
    repair: bool,
    progress: Progress | None,
    ray_address: str | None,
) -> Applied:
    """``ingest.apply.apply`` with this run's encoder; a disk that fills is one DiskFullError saying
    how much space the run needs, after this run's partial copy is removed (nothing committed)."""

    def encoder() -> Encoder:
        if ray_address:  # `ingest --ray`: only the encoding moves to a Ray cluster (ingest.distributed)
            from ingest.distributed import RayEncoder

            return RayEncoder(settings, ray_address)
        model = settings.embedding
        return embedding.DocumentEncoder(model.model, settings.cache, model.backend, model.batch_size)

    try:
        return apply(planned, writer, encoder, settings, repair=repair, progress=progress)
    except Exception as exc:
        if not storage.is_disk_full(exc):
            raise
        root = settings.index.path
        copied = storage.folder_size(root / writer.committed_dir) if writer.copying else 0  # a delta copies nothing
        needed = writer.space_wanted + copied + storage.MARGIN
        writer.abandon()  # this run's partial delta or copy must not keep the disk full
        free = storage.free_space(root)
        raise storage.DiskFullError(storage.disk_full_message(root, needed, free, "this ingest")) from exc


def _recalibrate(settings: Settings, changed: int, *, force: bool, progress: Progress | None) -> dict[str, Any]:
    """``assistant.calibrate.refresh``'s summary; a full disk is one DiskFullError (the ingest itself
    was committed: ``ingest --recalibrate`` writes the calibration later)."""
    from assistant.calibrate import refresh

    try:
        return refresh(settings, changed, force=force, progress=progress)
    except Exception as exc:
        if not storage.is_disk_full(exc):
            raise
        root = settings.index.path
        raise storage.DiskFullError(
            f"the ingest was committed, but the abstention calibration could not be written: {root} is full "
            f"({storage.human(storage.free_space(root))} free); free some space and run `ingest --recalibrate`"
        ) from exc
