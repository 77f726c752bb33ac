"""Helpers the readers share: decoding with a clear error, and picking fields from a mapping."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ingest.paths import path_text
from ingest.records import Paper, Skipped


def read_text(file: Path) -> tuple[str | None, list[Skipped]]:
    """The file's UTF-8 text (a BOM is allowed) and a Skipped for each line that is not UTF-8.

    A line with a bad byte becomes an empty line (so line numbers stay right) and is reported;
    the rest of the file is read. A file with NUL bytes in which no line is UTF-8 text (an image,
    an archive, a UTF-16 file) gives ``None`` and one Skipped for the whole file.
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return None, [Skipped(path_text(file), None, f"cannot read: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")
        if "\x00" not in text[:8192] or any(_is_text(line) for line in text[:65536].splitlines()):
            return text, []
    except UnicodeDecodeError:
        pass
    lines, skipped, readable = [], [], False
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            decoded = line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            skipped.append(Skipped(path_text(file), number, f"not UTF-8 text (bad byte at column {exc.start + 1})"))
            lines.append("")
            continue
        readable = readable or _is_text(decoded)
        lines.append(decoded)
    if not readable and b"\x00" in raw[:8192]:
        why = "binary file: no line is UTF-8 text (or another encoding, e.g. UTF-16)"
        return None, [Skipped(path_text(file), None, why)]
    return "\n".join(lines), skipped


def lines(text: str) -> list[str]:
    """Lines split at line feeds only (and a CR before one), not at U+2028, U+0085 or \\x1c-\\x1e,
    which ``str.splitlines`` also breaks at but JSON strings and prose may hold."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _is_text(line: str) -> bool:
    return "\x00" not in line and any(ch.isalnum() for ch in line)


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
