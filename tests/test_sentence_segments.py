"""Sentence vectors segmented (issue 24, "sentence vectors segmented"): a base folder plus delta
folders (``assistant.sentsegments``), manifest format 3.

Real index (real Chroma, BM25, the packaged MiniLM, the product's own ``run_ingest``). A commit that
changes sentences writes only a small ``sentences-<gen>-delta/`` folder and leaves the base's files
as they were; a replaced paper's older rows (garbage) never show; a removed and re-added paper, or
one changed and changed back, shows exactly its listed rows and embeds nothing again; compaction
writes one new base; a lost folder is named and restored by ``ingest --repair``, re-embedding only
what it held; a format-2 index opens and becomes format 3 at its next commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import segments
from assistant.errors import IndexError_, IndexMismatchError
from assistant.manifest import MANIFEST_VERSION, load_manifest
from assistant.sentsegments import SentenceSegments
from assistant.sentvec import SentenceFile
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.pipeline import run_ingest
from tests.index_helpers import copy_index, index_ids, spy_on_encode, synthetic_papers, write_jsonl

PAPERS = synthetic_papers(24, seed=31)
LONG = {
    "title": "Calving Fronts of Tidal Glaciers",
    "abstract": (
        "Tidal glaciers lose ice where they meet the sea. We record calving events with seismometers. "
        "Large events follow warm ocean inflow within days. Smaller events track the tides. "
        "We release the catalogue of events."
    ),
}
SHORT = {**LONG, "abstract": "Tidal glaciers calve more often after warm inflow. Seismometers count the events."}


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _sha(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest()) for p in folder.iterdir()}


def _sentence_folders(index: Path) -> set[str]:
    return {p.name for p in index.glob("sentences-*")}


def _pid(index: Path, title: str) -> str:
    return next(pid for pid, e in load_manifest(index).papers.items() if e.title == title)


def _consistent(index: Path) -> None:
    """Catalog, BM25, chunks and visible sentences agree; the sentence folders hold exactly
    sentence_count + garbage rows, no unlisted id beyond the garbage, and no folder is left that
    neither this generation nor the previous one lists."""
    ids = index_ids(index)
    assert ids.consistent(), ids
    manifest = load_manifest(index)
    reader = PaperIndex(index, manifest)
    sentences = reader.sentences
    assert isinstance(sentences, SentenceSegments)
    listed = set(manifest.sentence_owner())
    assert (
        sentences.stored()
        == manifest.sentence_count + manifest.sentence_garbage
        == len(listed) + (manifest.sentence_garbage)
    )
    assert len(set(sentences.ids()) - listed) <= manifest.sentence_garbage
    assert _sentence_folders(index) <= manifest.kept_sentences()
    reader.check_complete()
    reader.close()


def _build(folder: Path) -> Path:
    """An index of 20 synthetic papers (``a.jsonl``) and LONG (``long.jsonl``) in ``folder``: one
    commit, one sentence base, no delta. A paper is replaced by editing the file it came from."""
    write_jsonl(folder / "a.jsonl", PAPERS[:20])
    write_jsonl(folder / "long.jsonl", [LONG])
    run_ingest([folder / "a.jsonl", folder / "long.jsonl"], _settings(folder / "index"))
    return folder / "index"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``_build`` once, for the tests that copy it and add or remove papers."""
    return _build(tmp_path_factory.mktemp("sentseg"))


def test_a_second_ingest_writes_a_small_delta_and_leaves_the_base_as_it_was(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    before = load_manifest(index)
    assert before.version == MANIFEST_VERSION == 3 and before.sentence_deltas == [] and before.sentence_garbage == 0
    base_files = _sha(index / str(before.sentence_dir))
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[20:22])], _settings(index))
    assert len(embedded) == 4  # two chunks and two sentences: nothing of the base again
    after = load_manifest(index)
    assert after.sentence_dir == before.sentence_dir
    assert after.sentence_deltas == [f"sentences-{after.generation}-delta"]
    assert after.previous_sentence_dir is None and after.sentence_garbage == 0
    assert _sha(index / str(after.sentence_dir)) == base_files  # the same files, the same bytes
    delta = SentenceFile(index / after.sentence_deltas[0])
    assert delta.count() == 2 and all(sid.split("#")[0] in after.papers for sid in delta.ids())
    reader = PaperIndex.open(_settings(index))
    assert reader.sentences.sizes() == [before.sentence_count, 2]
    new_pid = _pid(index, PAPERS[21]["title"])
    assert list(reader.sentence_vectors([new_pid])) == [new_pid]
    reader.close()
    _consistent(index)


