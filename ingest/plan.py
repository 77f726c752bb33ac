"""Plan: what an ingest run does to the index, decided before anything is chunked, embedded or written.

:func:`plan` is pure: from the records a run read (``ingest.readers``: each a ``Paper`` or a
``Skipped``) and the stored papers (id -> ``PaperEntry``: a writer's ``PaperTable`` or a plain dict)
it identifies the run's papers (``ingest.identity``: the records of one paper merged into one, each
paper matched to the stored paper it is or given a new id), merges each matched one into its stored
entry field by field (``ingest.merge``) and, for ``--prune``, finds the stored papers the given
paths no longer hold (``ingest.prune``). Nothing is read from the vector store and no model is
loaded; ``ingest.apply`` carries the plan out.

Every paper of the run lands in exactly one of :attr:`Plan.add` (new to the index),
:attr:`Plan.update` (a stored paper whose title or abstract changed: re-chunked and re-embedded)
and :attr:`Plan.keep` (a stored paper whose text did not change: nothing embedded again, though its
metadata may be filled in). Nothing is removed unless ``prune_under`` is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.catalog import PaperEntry
from ingest.identity import Merge, alternate_id, deduplicate, match_stored, stored_keys
from ingest.merge import merge_stored
from ingest.paths import source_file
from ingest.prune import Remove, plan_prune
from ingest.records import Paper, Skipped


@dataclass(frozen=True)
class Add:
    """A paper new to the index: its id, its record (the run's records of it merged), and
    ``position``, its place among the run's papers (``ingest.apply`` embeds in that order)."""

    pid: str
    paper: Paper
    position: int


@dataclass(frozen=True)
class Update:
    """A stored paper whose title or abstract this run changes: ``paper`` is the record merged into
    ``stored`` (its entry now); it is chunked and embedded again and keeps ``stored.sources``."""

    pid: str
    paper: Paper
    stored: PaperEntry
    position: int


@dataclass(frozen=True)
class Keep:
    """A stored paper whose text this run does not change: nothing is embedded again for it.

    ``changes``: the field values its entry takes (metadata the record filled or replaced, its
    sources; ``{}``: none); ``sentences``: it was stored without sentence vectors, and gets them."""

    pid: str
    paper: Paper
    changes: dict[str, Any]
    sentences: bool
    position: int


@dataclass
class Plan:
    """What one ingest run does (see the module docstring).

    ``records``: paper records read (skipped ones not counted); ``add``, ``update``, ``keep``: the
    run's papers, each in record order; ``remove``: stored papers ``--prune`` removes (id order);
    ``trim``: stored papers ``--prune`` keeps with fewer sources (id -> the sources kept);
    ``kept_from_damaged``: papers ``--prune`` keeps because a file of theirs could not be read whole;
    ``merges``: records folded into another (within the run first, then into stored papers);
    ``skipped``: records not ingested, each naming its file, line and reason;
    ``sentence_vectors``: whether papers get sentence vectors (``embedding.sentence_vectors``)."""

    records: int = 0
    add: list[Add] = field(default_factory=list)
    update: list[Update] = field(default_factory=list)
    keep: list[Keep] = field(default_factory=list)
    remove: list[Remove] = field(default_factory=list)
    trim: dict[str, list[str]] = field(default_factory=dict)
    kept_from_damaged: int = 0
    merges: list[Merge] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    sentence_vectors: bool = True

    @property
    def papers(self) -> int:
        """The run's papers: its records once merged."""
        return len(self.add) + len(self.update) + len(self.keep)

    def to_embed(self) -> list[Add | Update | Keep]:
        """What gets new vectors, in the run's order: every add and update (chunks, and sentences
        when ``sentence_vectors``), and the kept papers that only gain their sentence vectors."""
        kept = [k for k in self.keep if k.sentences]
        return sorted([*self.add, *self.update, *kept], key=lambda item: item.position)

    @property
    def entries_changed(self) -> bool:
        """Stored entries change without new vectors: metadata filled in, or sources trimmed."""
        return bool(self.trim) or any(k.changes for k in self.keep)

    @property
    def changed(self) -> int:
        """Papers added, updated or removed: what the abstention calibration counts as a change."""
        return len(self.add) + len(self.update) + len(self.remove)


def plan(
    records: Iterable[Paper | Skipped],
    stored: Mapping[str, PaperEntry],
    *,
    sentence_vectors: bool = True,
    prune_under: Sequence[Path] | None = None,
    root: Path | None = None,
) -> Plan:
    """The :class:`Plan` of ingesting ``records`` into an index holding ``stored`` (id -> entry;
    a ``PaperTable`` is queried by its SQLite indexes, a dict is read whole). ``prune_under``: the
    paths the run read, for ``--prune`` (None: nothing is removed). ``root``: the index, against which
    sources stored relative to it (``ingest.paths.index_source``) are resolved. Reads no file and writes
    nothing; raises nothing of its own (a catalog that cannot be read raises ``IndexError_``)."""
    papers: list[Paper] = []
    result = Plan(sentence_vectors=sentence_vectors)
    for item in records:
        if isinstance(item, Skipped):
            result.skipped.append(item)
        else:
            papers.append(item)
    result.records = len(papers)
    unique, result.merges = deduplicate(papers)
    ids = identify(unique, stored)
    for position, (paper, pid) in enumerate(zip(unique, ids, strict=True)):
        entry = stored.get(pid)
        if entry is None:
            result.add.append(Add(pid, paper, position))
            continue
        merged = merge_stored(entry, paper)
        if merged.kept or merged.filled:
            why = merged.kept or _merge_reason(entry, merged.filled)
            result.merges.append(Merge(entry.title, merged.paper.title, merged.paper.source, merged.paper.line, why))
        if merged.text_changed:
            result.update.append(Update(pid, merged.paper, entry, position))
        else:
            gains = sentence_vectors and not entry.sentence_ids  # stored before sentence vectors: add them
            result.keep.append(Keep(pid, merged.paper, merged.update, gains, position))
    if prune_under is not None:
        pruned = plan_prune(stored, set(ids), prune_under, [s.source for s in result.skipped], root)
        result.remove, result.trim, result.kept_from_damaged = pruned.remove, pruned.trim, pruned.kept_from_damaged
    if root is not None:  # as shown: a source relative to the index names its file where the index is now
        result.merges = [replace(m, source=source_file(m.source, root)) for m in result.merges]
    return result


def identify(unique: Sequence[Paper], stored: Mapping[str, PaperEntry]) -> list[str]:
    """The id of each of ``unique`` (one record per paper): the stored paper it is (rules 1-2 of
    ``ingest.identity``, then rule 5 for abstracts edited in place), else a new id. A stored paper
    is matched by at most one record; a new paper whose id is taken gets ``alternate_id``."""
    keys = stored_keys(stored)
    matched: list[str | None] = []
    taken: set[str] = set()
    for paper in unique:
        pid = match_stored(paper, stored, keys)
        matched.append(pid if pid not in taken else None)
        if pid:
            taken.add(pid)
    free = set(stored) - {pid for pid in matched if pid}  # for abstracts edited in place (rule 5)
    ids: list[str] = []
    seen: set[str] = set()
    for paper, pid in zip(unique, matched, strict=True):
        if pid is None and (pid := match_stored(paper, stored, keys, edited_in=free)):
            free.discard(pid)
        if pid is None:
            pid = paper.paper_id
            if pid in stored or pid in seen:  # that id is another paper with the same title
                pid = alternate_id(paper)
        seen.add(pid)
        ids.append(pid)
    return ids


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
