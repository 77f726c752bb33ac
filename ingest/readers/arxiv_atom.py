"""arXiv API responses (Atom XML): one ``<entry>`` per paper."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from ingest.records import Paper, Skipped

NS = {"atom": "http://www.w3.org/2005/Atom", "arxiv": "http://arxiv.org/schemas/atom"}
ERROR_ID = "arxiv.org/api/errors"


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        yield Skipped(source, exc.position[0], f"malformed XML: {exc}")
        return
    entries = root.findall("atom:entry", NS)
    if root.tag != f"{{{NS['atom']}}}feed":
        yield Skipped(source, None, "XML is not an Atom feed (expected arXiv API output)")
        return
    if not entries:
        yield Skipped(source, None, "the feed has no entries (an empty arXiv API result)")
        return
    for number, entry in enumerate(entries, start=1):
        try:
            yield _entry(entry, source, number)
        except Exception as exc:  # one odd entry costs that entry only
            yield Skipped(f"{source}#entry{number}", None, f"unreadable entry ({type(exc).__name__}: {exc})")


def _entry(entry: ET.Element, source: str, number: int) -> Paper | Skipped:
    title = (entry.findtext("atom:title", default="", namespaces=NS) or "").strip()
    summary = (entry.findtext("atom:summary", default="", namespaces=NS) or "").strip()
    entry_id = (entry.findtext("atom:id", default="", namespaces=NS) or "").strip()
    if ERROR_ID in entry_id:  # the arXiv API reports a bad query as a feed with one "Error" entry
        return Skipped(source, None, f"entry {number} is an arXiv API error, not a paper: {summary[:200]}")
    if not title or not summary:
        return Skipped(source, None, f"entry {number} lacks a title or summary")
    authors = [
        (a.findtext("atom:name", default="", namespaces=NS) or "").strip() for a in entry.findall("atom:author", NS)
    ]
    return Paper(
        title=title,
        abstract=summary,
        source=f"{source}#entry{number}",
        arxiv_id=entry_id or None,
        doi=(entry.findtext("arxiv:doi", default="", namespaces=NS) or "").strip() or None,
        date=(entry.findtext("atom:published", default="", namespaces=NS) or None),
        authors=[a for a in authors if a],
        url=entry_id or None,
    )
