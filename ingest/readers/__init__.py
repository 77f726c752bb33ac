"""Readers, one small module per format, chosen by file type; directories are walked.

Every reader yields ``Paper`` or ``Skipped`` and never raises for bad content: one bad record
(or file) is reported with its file and line, and every good record is still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ingest.readers import arxiv_atom, daily_papers, hf_daily, jsonl, table
from ingest.readers.common import read_text
from ingest.records import Paper, Skipped

Reader = Callable[[str, str], Iterator[Paper | Skipped]]

READERS: dict[str, Reader] = {
    ".txt": daily_papers.read,
    ".jsonl": jsonl.read,
    ".ndjson": jsonl.read,
    ".csv": table.read,
    ".tsv": table.read,
    ".xml": arxiv_atom.read,
    ".atom": arxiv_atom.read,
    ".json": hf_daily.read,
}


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under ``paths`` in a stable order; hidden files and folders are passed over."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield child
        else:
            yield path


def read_paths(paths: Iterable[Path]) -> Iterator[Paper | Skipped]:
    for file in iter_files(paths):
        yield from read_file(file)


def read_file(file: Path) -> Iterator[Paper | Skipped]:
    source = str(file)
    if not file.exists():
        yield Skipped(source, None, "no such file or directory")
        return
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        yield Skipped(source, None, f"unsupported file type {file.suffix or '(none)'!r}")
        return
    text = read_text(file)
    if isinstance(text, Skipped):
        yield text
        return
    yield from reader(text, source)
