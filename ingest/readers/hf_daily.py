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
    if isinstance(data, dict):
        data = data.get("papers") or data.get("data") or [data]
    if not isinstance(data, list):
        yield Skipped(source, None, "JSON is neither a list of papers nor an object holding one")
        return
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            yield Skipped(source, None, f"item {number} is not an object")
            continue
        paper = item.get("paper")
        if not isinstance(paper, dict):
            record = paper_from_mapping(item, f"{source}#item{number}", None)
            yield record
            continue
        title, summary = first(paper, "title"), first(paper, "summary", "abstract")
        if not title or not summary:
            yield Skipped(source, None, f"item {number} lacks paper.title or paper.summary")
            continue
        arxiv_id = first(paper, "id")
        yield Paper(
            title=title,
            abstract=summary,
            source=f"{source}#item{number}",
            arxiv_id=arxiv_id,
            date=first(paper, "publishedAt") or first(item, "publishedAt"),
            authors=authors_of(paper.get("authors")),
            url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
        )
