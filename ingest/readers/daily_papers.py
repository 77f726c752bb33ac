"""Hugging Face "Daily Papers" page dumps: a title line, then an abstract line, amid page chrome.

Some dumps separate lines with blank lines, one does not and glues ``Subscribe`` to its first
title. Date lines (``Sep 3``) are kept as the page date of the papers under them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ingest.readers.common import lines
from ingest.records import Paper, Skipped

CHROME = {"new", "subscribe", "daily papers", "byak and the research community"}
# "SubscribeAnalyzing Transformers…": the button glued to the first title; "Subscriber …" is a title.
_GLUED_SUBSCRIBE = re.compile(r"^Subscribe\s*(?=[A-Z0-9])")
_DATE = re.compile(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?")


def is_chrome(line: str) -> bool:
    return line.lower() in CHROME or line.lower().startswith("get trending papers")


def looks_like_abstract(line: str) -> bool:
    """Abstracts are long prose; titles in the corpus are at most ~150 characters, no final period."""
    return len(line) >= 200 or (len(line) > 120 and line.endswith("."))


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    date: str | None = None
    title: tuple[int, str] | None = None
    for number, raw in enumerate(lines(text), start=1):
        line = _GLUED_SUBSCRIBE.sub("", raw.strip(), count=1)
        if not line or is_chrome(line):
            continue
        if _DATE.fullmatch(line):
            date = line
            continue
        if title is None:
            if looks_like_abstract(line):
                yield Skipped(source, number, "abstract without a title line above it")
            else:
                title = (number, line)
            continue
        if looks_like_abstract(line):
            yield Paper(title=title[1], abstract=line, source=source, line=title[0], date=date)
            title = None
        else:
            yield Skipped(source, title[0], f"title {title[1][:60]!r} has no abstract")
            title = (number, line)
    if title is not None:
        yield Skipped(source, title[0], f"title {title[1][:60]!r} has no abstract")
