"""JSON Lines: one object per line with ``title`` and ``abstract`` (or ``summary``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ingest.readers.common import lines, paper_from_mapping
from ingest.records import Paper, Skipped


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    for number, line in enumerate(lines(text), start=1):
        line = line.lstrip("\ufeff")  # a byte-order mark where files were concatenated
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skipped(source, number, f"malformed JSON: {exc.msg}")
            continue
        except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit integer, 100,000 nested lists
            yield Skipped(source, number, f"unreadable JSON: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        if not isinstance(record, dict):
            yield Skipped(source, number, "JSON line is not an object")
            continue
        yield paper_from_mapping(record, source, number)
