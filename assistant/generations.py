"""Generations: the parts of a writer's commit beside the catalog, and what it removes after it.

:func:`commit_sentences` (the sentence vectors, ``assistant.sentvec``, ``assistant.sentsegments``)
writes the rows this run staged as one new delta folder ``sentences-<gen>-delta/`` beside the
committed base and deltas, which it never writes again; or, at a compaction (the chunks' own, or
``segments.compaction_due`` on the sentence folders), a rebuild, a lost folder or an index whose
sentences are still in Chroma, one new base ``sentences-<gen>/`` of the rows the next generation
lists; or nothing, when no sentence changed. :func:`carried_counts` gives the next generation's
counts from the committed ones; :func:`remove_unreferenced` removes the folders and files no kept
generation names. Called by ``assistant.writer.IndexWriter`` (commit, tidy); every folder is
written (as ``*.tmp``, then renamed) before the manifest names it (the commit point).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from assistant.catalog import PaperEntry
from assistant.chroma import NEXT_STORE, is_store
from assistant.errors import IndexError_
from assistant.manifest import BACKUP, Manifest, read_manifest
from assistant.segments import compaction_due
from assistant.sentsegments import SentenceSegments, delta_folder, is_sentence_folder
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

    @cached_property
    def old(self) -> set[str]:
        """The sentence ids the changed papers listed before this commit."""
        return {s for e in self.before.values() for s in e.sentence_ids}

    @cached_property
    def new(self) -> set[str]:
        """The sentence ids the changed papers list after it."""
        return {s for e in self.changes.values() if e is not None for s in e.sentence_ids}


@dataclass(frozen=True)
class SentenceFolders:
    """Where a generation's sentence vectors are (the manifest's ``sentence_dir``,
    ``sentence_deltas``, ``sentence_garbage``): ``base`` None when none is stored (or an index whose
    sentences are still in Chroma), ``deltas`` oldest first, ``garbage`` rows stored beyond the count."""

    base: str | None
    deltas: list[str] = field(default_factory=list)
    garbage: int = 0

    def fields(self, committed: str | None, committed_deltas: list[str]) -> dict[str, Any]:
        """The manifest's sentence fields for these folders, where ``committed`` (and its
        ``committed_deltas``) were the committed generation's: kept as the previous generation's
        when this is a new base (a reader may still use them), else nothing more is kept."""
        new_base = committed != self.base
        return {
            "sentence_dir": self.base,
            "sentence_deltas": list(self.deltas),
            "sentence_garbage": self.garbage,
            "previous_sentence_dir": committed if new_base else None,
            "previous_sentence_deltas": list(committed_deltas) if new_base else [],
        }


def commit_sentences(
    root: Path,
    generation: int,
    committed: SentenceFolders,
    dimension: int,
    base: Any,
    pending: PendingSentences,
    change: SentenceChange,
    listed_elsewhere: Callable[[], set[str]],
    *,
    compact: bool = False,
) -> SentenceFolders:
    """The sentence folders of ``generation``, written here (before the manifest names them).

    ``committed``: the committed generation's folders; ``base``: their reader
    (``sentsegments.SentenceSegments``, ``sentvec.LegacySentences``, or None when the run starts
    empty); ``listed_elsewhere()``: the sentence ids of the committed papers that ``change`` leaves
    as they are (reads the whole catalog: only at a compaction or when the counts disagree);
    ``compact``: write a new base (the chunks are compacted too). A delta holds exactly the staged
    rows; a new base the listed rows of ``base`` and the staged ones. Raises IndexError_ (naming
    ``ingest --repair``) when rows the next generation lists are neither stored nor staged."""
    old, new, staged = change.old, change.new, set(pending.known)
    segmented = isinstance(base, SentenceSegments) and committed.base is not None and bool(base.parts)
    if segmented and not change.clear and not base.lost:
        tidy = len(base.parts) > 1 or base.garbage > 0 or bool(old - new)  # a compaction would drop something
        if not (tidy and (compact or compaction_due(base, len(base.parts) - 1))):
            return _add_delta(root, generation, committed, dimension, base, pending, change, listed_elsewhere)
    held = _held_ids(base)
    keep = held - (old - new)
    if len(keep | staged) != change.count:  # rows no paper lists (garbage, a killed run's, a repair's)
        listed = new | (set() if change.clear else listed_elsewhere())
        keep &= listed
        if len(keep | staged) != change.count:
            raise _lost(root, len(keep | staged), change.count)
    if not change.count:
        pending.discard()
        return SentenceFolders(None)
    name = f"sentences-{generation}"
    written = write_generation(root / name, base, keep, pending, dimension)
    pending.discard()
    return SentenceFolders(name, [], written - change.count)


def _add_delta(
    root: Path,
    generation: int,
    committed: SentenceFolders,
    dimension: int,
    base: SentenceSegments,
    pending: PendingSentences,
    change: SentenceChange,
    listed_elsewhere: Callable[[], set[str]],
) -> SentenceFolders:
    """``commit_sentences`` without a compaction: the committed folders plus, when this run staged
    rows, a delta of them. Checks by counts (the committed rows are whole when the stored rows minus
    the garbage are the committed count) and the changed papers' ids, else every listed id."""
    old, new, staged = change.old, change.new, set(pending.known)
    whole = held_count_of(base) == change.count - len(new) + len(old)
    if pending.parts == 0 and old == new and whole:
        return committed  # nothing to write: the committed folders serve
    need = sorted(new - old - staged)  # a paper listing its ids again may find them kept as garbage
    if not (whole and len(base.rows(need)) == len(need)):
        listed = new | listed_elsewhere()
        have = set(base.rows(sorted(listed))) | (staged & listed)
        if len(have) != change.count:
            raise _lost(root, len(have), change.count)
    if not change.count:
        pending.discard()
        return SentenceFolders(None)
    deltas, added = list(committed.deltas), 0
    if pending.parts:
        name = delta_folder(generation)
        added = write_generation(root / name, None, [], pending, dimension)
        deltas.append(name)
    pending.discard()
    return SentenceFolders(committed.base, deltas, base.stored() + added - change.count)


