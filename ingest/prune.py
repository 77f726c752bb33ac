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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import InputError
from ingest.paths import file_of, is_under, path_text

if TYPE_CHECKING:
    from assistant.catalog import PaperTable

CONFIRM_SHARE = 0.20  # a prune removing more than this share of the committed papers needs --yes
EXAMPLES = 5  # papers named in a refusal


@dataclass
class PrunePlan:
    """What ``--prune`` does: ``remove`` (paper id -> (title, sources)); ``trim`` (paper id -> the
    sources it keeps, a given one that no longer holds it dropped); ``kept_from_damaged``: papers
    kept because a file they came from could not be read whole this run."""

    remove: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    trim: dict[str, list[str]] = field(default_factory=dict)
    kept_from_damaged: int = 0

    def listing(self) -> list[dict[str, object]]:
        """The papers to remove, for ``--dry-run`` and ``--json``: id, title, sources."""
        return [{"id": pid, "title": title, "sources": sources} for pid, (title, sources) in self.remove.items()]


def roots_of(paths: Sequence[Path]) -> list[str]:
    """The given paths as sources are recorded (``ingest.paths.path_text``)."""
    return [path_text(p) for p in paths]


def plan_prune(stored: PaperTable, seen: set[str], paths: Sequence[Path], damaged: Iterable[str]) -> PrunePlan:
    """Which of the ``stored`` papers (those this run did not find: not in ``seen``) go, given the run
    read ``paths`` and could not read the sources in ``damaged`` whole."""
    roots = roots_of(paths)
    unread = [file_of(source) for source in damaged]  # files, and folders that could not be listed
    plan = PrunePlan()
    unseen = sorted(set(stored) - seen)
    for start in range(0, len(unseen), 500):
        for pid, entry in sorted(stored.get_many(unseen[start : start + 500]).items()):
            given = [s for s in entry.sources if is_under(s, roots)]
            if not given:
                continue  # from sources this run was not given: never touched
            if any(is_under(source, unread) for source in given):
                plan.kept_from_damaged += 1
                continue
            others = [s for s in entry.sources if s not in given]
            if others:
                plan.trim[pid] = others
            else:
                plan.remove[pid] = (entry.title, list(entry.sources))
    return plan


def check_share(plan: PrunePlan, committed: int, paths: Sequence[Path], *, confirmed: bool) -> None:
    """Raise InputError when the plan removes more than :data:`CONFIRM_SHARE` of the ``committed``
    papers and the user did not confirm it (nothing has been written yet)."""
    count = len(plan.remove)
    if confirmed or not count or not committed or count <= CONFIRM_SHARE * committed:
        return
    named = "; ".join(repr(title[:60]) for title, _ in list(plan.remove.values())[:EXAMPLES])
    raise InputError(
        f"not pruning: this run would remove {count} of {committed} indexed papers ({count / committed:.0%}, more "
        f"than {CONFIRM_SHARE:.0%}) that {', '.join(roots_of(paths))} no longer hold(s), e.g. {named}; list them "
        "with `--dry-run`, or confirm with `--yes`"
    )
