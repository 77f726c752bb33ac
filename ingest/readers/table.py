"""CSV/TSV with a header row naming ``title`` and ``abstract`` (or ``summary``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from ingest.readers.common import paper_from_mapping
from ingest.records import Paper, Skipped


def read(text: str, source: str) -> Iterator[Paper | Skipped]:
    delimiter = "\t" if source.lower().endswith(".tsv") else ","
    buffer = io.StringIO(text, newline="")
    reader = csv.DictReader(buffer, delimiter=delimiter)
    columns = {c.strip().lower() for c in reader.fieldnames or []}
    if "title" not in columns or not columns & {"abstract", "summary"}:
        yield Skipped(source, 1, f"header needs 'title' and 'abstract' (or 'summary') columns, has {sorted(columns)}")
        return
    while True:
        before = buffer.tell()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # costs this row only: the reader carries on at the next line
            yield Skipped(source, reader.line_num + 1, f"malformed CSV: {exc}")
            if buffer.tell() == before:  # no progress: nothing more can be read
                return
            continue
        # reader.line_num is the physical line where this row ended (quoted fields span lines):
        # step back over the line breaks inside its fields to report the line it starts on.
        breaks = sum(v.count("\n") for v in row.values() if isinstance(v, str))
        cells = {(k or "").strip(): v for k, v in row.items() if isinstance(k, str) or k is None}
        yield paper_from_mapping(cells, source, reader.line_num - breaks)