def _lost(root: Path, have: int, want: int) -> IndexError_:
    return IndexError_(
        f"the sentence vectors of {root} hold {have} where the index lists {want}: repair the index "
        "with `ingest --repair`"
    )


def _held_ids(base: Any) -> set[str]:
    """Every id ``base`` (a sentence reader, or None) holds, garbage included; none when damaged."""
    if base is None:
        return set()
    try:
        return set(base.ids())
    except IndexError_:
        return set()


def held_count_of(base: Any) -> int:
    """Rows ``base`` (a sentence reader, or None) shows: 0 when they are missing or damaged."""
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


def remove_unnamed_sentences(root: Path, generation: int, committed: set[str | None]) -> None:
    """After a failed write: remove the sentence folders the commit of ``generation + 1`` wrote (base
    or delta), unless the manifest on disk or ``committed`` names them."""
    try:
        named = read_manifest(root / "manifest.json").kept_sentences() | committed
    except IndexError_:
        named = committed
    for mine in (f"sentences-{generation + 1}", delta_folder(generation + 1)):
        if mine not in named:
            shutil.rmtree(root / mine, ignore_errors=True)


def remove_unreferenced(root: Path, manifest: Manifest) -> None:
    """Remove from ``root`` what the committed ``manifest`` does not keep: BM25 folders, vector stores
    and sentence folders (bases and deltas) that neither it nor the previous generation lists, and the temporary files a
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
    keep_sentences = manifest.kept_sentences()
    for folder in root.glob("sentences-*"):
        if folder.is_dir() and is_sentence_folder(folder.name) and folder.name not in keep_sentences:
            shutil.rmtree(folder, ignore_errors=True)
