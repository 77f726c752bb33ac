"""Identify: when two records are one paper, and which id a paper gets. Ids first, titles second.

The rules (docs/ingest.md, "What counts as one paper"), applied within one run (:func:`deduplicate`) and against the
stored index (:func:`match_stored`) alike:

1. **Strong ids decide.** Records sharing an arXiv id or a DOI are one paper; records whose
   arXiv ids (or DOIs) differ are never merged, whatever their titles.
2. **Titles merge only with agreeing abstracts.** Records with the same title key and no
   conflicting id are one paper only when their abstracts agree: equal after normalisation, or
   one clearly a truncation of the other (a prefix that ends in an ellipsis, or covers at least
   :data:`TRUNCATION_MIN_WORDS` words). Same title, different abstracts: two papers.
3. **Versions:** records of one arXiv id in different versions: the latest version's record wins
   whole (title, abstract, date, everything), never field by field. Otherwise the first record
   is kept whole; the other only fills metadata the first lacks (ids, date, url, authors) and
   replaces the abstract only when the first one's is a truncation of it.
4. **Title keys** keep the letters and digits of every script (NFKC, casefold); a title with none
   falls back to a hash of title and abstract, so no two papers share an empty key.
5. **Edits in place:** on a later ingest, a record whose abstract no longer agrees with the stored
   paper of the same title updates that paper only when it comes from the same file the stored
   paper came from (the user edited it) and no other record of this run is that paper; from
   another file it is another paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from assistant.text import title_key
from ingest.records import Paper, base_id

TRUNCATION_MIN_WORDS = 20  # a shared prefix this long is the same abstract cut short, not a coincidence
_ELLIPSES = ("...", "…", "[...]", "(...)")


def match_key(paper: Paper) -> str:
    """What records are grouped by before their abstracts are compared: the title key, or for a
    title with no letter or digit, the paper's own id (a hash of title and abstract)."""
    return paper.title_key or base_id(paper)


def abstract_words(abstract: str) -> list[str]:
    """The abstract's words as compared for identity (letters and digits of every script, casefolded)."""
    return title_key(abstract).split()


def abstracts_agree(a: str, b: str) -> bool:
    """Equal after normalisation, or one clearly a truncation of the other (rule 2)."""
    wa, wb = abstract_words(a), abstract_words(b)
    if wa == wb:
        return True
    (short, short_text), long_words = ((wa, a), wb) if len(wa) <= len(wb) else ((wb, b), wa)
    if not short or long_words[: len(short) - 1] != short[:-1]:  # the cut may split the last word
        return False
    last_ok = long_words[len(short) - 1].startswith(short[-1])
    ellipsis = short_text.rstrip().endswith(_ELLIPSES)
    return last_ok and (ellipsis or len(short) >= TRUNCATION_MIN_WORDS)


def strong_ids(paper: Paper) -> list[str]:
    """``arxiv:<id>`` and ``doi:<doi>`` where known."""
    return [f"arxiv:{paper.arxiv_id}"] * bool(paper.arxiv_id) + [f"doi:{paper.doi}"] * bool(paper.doi)


def ids_conflict(a: Paper, b: Paper) -> bool:
    """Both carry an arXiv id (or both a DOI) and they differ."""
    return bool((a.arxiv_id and b.arxiv_id and a.arxiv_id != b.arxiv_id) or (a.doi and b.doi and a.doi != b.doi))