def test_a_replaced_paper_with_a_shorter_abstract_shows_only_its_new_sentences(tmp_path: Path) -> None:
    index = _build(tmp_path)
    settings = _settings(index)
    pid = _pid(index, LONG["title"])
    old_ids = list(load_manifest(index).papers[pid].sentence_ids)
    assert len(old_ids) == 5
    report = run_ingest([write_jsonl(tmp_path / "long.jsonl", [SHORT])], settings)  # its file edited
    assert report.updated == 1
    manifest = load_manifest(index)
    assert _pid(index, LONG["title"]) == pid
    new_ids = list(manifest.papers[pid].sentence_ids)
    assert len(new_ids) == 2 and set(new_ids).isdisjoint(old_ids)
    assert len(manifest.sentence_deltas) == 1 and manifest.sentence_garbage == 5
    reader = PaperIndex.open(settings)
    assert set(old_ids) <= set(reader.sentences.ids())  # still stored in the base ...
    assert set(old_ids).isdisjoint(reader.stored_ids("sentences"))  # ... but not part of this generation
    texts, vectors = reader.sentence_vectors([pid])[pid]
    assert texts == ["Tidal glaciers calve more often after warm inflow.", "Seismometers count the events."]
    assert vectors.shape == (2, manifest.dimension)
    # searched with each old sentence's own vector: only the listed sentences come back
    old, other = reader.sentences.get(old_ids), _pid(index, PAPERS[0]["title"])
    listed = {*new_ids, *manifest.papers[other].sentence_ids}
    for sid in old_ids:
        hits = reader.sentence_hits(old[sid][1], [pid, other], 10)
        assert {h.chunk_id for h in hits} == listed and len(hits) == len(listed)
    reader.check_complete()
    reader.close()
    _consistent(index)


def _remove(index: Path, titles: list[str]) -> None:
    writer = IndexWriter.open_for_write(_settings(index), load_manifest(index).dimension)
    kept = writer.manifest.staged()
    for pid, entry in list(kept.papers.items()):
        if entry.title in titles:
            del kept.papers[pid]
    writer.commit(kept)
    writer.close()


