"""Property tests (Hypothesis, bounded for `make test`): every reader is total, identity never
merges papers that differ. benchmarks/fuzz_readers.py runs 10,000 hostile files per reader."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.identity import deduplicate, same_paper, title_key
from ingest.readers import READERS, read_file
from ingest.records import Paper, Skipped

SUFFIXES = sorted(READERS)
GOOD = {"title": "Quokka Burrow Mapping", "abstract": "We map quokka burrows with drones at night."}
bounded = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _read(suffix: str, data: bytes) -> list[Paper | Skipped]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        items = list(read_file(path))
    assert all(isinstance(i, Paper | Skipped) for i in items)
    return items


@bounded
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=3000))
def test_any_bytes_read_without_a_traceback(suffix: str, data: bytes) -> None:
    _read(suffix, data)


@bounded
@given(suffix=st.sampled_from(SUFFIXES), text=st.text(max_size=2000))
def test_any_text_reads_without_a_traceback(suffix: str, text: str) -> None:
    _read(suffix, text.encode("utf-8", errors="surrogatepass"))


@bounded
@given(records=st.lists(st.dictionaries(st.sampled_from(["title", "abstract", "id", "authors", "date"]), json_values)))
def test_jsonl_records_of_any_shape_cost_only_themselves(records: list[dict[str, object]]) -> None:
    lines = [json.dumps(GOOD)] + [json.dumps(r) for r in records] + [json.dumps(GOOD | {"title": "Last One"})]
    items = _read(".jsonl", ("\n".join(lines) + "\n").encode())
    titles = [i.title for i in items if isinstance(i, Paper)]
    assert titles[0] == GOOD["title"] and titles[-1] == "Last One"
    assert len(items) == len(lines)  # one Paper or one Skipped per line


@bounded
@given(rows=st.lists(st.lists(st.text(max_size=40), min_size=0, max_size=4), max_size=8))
def test_csv_rows_of_any_shape_cost_only_themselves(rows: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "abstract"])
    writer.writerow([GOOD["title"], GOOD["abstract"]])
    writer.writerows(rows)
    writer.writerow(["Last One", GOOD["abstract"]])
    titles = [
        i.title for i in _read(".csv", out.getvalue().encode("utf-8", errors="surrogatepass")) if isinstance(i, Paper)
    ]
    assert titles[0] == GOOD["title"] and titles[-1] == "Last One"


words = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=40)


@bounded
@given(papers=st.lists(st.tuples(words, words), min_size=1, max_size=12))
def test_deduplicate_loses_nothing_and_never_merges_different_titles_or_abstracts(
    papers: list[tuple[str, str]],
) -> None:
    records = [Paper(title=t, abstract=a, source="f", line=i) for i, (t, a) in enumerate(papers)]
    unique, merges = deduplicate(records)
    assert len(unique) + len(merges) == len(records)
    for i, a in enumerate(unique):  # complete: no two kept records are still one paper
        assert not any(same_paper(a, b) for b in unique[i + 1 :])
    by_title = {(r.title, r.source, r.line): r for r in records}
    for merge in merges:  # merged records share a title key; with no key, the very same title and abstract
        assert title_key(merge.kept) == title_key(merge.dropped)
        if not title_key(merge.kept):
            dropped = by_title[(merge.dropped, merge.source, merge.line)]
            assert any(k.title == dropped.title and k.abstract == dropped.abstract for k in unique)
