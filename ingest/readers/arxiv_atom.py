"""arXiv API responses (Atom XML): one ``<entry>`` per paper."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from ingest.records import Paper, Skipped

NS = {"atom": "http://www.w3.org/2005/Atom"}


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
    for number, entry in enumerate(entries, start=1):
        title = entry.findtext("atom:title", default="", namespaces=NS).strip()
        summary = entry.findtext("atom:summary", default="", namespaces=NS).strip()
        if not title or not summary:
            yield Skipped(source, None, f"entry {number} lacks a title or summary")
            continue
        entry_id = entry.findtext("atom:id", default="", namespaces=NS)
        authors = [a.findtext("atom:name", default="", namespaces=NS).strip() for a in entry.findall("atom:author", NS)]
        yield Paper(
            title=title,
            abstract=summary,
            source=f"{source}#entry{number}",
            arxiv_id=entry_id or None,
            date=(entry.findtext("atom:published", default="", namespaces=NS) or None),
            authors=[a for a in authors if a],
            url=entry_id or None,
        )
