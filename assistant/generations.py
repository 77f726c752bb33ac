"""Generations: the parts of a writer's commit beside the catalog, and what it removes after it.

:func:`commit_sentences` (the sentence vectors, ``assistant.sentvec``) chooses the rows of the next
generation (the committed rows its papers still list, plus those this run staged) and writes its
``sentences-<gen>/`` folder, or keeps the committed folder when no sentence changed.
:func:`carried_counts` gives the next generation's counts from the committed ones;
:func:`remove_unreferenced` removes the folders and files no kept generation names. Called by
``assistant.writer.IndexWriter`` (commit, tidy); the folder is written before the manifest names it
(the commit point).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.catalog import PaperEntry
from assistant.chroma import NEXT_STORE, is_store
from assistant.errors import IndexError_
from assistant.manifest import BACKUP, Manifest, read_manifest
from assistant.sentvec import PendingSentences, write_generation


@dataclass(frozen=True)
class SentenceChange:
    """One commit's papers: ``changes`` (pid -> new entry, None: removed), ``before`` (their
    committed entries), ``clear`` (the next generation starts empty: a rebuild or a repair from the
    sources), ``count`` (sentence vectors the next generation lists)."""

    changes: dict[str, PaperEntry | None]
    before: dict[str, PaperEntry]
    clear: bool
    count: int


def commit_sentences(
    root: Path,
    generation: int,
    committed: str | None,
    dimension: int,
    base: Any,
    pending: PendingSentences,
    change: SentenceChange,
    listed_elsewhere: Callable[[], set[str]],
) -> str | None:
    """Name of the sentence folder of ``generation`` (None: no sentence is stored).

    ``committed``: the committed generation's folder (None for none, or an index whose sentences are
    still in Chroma); ``base``: its reader (``sentvec.SentenceFile`` or ``LegacySentences``; None when
    the run starts empty); ``listed_elsewhere()``: the sentence ids of the committed papers that
    ``change`` leaves as they are (reads the whole catalog: only when the counts disagree).
    Raises IndexError_ when rows the next generation lists are neither stored nor staged."""
    old = {s for e in change.before.values() for s in e.sentence_ids}
    new = {s for e in change.changes.values() if e is not None for s in e.sentence_ids}
    held_count = held_count_of(base)
    if pending.parts == 0 and not change.clear and committed and old == new and held_count == change.count:
        return committed  # nothing to write: the committed folder serves
    held = set(base.ids()) if base is not None and held_count else set()
    keep = held - (old - new)
    if len(keep | pending.known) != change.count:  # rows no paper lists (a killed run's, a repair's)
        listed = new | (set() if change.clear else listed_elsewhere())
        keep &= listed
        if len(keep | pending.known) != change.count:
            raise IndexError_(
                f"the sentence vectors of {root} hold {len(keep | pending.known)} where the index lists "
                f"{change.count}: repair the index with `ingest --repair`"
            )
    if not change.count:
        return None
    name = f"sentences-{generation}"
    write_generation(root / name, base, keep, pending, dimension)
    pending.discard()
    return name


def held_count_of(base: Any) -> int:
    """Rows ``base`` (a sentence reader, or None) holds: 0 when they are missing or damaged."""
    if base is None:
        return 0
    try:
        return int(base.count())
    except IndexError_:
        return 0  # missing or damaged: every row is re-embedded (apply) and staged


def carried_counts(
    committed: Manifest, changes: dict[str, PaperEntry | None], before: dict[str, PaperEntry], clear: bool
) -> tuple[int, int, int]:
    """(papers, chunks, sentence vectors) after ``changes``, from the ``committed`` manifest's counts."""
    if clear or committed.version < 2:
        papers = chunks = sentences = 0
    else:
        papers, chunks, sentences = committed.paper_count, committed.chunk_count, committed.sentence_count
    for pid, entry in changes.items():
        if (old := before.get(pid)) is not None:
            papers, chunks, sentences = papers - 1, chunks - len(old.chunk_ids), sentences - len(old.sentence_ids)
        if entry is not None:
            papers, chunks = papers + 1, chunks + len(entry.chunk_ids)
            sentences += len(entry.sentence_ids)
    return papers, chunks, sentences


def newest_on_disk(root: Path) -> int:
    """The highest generation a folder under ``root`` is named for (``chroma-``, ``bm25-``,
    ``sentences-<gen>``), 0 for none: a repair from the sources commits above every one of them."""
    found = (re.match(r"(?:chroma|bm25|sentences)-(\d+)", p.name) for p in root.iterdir())
    return max((int(m[1]) for m in found if m), default=0)


def on_disk_sentences(root: Path) -> str | None:
    """The sentence folder the manifest on disk names (None when it names none or is unreadable)."""
    try:
        return read_manifest(root / "manifest.json").sentence_dir
    except IndexError_:
        return None


def remove_unreferenced(root: Path, manifest: Manifest) -> None:
    """Remove from ``root`` what the committed ``manifest`` does not keep: BM25 folders, vector stores
    (bases and deltas) and sentence folders that neither it nor the previous generation lists, and the temporary files a
    killed run left (only names this project writes; staged ``*.tmp`` folders are
    ``storage.clear_staging``'s). Call with the writer lock held."""
    (root / NEXT_STORE).unlink(missing_ok=True)
    for leftover in ("manifest.json.tmp", BACKUP + ".tmp", NEXT_STORE + ".tmp"):
        (root / leftover).unlink(missing_ok=True)
    generation = manifest.generation
    keep_bm25 = {f"bm25-{generation}", f"bm25-{generation - 1}"}
    for folder in root.glob("bm25-*"):
        if folder.name not in keep_bm25:
            shutil.rmtree(folder, ignore_errors=True)
    keep = manifest.kept_stores()
    for folder in root.iterdir():
        if folder.is_dir() and is_store(folder.name) and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    keep_sentences = {manifest.sentence_dir, manifest.previous_sentence_dir}
    for folder in root.glob("sentences-*"):
        if folder.is_dir() and folder.suffix != ".tmp" and folder.name not in keep_sentences:
            shutil.rmtree(folder, ignore_errors=True)
