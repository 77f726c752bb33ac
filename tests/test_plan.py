"""``ingest.plan.plan``: what an ingest run adds, updates, keeps, removes, merges and skips, decided
from the records read and the stored entries alone (a plain dict here): no Chroma, no encoder.

The stored entries are built from a previous plan's adds as ``ingest.apply`` writes them (every
field of the record, its chunk and sentence ids), so "a re-run is all keep" is checked on the
entries a real first run leaves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from assistant.catalog import PaperEntry
from assistant.dates import normalise_date
from ingest.paths import path_text
from ingest.plan import Add, Keep, Plan, Update, plan
from ingest.readers import read_paths
from ingest.records import Paper, Skipped

ATTENTION = {
    "id": "1706.03762",
    "title": "Attention Is All You Need",
    "abstract": "The dominant sequence transduction models are based on complex recurrent networks. We propose "
    "the Transformer, based solely on attention mechanisms.",
}
BERT = {
    "title": "BERT: Pre-training of Deep Bidirectional Transformers",
    "abstract": "We introduce BERT, a language representation model. It obtains new state-of-the-art results on "
    "eleven natural language processing tasks.",
}
RESNET = {
    "title": "Deep Residual Learning for Image Recognition",
    "abstract": "We present a residual learning framework to ease the training of deep networks. Residual "
    "networks are easier to optimise.",
}


def _write(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _read(*paths: Path) -> list[Paper | Skipped]:
    return list(read_paths(list(paths)))


def _entry(paper: Paper, pid: str, *, sentences: bool = True) -> PaperEntry:
    """The catalog entry a first ingest stores for ``paper`` (as ``ingest.apply`` builds it)."""
    prefix = f"{pid}#{paper.content_hash[:8]}"
    return PaperEntry(
        title=paper.title,
        abstract=paper.abstract,
        hash=paper.content_hash,
        chunk_ids=[f"{prefix}:0"],
        sentence_ids=[f"{prefix}:s0", f"{prefix}:s1"] if sentences else [],
        date=paper.date,
        day=normalise_date(paper.date),
        url=paper.url or (paper.links[0] if paper.links else None),
        links=paper.links,
        authors=paper.authors,
        sources=[paper.source],
        version=paper.arxiv_version,
        arxiv_id=paper.arxiv_id,
        doi=paper.doi,
    )


def _stored(first: Plan, *, sentences: bool = True) -> dict[str, PaperEntry]:
    """The catalog after ``first`` was applied to an empty index."""
    assert not first.update and not first.keep
    return {a.pid: _entry(a.paper, a.pid, sentences=sentences) for a in first.add}


def test_new_records_are_added_in_record_order(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, BERT])
    planned = plan(_read(source), {})
    assert [type(a) for a in planned.add] == [Add, Add]
    assert [a.pid for a in planned.add] == ["arxiv:1706.03762", planned.add[1].paper.paper_id]
    assert planned.add[1].pid.startswith("title:")
    assert [a.position for a in planned.add] == [0, 1]
    assert [a.paper.line for a in planned.add] == [1, 2] and planned.add[0].paper.source == path_text(source)
    assert (planned.records, planned.papers) == (2, 2)
    assert (planned.update, planned.keep, planned.remove, planned.merges, planned.skipped) == ([], [], [], [], [])
    assert planned.to_embed() == planned.add and planned.changed == 2 and not planned.entries_changed


def test_a_rerun_over_the_same_files_is_all_keep(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, BERT, RESNET])
    stored = _stored(plan(_read(source), {}))
    again = plan(_read(source), stored)
    assert (again.add, again.update, again.remove) == ([], [], [])
    assert [type(k) for k in again.keep] == [Keep, Keep, Keep]
    assert [k.pid for k in again.keep] == list(stored)  # the stored ids, in record order
    assert all(k.changes == {} and not k.sentences for k in again.keep)
    assert again.merges == [] and again.to_embed() == [] and again.changed == 0 and not again.entries_changed


def test_a_changed_abstract_is_an_update(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, BERT])
    stored = _stored(plan(_read(source), {}))
    edited = {**BERT, "abstract": BERT["abstract"] + " It is also fine-tuned with one additional output layer."}
    _write(source, [ATTENTION, edited])  # the user edited the abstract in place (rule 5)
    planned = plan(_read(source), stored)
    [update] = planned.update
    bert = next(pid for pid, e in stored.items() if e.title == BERT["title"])
    assert isinstance(update, Update) and update.pid == bert and update.stored == stored[bert]
    assert update.paper.abstract == edited["abstract"] and update.position == 1
    assert [k.pid for k in planned.keep] == ["arxiv:1706.03762"] and planned.add == []
    assert planned.to_embed() == [update] and planned.changed == 1


def test_the_same_title_with_another_abstract_from_another_file_is_another_paper(tmp_path: Path) -> None:
    stored = _stored(plan(_read(_write(tmp_path / "a.jsonl", [BERT])), {}))
    other = {**BERT, "abstract": "An unrelated abstract that happens to share the title with another paper."}
    planned = plan(_read(_write(tmp_path / "b.jsonl", [other])), stored)
    [add] = planned.add
    assert add.pid not in stored and add.pid.startswith("title:")  # the alternate id of a second paper
    assert planned.update == [] and planned.keep == []


def test_a_duplicate_across_files_is_a_merge(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", [ATTENTION, BERT])
    second = _write(tmp_path / "b.jsonl", [{**ATTENTION, "date": "2017-06-12"}])
    planned = plan(_read(first, second), {})
    assert (planned.records, planned.papers) == (3, 2)
    [merge] = planned.merges
    assert (merge.kept, merge.dropped) == (ATTENTION["title"], ATTENTION["title"])
    assert (merge.source, merge.line) == (path_text(second), 1)
    assert merge.reason == "same arxiv id 1706.03762"
    attention = planned.add[0]
    assert attention.paper.source == path_text(first) and attention.paper.date == "2017-06-12"  # the date filled in


def test_a_record_of_a_stored_paper_from_another_file_fills_it_and_is_kept(tmp_path: Path) -> None:
    stored = _stored(plan(_read(_write(tmp_path / "a.jsonl", [ATTENTION])), {}))
    second = _write(tmp_path / "b.jsonl", [{**ATTENTION, "date": "2017-06-12"}])
    planned = plan(_read(second), stored)
    [keep] = planned.keep
    assert keep.pid == "arxiv:1706.03762" and not keep.sentences
    assert keep.changes["date"] == "2017-06-12" and keep.changes["day"] == "2017-06-12"
    assert keep.changes["sources"] == sorted([path_text(tmp_path / "a.jsonl"), path_text(second)])
    [merge] = planned.merges
    assert merge.reason == "fills date of the indexed paper" and merge.source == path_text(second)
    assert planned.entries_changed and planned.changed == 0 and planned.to_embed() == []


def test_a_bad_record_is_skipped_naming_file_and_line(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, "{not json", {"title": "No abstract here"}, BERT])
    planned = plan(_read(source), {})
    assert [a.paper.title for a in planned.add] == [ATTENTION["title"], BERT["title"]]
    assert [(s.source, s.line) for s in planned.skipped] == [(path_text(source), 2), (path_text(source), 3)]
    assert all(s.reason for s in planned.skipped) and "has no abstract" in planned.skipped[1].reason
    assert planned.records == 2  # skipped records are not counted


def test_papers_stored_without_sentence_vectors_gain_them(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, BERT])
    stored = _stored(plan(_read(source), {}), sentences=False)
    planned = plan(_read(source), stored)
    assert [k.sentences for k in planned.keep] == [True, True] and planned.to_embed() == planned.keep
    assert not planned.entries_changed and planned.changed == 0
    without = plan(_read(source), stored, sentence_vectors=False)
    assert [k.sentences for k in without.keep] == [False, False] and without.to_embed() == []


def test_nothing_is_removed_unless_a_prune_asks(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [ATTENTION, BERT])
    elsewhere = _write(tmp_path / "c.jsonl", [RESNET])
    stored = _stored(plan(_read(source, elsewhere), {}))
    _write(source, [ATTENTION])  # BERT is no longer in a.jsonl
    assert plan(_read(source), stored).remove == []
    pruned = plan(_read(source), stored, prune_under=[source])
    [removed] = pruned.remove
    bert = next(pid for pid, e in stored.items() if e.title == BERT["title"])
    assert (removed.pid, removed.title, removed.sources) == (bert, BERT["title"], [path_text(source)])
    assert removed.as_dict() == {"id": bert, "title": BERT["title"], "sources": [path_text(source)]}
    assert pruned.trim == {} and pruned.kept_from_damaged == 0 and pruned.changed == 1  # c.jsonl's paper stays


def test_a_prune_keeps_a_paper_another_source_holds_with_fewer_sources(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.jsonl", [BERT])
    other = _write(tmp_path / "b.jsonl", [BERT])
    [add] = plan(_read(source), {}).add
    stored = {add.pid: _entry(add.paper, add.pid).model_copy(update={"sources": [path_text(source), path_text(other)]})}
    _write(source, [ATTENTION])
    planned = plan(_read(source), stored, prune_under=[source])
    assert planned.remove == [] and planned.trim == {add.pid: [path_text(other)]} and planned.entries_changed


def test_planning_loads_no_vector_store_and_no_model() -> None:
    code = (
        "import sys, ingest.plan\n"
        "heavy = ('chromadb', 'onnxruntime', 'torch', 'sentence_transformers', 'assistant.writer', "
        "'assistant.store', 'assistant.embedding', 'ingest.chunking')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
