"""Paths are data: how a file name is written into the index and shown, and which folders a run covers.

A file name is bytes to the operating system. Python hands a name that is not valid UTF-8 over
as a ``str`` with lone surrogates (``b"caf\\xe9.jsonl"`` -> ``"caf\\udce9.jsonl"``), which neither
Chroma, SQLite nor a terminal accepts. :func:`path_text` is the one form a path takes wherever it
is stored or shown: valid UTF-8 text, each undecodable byte written as ``\\xNN`` (``caf\\xe9.jsonl``),
readable and the same in every run, so a stored source still matches its file on the next run.
:func:`safe_text` does the same for any other value written as metadata.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

# how ingest.readers.arxiv_atom names one entry of a feed, and ingest.readers.hf_daily one item of a list
_ENTRY = re.compile(r"#(?:entry|item)\d+$")
FETCHED = "fetched"  # ingest.fetch.store's folder of saved responses, inside the index


def path_text(path: Path | str) -> str:
    """``path`` (absolute as given, symbolic links not resolved) as stored and shown: undecodable
    bytes of its name as ``\\xNN`` escapes, so the text is always valid UTF-8."""
    raw = os.fsencode(os.path.abspath(path))
    return raw.decode("utf-8", "backslashreplace")


def safe_text(value: object) -> str:
    """``value`` as a string every store accepts: lone surrogates (a name Python surrogate-escaped, a
    JSON ``"\\udce9"``) become ``\\xNN`` (or ``\\udNNN``) escapes; NUL characters are dropped."""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = os.fsencode(text).decode("utf-8", "backslashreplace") if _only_escapes(text) else _escape(text)
    return text.replace("\x00", "")


def _only_escapes(text: str) -> bool:
    """Every surrogate is one ``surrogateescape`` makes (U+DC80-U+DCFF: an undecodable byte)."""
    return all("\udc80" <= ch <= "\udcff" for ch in text if "\ud800" <= ch <= "\udfff")


def _escape(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def file_of(source: str) -> str:
    """The file a record's source names: an Atom entry's ``file#entry3`` (a list item's ``file#item3``)
    is ``file`` (a ``#`` that is part of a file name stays)."""
    return _ENTRY.sub("", source)


def index_source(source: str, root: Path) -> str:
    """``source`` as the index at ``root`` stores it: a response ``papers fetch`` saved in the index
    (``<root>/fetched/...``) relative to the index (``fetched/daily/2024-09-03/0000.json#item2``), so it
    still names its file once the index is copied or moved; any other source (a user's file) as given."""
    file = file_of(source)
    for base in {os.path.abspath(root / FETCHED), os.path.realpath(root / FETCHED)}:
        for form in _forms(file):
            if form.startswith(base + os.sep):
                rest = os.path.relpath(form, os.path.dirname(base)).replace(os.sep, "/")
                return rest + source[len(file) :]
    return source


def source_file(source: str, root: Path) -> str:
    """A stored source as shown: one relative to the index (:func:`index_source`) resolved against
    ``root`` (its :func:`path_text` form, ``#entry`` kept); any other as stored."""
    if source.startswith(FETCHED + "/"):
        return path_text(root / file_of(source)) + source[len(file_of(source)) :]
    return source


def _forms(text: str) -> set[str]:
    """A path as written (absolute, normalised) and with its symbolic links resolved."""
    plain = os.path.normpath(os.path.abspath(text))
    try:
        resolved = os.path.realpath(plain)
    except (OSError, ValueError):
        resolved = plain
    return {plain, resolved}


def is_under(source: str, roots: Iterable[str]) -> bool:
    """Does the file ``source`` names lie at or below one of ``roots`` (both in :func:`path_text`
    form)? Compared as written and with symbolic links resolved, so a folder given through a link
    covers what was read through it, and the link's target too."""
    mine = _forms(file_of(source))
    for root in roots:
        for base in _forms(root):
            prefix = base.rstrip(os.sep) + os.sep
            if any(path == base or path.startswith(prefix) for path in mine):
                return True
    return False
