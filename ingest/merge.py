"""Merge: what an indexed paper becomes when another record of it arrives, field by field.

Rule 3 of docs/ingest.md ("What counts as one paper"), against the index:

* **A newer arXiv version wins whole**: every field it carries replaces the stored one (title,
  abstract, date, url, authors, links) and its version is stored. What it does not carry is kept
  (a Daily Papers page date is not erased by an Atom entry without one).
* **An older version never replaces anything**: the stored paper stays as it is; only the file the
  record came from is added to its sources.
* **Otherwise the stored record is kept** and the new one only fills what it lacks (date, url,
  authors, links, arXiv id, DOI), with two exceptions for the text: an abstract the stored one is a
  truncation of replaces it (a feed that truncates loses to one that does not), and a field whose
  recorded origin is the file this record comes from takes the record's value (the user edited
  that file; rule 5), unless the new abstract is only a truncation of the stored one.

Dates are never erased: a record without a date keeps the stored one, whatever its rule.
Each stored paper records which source gave which field (``PaperEntry.origins``); a paper stored
before origins were kept counts every field as coming from each of its sources.

A record that changes neither title nor abstract is *unchanged* (nothing is embedded again and the
abstention calibration is not refitted), even when it fills metadata the stored paper lacked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from assistant.dates import normalise_date
from ingest.identity import abstracts_agree, same_file
from ingest.paths import FETCHED

if TYPE_CHECKING:
    from assistant.catalog import PaperEntry
    from ingest.records import Paper

# fields of a record, by their name on Paper; PaperEntry stores ``arxiv_version`` as ``version``
FIELDS = ("title", "abstract", "date", "url", "authors", "links", "arxiv_id", "doi")
TEXT = ("title", "abstract")
# Paper attribute -> its key in PaperEntry.origins (and Paper.origins)
ORIGIN_KEYS = {**{name: name for name in FIELDS}, "arxiv_version": "version"}


@dataclass
class Merged:
    """What a record does to the stored paper it matched.

    ``paper``: the merged record (the stored text unless ``text_changed``); ``update``: the stored
    entry's new field values when only metadata changed (``{}``: nothing); ``filled``: the fields
    this record gave; ``kept``: why the stored paper stayed as it was although the record differs
    (for the merge report), or ""."""

    paper: Paper
    text_changed: bool
    update: dict[str, Any] = field(default_factory=dict)
    filled: list[str] = field(default_factory=list)
    kept: str = ""


def origins_of(entry: PaperEntry) -> dict[str, list[str]]:
    """Which sources may have given each field of a stored paper: the one recorded, else (a paper
    stored before origins were kept) any of its sources."""
    return {name: [entry.origins[name]] if entry.origins.get(name) else list(entry.sources) for name in FIELDS}


def merge_stored(entry: PaperEntry, paper: Paper) -> Merged:
    """The stored paper ``entry`` after another record of it, ``paper`` (see the module docstring)."""
    stored = _stored_values(entry)
    mine = {name: getattr(paper, name) for name in FIELDS}
    # what is known of where the stored fields came from: recorded, or the only source of an older entry
    known = entry.sources[0] if len(entry.sources) == 1 else ""  # "": not known (recorded as such)
    origins = {n: entry.origins.get(n, known) for n in FIELDS if stored[n]} | dict(entry.origins)
    merged, filled, kept = dict(stored), [], ""
    version = entry.version
    newer = bool(paper.arxiv_version and entry.version and paper.arxiv_version > entry.version)
    older = bool(paper.arxiv_version and entry.version and paper.arxiv_version < entry.version)
    if older:
        kept = f"an older version (v{paper.arxiv_version}) of the indexed v{entry.version}"
    else:
        truncated = _truncation_of(paper.abstract, entry.abstract)
        edited = origins_of(entry)
        for name in FIELDS:
            value = mine[name]
            if not value or value == stored[name]:
                continue
            from_here = same_file(paper.source, edited.get(name, []))
            if name == "abstract" and truncated:
                kept = "a truncated copy of the indexed abstract"
                continue
            replace_it = (
                newer
                or not stored[name]
                or (name == "abstract" and _truncation_of(entry.abstract, paper.abstract))
                or (from_here and name not in ("arxiv_id", "doi"))  # ids are identity, never edited away
            )
            if replace_it:
                merged[name] = value
                origins[name] = paper.origins.get(name, paper.source)
                filled.append(name)
        ignored = [n for n in TEXT if mine[n] and mine[n] != merged[n] and n not in filled]
        if ignored and not kept:
            kept = f"the indexed {' and '.join(ignored)} is kept (a later record only fills what it lacks)"
        if newer:
            version = paper.arxiv_version
        elif paper.arxiv_version and not entry.version and all(merged[n] == mine[n] for n in TEXT):
            version = paper.arxiv_version  # the same text, now known under a version
    if version != entry.version:
        origins["version"] = paper.source
    if version and "version" not in origins:
        origins["version"] = known
    result = replace(paper, **{name: merged[name] for name in FIELDS}, arxiv_version=version, origins=origins)
    text_changed = any(merged[n] != stored[n] for n in TEXT)
    update: dict[str, Any] = {}
    if not text_changed:
        for name in FIELDS:
            if merged[name] != stored[name]:
                update[name] = merged[name]
        if merged["date"] != stored["date"]:
            update["day"] = normalise_date(merged["date"])
        if version != entry.version:
            update["version"] = version
        if update:  # origins are rewritten with a field they describe, never on their own
            update["origins"] = origins
        # an absolute path an older release stored for this same response (the index since moved) goes
        sources = sorted({*(s for s in entry.sources if not _same_response(s, paper.source)), paper.source})
        if sources != entry.sources:
            update["sources"] = sources
    return Merged(result, text_changed, update, filled, kept)


def _same_response(stored: str, new: str) -> bool:
    """``stored`` is the absolute form of ``new``, a response source relative to the index
    (``fetched/...``, ``ingest.paths.index_source``), written where the index was then."""
    return new.startswith(FETCHED + "/") and stored.startswith("/") and stored.endswith("/" + new)


def _stored_values(entry: PaperEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in FIELDS}


def _truncation_of(short: str, long: str) -> bool:
    """``short`` is ``long`` cut short (rule 2's truncation), not the same text."""
    return len(short) < len(long) and abstracts_agree(short, long)
