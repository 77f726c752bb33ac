"""Helpers the readers share: decoding with a clear error, and picking fields from a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ingest.records import Paper, Skipped

BINARY_SHARE = 0.3  # of the first 8 KiB: control bytes and bytes that are not UTF-8


def looks_binary(sample: bytes) -> bool:
    """Most of ``sample`` is control bytes or invalid UTF-8 (an image, an archive, a database)."""
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 0x20 and b not in b"\t\n\r\x0b\x0c")
    invalid = sample.decode("utf-8", errors="replace").count("\ufffd")
    return (controls + invalid) / len(sample) > BINARY_SHARE


def read_text(file: Path) -> tuple[str | None, list[Skipped]]:
    """The file's UTF-8 text (a BOM is allowed) and a Skipped for each line that is not UTF-8.

    A line with a bad byte becomes an empty line (so line numbers stay right) and is reported;
    the rest of the file is read. A file that is mostly not text gives ``None`` and one Skipped.
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return None, [Skipped(str(file), None, f"cannot read: {exc.strerror or exc}")]
    if looks_binary(raw[:8192]):
        return None, [Skipped(str(file), None, "binary file (control bytes, not UTF-8), not text")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    lines, skipped = [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            skipped.append(Skipped(str(file), number, f"not UTF-8 text (bad byte at column {exc.start + 1})"))
            lines.append("")
    return "\n".join(lines), skipped


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
