"""Readers, one small module per format, chosen by file type; directories are walked.

Every reader yields ``Paper`` or ``Skipped`` and never raises for bad content: one bad record
(or file) is reported with its file and line, and every good record is still read. ``read_file``
also guards each reader (an unexpected exception costs only the rest of that file) and
validates each record (:func:`validate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from assistant.text import index_terms
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
                if not child.is_dir() and not any(part.startswith(".") for part in rel.parts):
                    yield child  # a broken link or a pipe is reported by read_file, not passed over
        else:
            yield path


def read_paths(paths: Iterable[Path]) -> Iterator[Paper | Skipped]:
    for file in iter_files(paths):
        yield from read_file(file)


def read_file(file: Path) -> Iterator[Paper | Skipped]:
    file = file.absolute()  # a record's source names its file however the path was given
    source = str(file)
    if not file.exists():
        what = "a broken symbolic link" if file.is_symlink() else "no such file or directory"
        yield Skipped(source, None, what)
        return
    if not file.is_file():  # a pipe, socket or device would block or never end
        yield Skipped(source, None, "not a regular file")
        return
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        yield Skipped(source, None, f"unsupported file type {file.suffix or '(none)'!r}")
        return
    text, bad_lines = read_text(file)
    yield from bad_lines
    if text is None:
        return
    read = 0
    try:
        for item in reader(text, source):
            read += 1
            yield validate(item) if isinstance(item, Paper) else item
    except Exception as exc:  # a reader bug must cost this file's remaining records, never the run
        yield Skipped(source, None, f"could not read past record {read} ({type(exc).__name__}: {str(exc)[:200]})")


def validate(paper: Paper) -> Paper | Skipped:
    """A record needs a title, an abstract, and at least one word BM25 can index (after cleaning)."""
    if not paper.title:
        return Skipped(paper.source, paper.line, "record has no title (after removing invisible characters)")
    if not paper.abstract:
        return Skipped(paper.source, paper.line, f"record {paper.title[:60]!r} has no abstract")
    if not index_terms(f"{paper.title} {paper.abstract}"):
        return Skipped(
            paper.source, paper.line, f"record {paper.title[:60]!r} has no indexable word (no letters or digits)"
        )
    return paper
