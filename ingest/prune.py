"""``ingest PATHS --prune``: remove the indexed papers that the given paths held and no longer hold.

A paper is removed only when every source it was recorded from lies under one of the paths given
(a file given itself, or any file below a folder given) and this run did not find it there. So:

* papers from sources the run was not given are never touched (a prune of ``new.jsonl`` cannot
  remove what ``data/`` or a one-off download brought in);
* a paper also recorded from another, not given source stays; the given source that no longer
  holds it is dropped from its sources (so pruning that other source later removes it);
* a paper whose file could not be read whole this time (missing, unreadable, a damaged record)
  stays (``kept_from_damaged``);
* a run that would remove more than :data:`CONFIRM_SHARE` of the committed collection (20%) is
  refused unless confirmed (``--yes``); ``--dry-run`` lists what it would remove and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.catalog import PaperEntry, PaperTable
from assistant.errors import InputError
from ingest.paths import file_of, is_under, path_text, source_file

CONFIRM_SHARE = 0.20  # a prune removing more than this share of the committed papers needs --yes
EXAMPLES = 5  # papers named in a refusal


@dataclass(frozen=True)
class Remove:
    """A stored paper ``--prune`` removes: its id, its title and every source it was recorded from."""

    pid: str
    title: str
    sources: list[str]

    def as_dict(self) -> dict[str, object]:
        """As ``--dry-run`` and ``--json`` list it: ``{"id", "title", "sources"}``."""
        return {"id": self.pid, "title": self.title, "sources": self.sources}


@dataclass
class PrunePlan:
    """What ``--prune`` does: ``remove`` (in id order); ``trim`` (paper id -> the sources it keeps, a
    given one that no longer holds it dropped); ``kept_from_damaged``: papers kept because a file
    they came from could not be read whole this run."""

    remove: list[Remove] = field(default_factory=list)
    trim: dict[str, list[str]] = field(default_factory=dict)
    kept_from_damaged: int = 0


def roots_of(paths: Sequence[Path]) -> list[str]:
    """The given paths as sources are recorded (``ingest.paths.path_text``)."""
    return [path_text(p) for p in paths]


def plan_prune(
    stored: Mapping[str, PaperEntry],
    seen: set[str],
    paths: Sequence[Path],
    damaged: Iterable[str],
    root: Path | None = None,
) -> PrunePlan:
    """Which of the ``stored`` papers (those this run did not find: not in ``seen``) go, given the run
    read ``paths`` and could not read the sources in ``damaged`` whole. ``stored``: id -> entry, a
    catalog's ``PaperTable`` (read 500 entries per query) or a plain dict. ``root``: the index, against
    which sources stored relative to it (``fetched/...``) are resolved; a Remove lists them so resolved."""
    roots = roots_of(paths)
    unread = [file_of(source) for source in damaged]  # files, and folders that could not be listed
    plan = PrunePlan()
    unseen = sorted(set(stored) - seen)
    for start in range(0, len(unseen), 500):
        for pid, entry in sorted(_entries(stored, unseen[start : start + 500]).items()):
            where = {s: source_file(s, root) if root is not None else s for s in entry.sources}
            given = [s for s in entry.sources if is_under(where[s], roots)]
            if not given:
                continue  # from sources this run was not given: never touched
            if any(is_under(where[source], unread) for source in given):
                plan.kept_from_damaged += 1
                continue
            others = [s for s in entry.sources if s not in given]
            if others:
                plan.trim[pid] = others
            else:
                plan.remove.append(Remove(pid, entry.title, [where[s] for s in entry.sources]))
    return plan


def _entries(stored: Mapping[str, PaperEntry], ids: list[str]) -> dict[str, PaperEntry]:
    """The entries of those of ``ids`` that ``stored`` holds: one query where it is a catalog's table."""
    if isinstance(stored, PaperTable):
        return stored.get_many(ids)
    return {pid: stored[pid] for pid in ids if pid in stored}


def check_share(remove: Sequence[Remove], committed: int, paths: Sequence[Path], *, confirmed: bool) -> None:
    """Raise InputError when ``remove`` holds more than :data:`CONFIRM_SHARE` of the ``committed``
    papers and the user did not confirm it (nothing has been written yet)."""
    count = len(remove)
    if confirmed or not count or not committed or count <= CONFIRM_SHARE * committed:
        return
    named = "; ".join(repr(r.title[:60]) for r in remove[:EXAMPLES])
    raise InputError(
        f"not pruning: this run would remove {count} of {committed} indexed papers ({count / committed:.0%}, more "
        f"than {CONFIRM_SHARE:.0%}) that {', '.join(roots_of(paths))} no longer hold(s), e.g. {named}; list them "
        "with `--dry-run`, or confirm with `--yes`"
    )
