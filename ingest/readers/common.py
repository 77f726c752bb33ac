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
    sample = raw[:8192]
    if sample.count(b"\x00") > max(1, len(sample) // 100):  # a stray NUL is text damage; many mean binary
        return Skipped(str(file), None, "binary file (NUL bytes), not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return Skipped(str(file), line, f"not UTF-8 text (bad byte at offset {exc.start})")


def scalar_text(value: object) -> str | None:
    """A JSON/CSV value as text when it is a string or a number; lists, objects and null are not text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value) if abs(value) < 10**30 else None  # a 5,000-digit number is not an id
    return None


def first(record: Mapping[str, object], *keys: str) -> str | None:
    """The first non-empty text value among ``keys`` (case-insensitive)."""
    lowered = {str(k).lower(): v for k, v in record.items()}
    for key in keys:
        value = scalar_text(lowered.get(key.lower()))
        if value is not None and value.strip():
            return value.strip()
    return None


def authors_of(value: object) -> list[str]:
    """Names from a list (of strings or ``{"name": ...}`` objects) or a ``;``/``,``-separated string;
    a name that is not a string (a number, an object) is passed over."""
    if isinstance(value, list):
        names = [a.get("name") if isinstance(a, Mapping) else a for a in value]
        return [n.strip() for n in names if isinstance(n, str) and n.strip()]
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
        arxiv_id=first(record, "arxiv_id", "arxiv", "id"),
        doi=first(record, "doi"),
        date=first(record, "date", "published", "publishedat"),
        authors=authors_of(lowered.get("authors")),
        url=first(record, "url", "link"),
    )