def test_a_removed_then_re_added_paper_shows_its_rows_and_embeds_nothing(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    pid = _pid(index, LONG["title"])
    ids = list(load_manifest(index).papers[pid].sentence_ids)
    before = load_manifest(index)
    _remove(index, [LONG["title"]])
    removed = load_manifest(index)
    # a removal writes no sentence folder: the rows stay in the base as garbage
    assert removed.sentence_dir == before.sentence_dir and removed.sentence_deltas == []
    assert removed.sentence_garbage == 5 and removed.sentence_count == before.sentence_count - 5
    reader = PaperIndex.open(settings)
    assert reader.sentence_vectors([pid]) == {} and reader.sentence_hits(np.ones(384) / 384**0.5, [pid], 5) == []
    reader.close()
    _consistent(index)
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", [LONG])], settings)
    assert embedded == []  # its chunk and sentences were still stored (garbage): nothing embedded
    back = load_manifest(index)
    assert back.papers[pid].sentence_ids == ids and back.sentence_garbage == 0 and back.sentence_deltas == []
    reader = PaperIndex.open(settings)
    texts, _ = reader.sentence_vectors([pid])[pid]
    assert len(texts) == 5 and texts[0] == "Tidal glaciers lose ice where they meet the sea."
    reader.close()
    _consistent(index)


def test_a_paper_changed_and_changed_back_shows_its_older_rows_not_the_newer_folder(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest folder holding a paper's rows is not always where its rows are: changed back, a
    paper lists its first ids again (kept in the base), while a delta holds its abandoned ones."""
    index = _build(tmp_path)
    settings = _settings(index)
    monkeypatch.setattr(segments, "MAX_SHARE", 1.0)  # 2 delta rows + 5 garbage of 25: no compaction yet
    pid = _pid(index, LONG["title"])
    first = list(load_manifest(index).papers[pid].sentence_ids)
    run_ingest([write_jsonl(tmp_path / "long.jsonl", [SHORT])], settings)
    second = list(load_manifest(index).papers[pid].sentence_ids)
    assert set(second).isdisjoint(first)
    embedded = spy_on_encode(monkeypatch)
    assert run_ingest([write_jsonl(tmp_path / "long.jsonl", [LONG])], settings).updated == 1
    assert embedded == []
    manifest = load_manifest(index)
    assert manifest.papers[pid].sentence_ids == first and manifest.sentence_garbage == len(second)
    reader = PaperIndex.open(settings)
    assert reader.sentences.rows(second) and len(reader.sentences.parts) == 2  # the delta holds the second
    probe = reader.sentences.get(second)[second[0]][1]
    hits = reader.sentence_hits(probe, [pid], 10)
    assert sorted(h.chunk_id for h in hits) == sorted(first)
    assert len(reader.sentence_vectors([pid])[pid][0]) == 5
    reader.close()
    _consistent(index)


def test_compaction_writes_one_new_base_and_drops_the_deltas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = _build(tmp_path)
    settings = _settings(index)
    monkeypatch.setattr(segments, "MAX_DELTAS", 2)
    edited = [{**PAPERS[0], "abstract": PAPERS[0]["abstract"][:-1] + " again."}, *PAPERS[1:20]]
    run_ingest([write_jsonl(tmp_path / "a.jsonl", edited)], settings)  # a replacement: garbage too
    run_ingest([write_jsonl(tmp_path / "c.jsonl", PAPERS[20:21])], settings)
    two = load_manifest(index)
    assert len(two.sentence_deltas) == 2 and two.sentence_garbage == 1
    pid = _pid(index, PAPERS[0]["title"])
    reader = PaperIndex.open(settings)
    shown = reader.sentence_vectors([pid, _pid(index, PAPERS[3]["title"])])
    reader.close()
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "d.jsonl", PAPERS[21:22])], settings)
    assert len(embedded) == 2  # one chunk and one sentence: the compaction re-embeds nothing
    three = load_manifest(index)
    assert three.sentence_dir == f"sentences-{three.generation}" and three.sentence_deltas == []
    assert three.sentence_garbage == 0 and SentenceFile(index / three.sentence_dir).count() == three.sentence_count
    assert three.previous_sentence_dir == two.sentence_dir and three.previous_sentence_deltas == two.sentence_deltas
    # the previous generation's base and deltas stay on disk for a reader still on it, until the next commit
    assert _sentence_folders(index) == {three.sentence_dir, two.sentence_dir, *two.sentence_deltas}
    reader = PaperIndex.open(settings)
    again = reader.sentence_vectors([pid, _pid(index, PAPERS[3]["title"])])
    assert {k: v[0] for k, v in again.items()} == {k: v[0] for k, v in shown.items()}
    for k in shown:
        assert np.allclose(again[k][1], shown[k][1])
    reader.close()
    _consistent(index)
    run_ingest([write_jsonl(tmp_path / "e.jsonl", PAPERS[22:23])], settings)
    four = load_manifest(index)
    assert four.sentence_dir == three.sentence_dir and len(four.sentence_deltas) == 1
    assert _sentence_folders(index) == {four.sentence_dir, *four.sentence_deltas}  # the old ones are gone
    _consistent(index)


def test_the_share_of_sentence_deltas_and_garbage_compacts_the_sentences_alone(tmp_path: Path) -> None:
    index = _build(tmp_path)
    settings = _settings(index)
    run_ingest([write_jsonl(tmp_path / "long.jsonl", [SHORT])], settings)  # 2 delta rows + 5 garbage of 25
    mid = load_manifest(index)
    assert len(mid.sentence_deltas) == 1 and mid.sentence_garbage == 5
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[20:21])], settings)  # 7 > 25% of 25: compacted
    last = load_manifest(index)
    assert last.sentence_deltas == [] and last.sentence_garbage == 0 and last.sentence_dir != mid.sentence_dir
    assert last.chroma_dir == mid.chroma_dir and len(last.chroma_deltas) == 2  # the chunks' share is small
    _consistent(index)


def test_a_chunk_compaction_compacts_the_sentences_only_when_that_drops_something(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    monkeypatch.setattr(segments, "MAX_DELTAS", 0)  # every commit compacts the chunks
    before = load_manifest(index)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[20:21])], _settings(index))
    added = load_manifest(index)
    assert added.chroma_dir != before.chroma_dir and added.chroma_deltas == []
    # one sentence base, no garbage, nothing removed: a new base would be the same rows, so a delta
    assert added.sentence_dir == before.sentence_dir and len(added.sentence_deltas) == 1
    _remove(index, [LONG["title"]])  # makes 5 rows of garbage: compacted with the chunks
    removed = load_manifest(index)
    assert removed.sentence_dir == f"sentences-{removed.generation}" and removed.sentence_deltas == []
    assert removed.sentence_garbage == 0 and removed.sentence_count == added.sentence_count - 5
    assert SentenceFile(index / removed.sentence_dir).count() == removed.sentence_count
    _consistent(index)


@pytest.mark.parametrize("which", ["base", "delta"])
def test_a_lost_sentence_folder_is_named_and_repair_re_embeds_only_its_rows(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    sources = write_jsonl(tmp_path / "b.jsonl", PAPERS[20:23])
    run_ingest([sources], settings)
    manifest = load_manifest(index)
    lost = manifest.sentence_dir if which == "base" else manifest.sentence_deltas[0]
    held = SentenceFile(index / str(lost)).count()
    shutil.rmtree(index / str(lost))
    reader = PaperIndex.open(settings)
    with pytest.raises(IndexError_, match="ingest --repair"):
        reader.check_complete()
    reader.close()
    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([sources], settings, repair=True)
    assert len(embedded) == report.embedded == report.repaired == held  # the lost rows, nothing else
    repaired = load_manifest(index)
    assert repaired.sentence_deltas == [] and repaired.sentence_dir == f"sentences-{repaired.generation}"
    _consistent(index)


def test_rows_lost_from_a_delta_are_counted_and_re_embedded(built: Path, tmp_path: Path) -> None:
    from assistant.sentvec import PendingSentences, write_generation

    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    sources = write_jsonl(tmp_path / "b.jsonl", PAPERS[20:23])
    run_ingest([sources], settings)
    manifest = load_manifest(index)
    folder = index / manifest.sentence_deltas[0]
    ids = SentenceFile(folder).ids()
    write_generation(folder, SentenceFile(folder), ids[1:], PendingSentences(tmp_path / "none"), manifest.dimension)
    reader = PaperIndex.open(settings)
    with pytest.raises(IndexError_, match=r"lacks 1 of \d+ sentence vectors.*ingest --repair"):
        reader.check_complete()
    reader.close()
    report = run_ingest([sources], settings)  # a plain re-run
    assert report.repaired == report.embedded == 1
    _consistent(index)


def test_a_delta_a_killed_commit_left_is_invisible_and_removed(built: Path, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    manifest = load_manifest(index)
    ghost = f"sentences-{manifest.generation + 1}-delta"
    shutil.copytree(index / str(manifest.sentence_dir), index / ghost)  # renamed, but never named
    shutil.copytree(index / str(manifest.sentence_dir), index / (ghost + ".tmp"))  # still being built
    reader = PaperIndex.open(settings)
    assert len(reader.sentences.parts) == 1 and reader.sentences.count() == manifest.sentence_count
    reader.check_complete()
    reader.close()
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[20:21])], settings)
    after = load_manifest(index)
    assert after.sentence_deltas == [ghost] and SentenceFile(index / ghost).count() == 1  # written afresh
    assert not (index / (ghost + ".tmp")).exists()
    _consistent(index)


def test_a_format_2_index_opens_unchanged_and_becomes_format_3_at_its_next_commit(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    path = index / "manifest.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in SENTENCE_FORMAT_3}
    old["version"] = 2
    path.write_text(json.dumps(old))  # as the build before sentence deltas wrote it
    os.remove(index / "manifest.backup.json")
    reader = PaperIndex.open(settings)
    reader.check_complete()
    pid = _pid(index, LONG["title"])
    assert reader.manifest.version == 2 and len(reader.sentence_vectors([pid])[pid][0]) == 5
    reader.close()
    base_files = _sha(index / old["sentence_dir"])
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[20:21])], settings)
    assert len(embedded) == 2  # the new paper's chunk and sentence only
    upgraded = load_manifest(index)
    assert upgraded.version == 3 and upgraded.sentence_dir == old["sentence_dir"]
    assert len(upgraded.sentence_deltas) == 1 and _sha(index / old["sentence_dir"]) == base_files
    _consistent(index)


SENTENCE_FORMAT_3 = {"sentence_deltas", "previous_sentence_deltas", "sentence_garbage"}


def test_a_format_this_build_cannot_read_is_refused_with_rebuild(built: Path, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    path = index / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"version": 4}))
    with pytest.raises(IndexMismatchError, match=r"has format 4.*ingest --rebuild"):
        PaperIndex.open(_settings(index))
