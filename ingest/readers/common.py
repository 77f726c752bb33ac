"""Helpers the readers share: decoding with a clear error, and picking fields from a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ingest.records import Paper, Skipped


def read_text(file: Path) -> str | Skipped:
    """UTF-8 text (a BOM is allowed), or a Skipped naming the line of the first bad byte."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return Skipped(str(file), None, f"cannot read: {exc.strerror or exc}")
    if b"\x00" in raw[:8192]:
        return Skipped(str(file), None, "binary file (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Skipped(str(file), line, f"not UTF-8 text (bad byte at offset {exc.start})")


def first(record: Mapping[str, object], *keys: str) -> str | None:
    """The first non-empty string value among ``keys`` (case-insensitive)."""
    lowered = {str(k).lower(): v for k, v in record.items()}
    for key in keys:
        value = lowered.get(key.lower())
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def authors_of(value: object) -> list[str]:
    if isinstance(value, list):
        names = [a.get("name", "") if isinstance(a, Mapping) else str(a) for a in value]
        return [n.strip() for n in names if n and n.strip()]
    if isinstance(value, str) and value.strip():
        sep = ";" if ";" in value else ","
        return [n.strip() for n in value.split(sep) if n.strip()]
    return []


def paper_from_mapping(record: Mapping[str, object], source: str, line: int | None) -> Paper | Skipped:
    """Shared by JSONL and CSV: ``title`` and ``abstract``/``summary`` required, the rest optional."""
    title = first(record, "title")
    abstract = first(record, "abstract", "summary")
    if not title:
        return Skipped(source, line, "record has no title")
    if not abstract:
        return Skipped(source, line, f"record {title[:60]!r} has no abstract")
    lowered = {str(k).lower(): v for k, v in record.items()}
    return Paper(
        title=title,
        abstract=abstract,
        source=source,
        line=line,
        arxiv_id=first(record, "arxiv_id", "id"),
        date=first(record, "date", "published", "publishedat"),
        authors=authors_of(lowered.get("authors")),
        url=first(record, "url", "link"),
    )
