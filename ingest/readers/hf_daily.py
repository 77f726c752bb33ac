"""JSON of the Hugging Face daily-papers API: a list of ``{"paper": {id, title, summary, ...}}``.

A plain list of ``{title, abstract}`` objects is accepted too.

``paper.id`` becomes the paper's arXiv id and its ``https://arxiv.org/abs/<id>`` URL only when it is
an arXiv id as a whole (new style ``2409.01234`` or old style ``hep-th/9901001``, either with
``vN``); any other value (``../../etc/passwd``, a URL, a number) skips the item with one line naming
the file and the item: the API gives every paper its arXiv id, so such an item is not one of its papers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from ingest.readers.common import authors_of, first, paper_from_mapping
from ingest.records import Paper, Skipped

ARXIV_ID = re.compile(r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?")


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Skipped(source, exc.lineno, f"malformed JSON: {exc.msg}")
        return
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, nesting too deep to parse
        yield Skipped(source, None, f"unreadable JSON: {type(exc).__name__}: {str(exc)[:120]}")
        return
    if isinstance(data, dict):
        data = data.get("papers") or data.get("data") or [data]
    if not isinstance(data, list):
        yield Skipped(source, None, "JSON is neither a list of papers nor an object holding one")
        return
    for number, item in enumerate(data, start=1):
        try:
            yield _record(item, source, number)
        except Exception as exc:  # one odd item costs that item only
            yield Skipped(f"{source}#item{number}", None, f"unreadable item ({type(exc).__name__}: {str(exc)[:120]})")


def _record(item: object, source: str, number: int) -> Paper | Skipped:
    if not isinstance(item, dict):
        return Skipped(source, None, f"item {number} is not an object")
    paper = item.get("paper")
    if not isinstance(paper, dict):
        return paper_from_mapping(item, f"{source}#item{number}", None)
    title, summary = first(paper, "title"), first(paper, "summary", "abstract")
    if not title or not summary:
        return Skipped(source, None, f"item {number} lacks paper.title or paper.summary")
    arxiv_id = first(paper, "id")
    if arxiv_id is not None and not ARXIV_ID.fullmatch(arxiv_id):
        shown = arxiv_id[:80]
        return Skipped(
            source, None, f"item {number}: paper.id {shown!r} is not an arXiv id (NNNN.NNNNN or archive/NNNNNNN)"
        )
    return Paper(
        title=title,
        abstract=summary,
        source=f"{source}#item{number}",
        arxiv_id=arxiv_id,
        date=first(paper, "publishedAt") or first(item, "publishedAt"),
        authors=authors_of(paper.get("authors")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
    )