def alternate_id(paper: Paper) -> str:
    """For a second paper with the same title as another: title and abstract hashed together."""
    payload = f"{paper.title_key}\x1f{' '.join(abstract_words(paper.abstract))}"
    return "title:" + hashlib.sha1(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Merge:
    """One record folded into another: ``kept`` and ``dropped`` are titles; ``source``/``line``
    locate the dropped record; ``reason`` says which rule matched."""

    kept: str
    dropped: str
    source: str
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def same_paper(a: Paper, b: Paper) -> str:
    """Why ``a`` and ``b`` are one paper (rules 1-2), or "" when they are not."""
    if ids_conflict(a, b):  # checked first: a shared DOI never overrides different arXiv ids
        return ""
    shared = set(strong_ids(a)) & set(strong_ids(b))
    if shared:
        return f"same {sorted(shared)[0].split(':', 1)[0]} id {sorted(shared)[0].split(':', 1)[1]}"
    if match_key(a) != match_key(b):
        return ""
    if abstract_words(a.abstract) == abstract_words(b.abstract):
        return "same title and abstract"
    if abstracts_agree(a.abstract, b.abstract):
        return "same title; one abstract is a truncation of the other"
    return ""


def combine(kept: Paper, other: Paper) -> Paper:
    """The one record for two records of the same paper (rule 3); ``origins`` records which source
    gave each field that did not come from the kept record's own source."""
    if kept.arxiv_id and kept.arxiv_id == other.arxiv_id and kept.arxiv_version and other.arxiv_version:
        newer, older = (other, kept) if other.arxiv_version > kept.arxiv_version else (kept, other)
        origins = dict(newer.origins)
        for name in ("date", "doi"):  # a date is kept unless the newer version carries its own; ids are identity
            if not getattr(newer, name) and getattr(older, name):
                origins[name] = older.origins.get(name, older.source)
        return replace(newer, date=newer.date or older.date, doi=newer.doi or older.doi, origins=origins)
    merged: dict[str, Any] = {}
    if len(other.abstract) > len(kept.abstract) and abstracts_agree(kept.abstract, other.abstract):
        merged["abstract"] = other.abstract  # a feed that truncates loses to one that does not
    for name in ("arxiv_id", "doi", "date", "url", "authors", "links"):
        if not getattr(kept, name) and getattr(other, name):
            merged[name] = getattr(other, name)
    if "arxiv_id" in merged:
        merged["arxiv_version"] = other.arxiv_version  # a version stays with its record
    origins = dict(kept.origins)
    origins.update({name: other.origins.get(name, other.source) for name in merged if name != "arxiv_version"})
    return replace(kept, **merged, origins=origins)


def deduplicate(papers: Sequence[Paper]) -> tuple[list[Paper], list[Merge]]:
    """One record per paper, in first-seen order, and every merge made (rules 1-3)."""
    kept: list[Paper] = []
    by_id: dict[str, int] = {}
    by_title: dict[str, list[int]] = {}
    merges: list[Merge] = []
    for paper in papers:
        candidates = [by_id[i] for i in strong_ids(paper) if i in by_id]
        candidates += by_title.get(match_key(paper), [])
        match, reason = None, ""
        for index in dict.fromkeys(candidates):
            reason = same_paper(kept[index], paper)
            if reason:
                match = index
                break
        if match is None:
            kept.append(paper)
            match = len(kept) - 1
        else:
            before = kept[match]
            kept[match] = combine(before, paper)
            dropped = paper if kept[match].source == before.source and kept[match].line == before.line else before
            merges.append(Merge(kept[match].title, dropped.title, dropped.source, dropped.line, reason))
        for sid in strong_ids(kept[match]):
            by_id.setdefault(sid, match)
        slots = by_title.setdefault(match_key(kept[match]), [])
        if match not in slots:
            slots.append(match)
    return kept, merges


class StoredPaper(Protocol):
    title: str
    abstract: str
    version: int | None
    sources: list[str]
    arxiv_id: str | None
    doi: str | None


def stored_as_paper(pid: str, entry: StoredPaper) -> Paper:
    """A stored paper as a record, with the strong ids it is known by (its own id included)."""
    paper = Paper(title=entry.title, abstract=entry.abstract, source="index", arxiv_id=entry.arxiv_id or _arxiv_of(pid))
    paper.doi = entry.doi or (pid.removeprefix("doi:") if pid.startswith("doi:") else None)
    return paper


class _Lookup:
    """``dict.get`` over a query: the catalog answers for one key instead of every paper being read."""

    def __init__(self, query: Callable[[str], Any]) -> None:
        self.query = query

    def get(self, key: str, default: Any = None) -> Any:
        return self.query(key) or default


def stored_keys(stored: Mapping[str, StoredPaper]) -> tuple[Any, Any]:
    """Indexes over the stored papers: strong id -> paper id, and match key -> paper ids. For an
    index's catalog (``assistant.catalog.PaperTable`` with nothing staged) these are lookups in its
    SQLite indexes, so matching a run's records costs per record, not per stored paper."""
    catalog = getattr(stored, "catalog", None)
    if catalog is not None and getattr(stored, "inline", 1) is None and not stored.staged and not stored.cleared:  # type: ignore[attr-defined]
        generation = stored.generation  # type: ignore[attr-defined]
        return (
            _Lookup(lambda sid: catalog.by_strong_id(sid, generation)),
            _Lookup(lambda key: catalog.by_match_key(key, generation)),
        )
    by_id: dict[str, str] = {}
    by_key: dict[str, list[str]] = {}
    for pid, entry in stored.items():
        as_paper = stored_as_paper(pid, entry)
        for sid in strong_ids(as_paper):
            by_id.setdefault(sid, pid)
        by_key.setdefault(match_key(as_paper), []).append(pid)
    return by_id, by_key


def match_stored(
    paper: Paper,
    stored: Mapping[str, StoredPaper],
    keys: tuple[dict[str, str], dict[str, list[str]]],
    *,
    edited_in: set[str] | None = None,
) -> str | None:
    """The stored paper id that ``paper`` is (rules 1-2 against the index), or None for a new paper.

    ``keys`` is :func:`stored_keys` of ``stored``. Stored papers take part with every strong id
    they are known by, so a record never updates a paper with another arXiv id, and a paper first
    stored without an id is found again by the id a later record brings. With ``edited_in``
    (stored ids still free to match), a record whose abstract differs also matches a stored paper
    of the same title from the same file: the user edited the abstract there (rule 5).
    """
    by_id, by_key = keys
    for sid in strong_ids(paper):
        pid = by_id.get(sid)
        if pid is not None and not ids_conflict(stored_as_paper(pid, stored[pid]), paper):
            return pid
    for pid in by_key.get(match_key(paper), ()):
        as_paper = stored_as_paper(pid, stored[pid])
        if edited_in is None:
            if same_paper(as_paper, paper):
                return pid
        elif pid in edited_in and same_file(paper.source, stored[pid].sources) and not ids_conflict(as_paper, paper):
            return pid
    return None


def same_file(source: str, sources: Iterable[str]) -> bool:
    """``source`` names one of ``sources``' files, however the path was spelled (``file#item3`` is ``file``)."""
    from pathlib import Path

    from ingest.paths import file_of

    def resolved(text: str) -> Path:
        return Path(file_of(text)).resolve()

    mine = resolved(source)
    return any(resolved(other) == mine for other in sources)


def _arxiv_of(pid: str) -> str | None:
    return pid.removeprefix("arxiv:") if pid.startswith("arxiv:") else None
