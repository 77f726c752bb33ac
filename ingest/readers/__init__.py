"""Readers, one small module per format, chosen by file type; directories are walked.

Every reader yields ``Paper`` or ``Skipped`` and never raises for bad content: one bad record
(or file) is reported with its file and line, and every good record is still read. ``read_file``
also guards each reader (an unexpected exception costs only the rest of that file) and
validates each record (:func:`validate`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from assistant.text import index_terms
from ingest.paths import path_text
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
    """Files under ``paths`` in a stable order (see :func:`walk`), without its notices."""
    for item in walk(paths):
        if isinstance(item, Path):
            yield item


def walk(paths: Iterable[Path]) -> Iterator[Path | Skipped]:
    """Files under ``paths`` in a stable order (each folder's entries sorted as full paths sort), and a
    ``Skipped`` for each folder that is not read: one that cannot be listed, or a symbolic link to a
    folder this walk has already read (a loop, or a second way to the same files). Folders reached
    through symbolic links are followed after the real folders of the same path (so a link to one
    of them is the one passed over); hidden files and folders are passed over, and so are the
    ``job.json`` records of ``papers fetch`` in ``fetched/<source>/<job>/`` (so ``ingest <index>/fetched``
    reads the responses only)."""
    for path in paths:
        if not path.is_dir():
            yield path
            continue
        entered: dict[tuple[int, int], Path] = {}
        links: list[Path] = []
        yield from _walk_folder(path, entered, links)
        while links:
            yield from _walk_folder(links.pop(0), entered, links)


def _walk_folder(folder: Path, entered: dict[tuple[int, int], Path], links: list[Path]) -> Iterator[Path | Skipped]:
    """One folder and its real sub-folders; symbolic links to folders are appended to ``links``."""
    try:
        info = folder.stat()
        key = (info.st_dev, info.st_ino)
        if key in entered:
            first = path_text(entered[key])
            yield Skipped(path_text(folder), None, f"symbolic link to a folder already read ({first}): not read twice")
            return
        entered[key] = folder
        with os.scandir(folder) as listing:
            entries = [(entry.name, entry.is_dir(), entry.is_symlink()) for entry in listing]
    except OSError as exc:
        yield Skipped(path_text(folder), None, f"cannot read this folder: {exc.strerror or exc}")
        return
    # "a.jsonl" before "a/x.jsonl", as sorted full paths order them (the order records are kept in)
    for name, is_dir, is_link in sorted(entries, key=lambda e: e[0] + ("/" if e[1] else "")):
        if name.startswith("."):
            continue
        child = folder / name
        if is_dir and is_link:
            links.append(child)  # followed once the real folders are read (loops are stopped above)
        elif is_dir:
            yield from _walk_folder(child, entered, links)
        elif _fetch_record(child):
            continue  # `papers fetch`'s provenance record beside its responses, not papers
        else:
            yield child  # a broken link or a pipe is reported by read_file, not passed over


def _fetch_record(file: Path) -> bool:
    """``<index>/fetched/<source>/<job>/job.json`` (``ingest.fetch.store``): passed over in a folder."""
    return file.name == "job.json" and file.parent.parent.parent.name == "fetched"


def read_paths(paths: Iterable[Path]) -> Iterator[Paper | Skipped]:
    for item in walk(paths):
        if isinstance(item, Skipped):
            yield item
        else:
            yield from read_file(item)


def read_file(file: Path) -> Iterator[Paper | Skipped]:
    file = file.absolute()  # a record's source names its file however the path was given
    source = path_text(file)  # valid UTF-8 whatever bytes the name holds (ingest.paths)
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
