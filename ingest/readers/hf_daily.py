"""JSON of the Hugging Face daily-papers API: a list of ``{"paper": {id, title, summary, ...}}``.

A plain list of ``{title, abstract}`` objects is accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from ingest.readers.common import authors_of, first, paper_from_mapping
from ingest.records import Paper, Skipped


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
    return Paper(
        title=title,
        abstract=summary,
        source=f"{source}#item{number}",
        arxiv_id=arxiv_id,
        date=first(paper, "publishedAt") or first(item, "publishedAt"),
        authors=authors_of(paper.get("authors")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
    )
