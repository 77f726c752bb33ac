"""CSV/TSV with a header row naming ``title`` and ``abstract`` (or ``summary``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ingest.readers.common import paper_from_mapping
from ingest.records import Paper, Skipped


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    delimiter = "\t" if source.lower().endswith(".tsv") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if "title" not in columns or not columns & {"abstract", "summary"}:
        yield Skipped(source, 1, f"header needs 'title' and 'abstract' (or 'summary') columns, has {sorted(columns)}")
        return
    try:
        for row in reader:
            # reader.line_num is the physical line where this row ended (quoted fields span lines):
            # step back over the line breaks inside its fields to report the line it starts on.
            breaks = sum(v.count("\n") for v in row.values() if isinstance(v, str))
            row = {(k or "").strip(): v for k, v in row.items()}
            yield paper_from_mapping(row, source, reader.line_num - breaks)
    except csv.Error as exc:
        yield Skipped(source, reader.line_num, f"malformed CSV: {exc}")
