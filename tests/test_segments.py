"""Commits without copying the store (issue 24, item 3): append-only delta stores (``assistant.segments``).

Real index (real Chroma, BM25 and the packaged MiniLM); the papers are short synthetic ones, one
chunk each. A second ingest adds a delta and leaves every file of the base store as it was; garbage
(replaced and removed papers' vectors, left in older stores) never shows; a killed or abandoned
writer's delta is invisible and removed; compaction writes a new base and keeps the results; an
index of one store (before segments) opens and gains its first delta without re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant import segments, storage
from assistant.chroma import chroma_client
from assistant.manifest import load_manifest
from assistant.segments import Segments, nearest
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.pipeline import run_ingest
from tests.index_helpers import copy_index, index_ids, spy_on_encode, synthetic_papers, write_jsonl

PAPERS = synthetic_papers(44, seed=24)
HNSW = ("data_level0.bin", "header.bin", "link_lists.bin")  # a store's vectors and graph


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _files(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder``: (inode, size, sha256 of its bytes)."""
    out = {}
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(folder))] = (st.st_ino, st.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def _stores(index: Path) -> set[str]:
    return {p.name for p in index.glob("chroma*") if p.is_dir()}


def _consistent(index: Path) -> None:
    """Catalog, BM25 and visible vectors agree; the stores hold exactly chunk_count + garbage vectors."""
    ids = index_ids(index)
    assert ids.consistent(), ids
    manifest = load_manifest(index)
    reader = PaperIndex(index, manifest)
    assert reader.collection.stored() == manifest.chunk_count + manifest.chunk_garbage
    assert _stores(index) <= manifest.kept_stores()
    reader.close()


def _pid(index: Path, title: str) -> str:
    return next(pid for pid, e in load_manifest(index).papers.items() if e.title == title)


def _top(index: Path, titles: list[str]) -> list[str]:
    """The paper found first by dense search for each title's own text."""
    from assistant import embedding

    settings = _settings(index)
    reader = PaperIndex.open(settings)
    vectors = embedding.QueryEncoder(settings.embedding.model, settings.cache).encode_many(titles)
    out = [reader.dense(v, 3)[0].paper_id for v in vectors]
    reader.close()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the first 40 papers (one commit: one base store, no delta)."""
    base = tmp_path_factory.mktemp("segments")
    run_ingest([write_jsonl(base / "a.jsonl", PAPERS[:40])], _settings(base / "index"))
    return base / "index"


def test_a_second_ingest_adds_a_delta_and_writes_no_copy_of_the_base(built: Path, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    before = load_manifest(index)
    assert before.chroma_deltas == [] and _stores(index) == {before.chroma_dir}
    hnsw_before = {k: v[:2] for k, v in _files(index / before.chroma_dir).items() if k.endswith(HNSW)}
    inodes_before = {k: v[0] for k, v in _files(index / before.chroma_dir).items()}
    base_bytes = sum(v[1] for v in _files(index / before.chroma_dir).values())

    report = run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[40:41])], _settings(index))
    assert report.added == 1
    after = load_manifest(index)
    assert after.chroma_dir == before.chroma_dir and len(after.chroma_deltas) == 1
    assert after.chroma_deltas[0].endswith("-delta") and after.previous_chroma_dir is None
    assert _stores(index) == {after.chroma_dir, after.chroma_deltas[0]}  # no copy of the base anywhere
    # the base's files are the same files (no copy, no rename) and its vectors and graph the same size.
    # (Bytes say nothing: Chroma itself re-flushes a store's files when a client opens it, a plain
    # reader's too, applying what its log holds, so length.bin, its SQLite file, and after a build the
    # HNSW files change on the first open: as they always did for every reader.)
    assert {k: v[0] for k, v in _files(index / before.chroma_dir).items()} == inodes_before
    assert {k: v[:2] for k, v in _files(index / after.chroma_dir).items() if k.endswith(HNSW)} == hnsw_before
    reader = PaperIndex.open(_settings(index))
    assert reader.collection.sizes() == [40, 1]  # the base holds what it held; the delta the new paper
    reader.close()
    delta_bytes = sum(v[1] for v in _files(index / after.chroma_deltas[0]).values())
    assert delta_bytes < base_bytes
    _consistent(index)
    titles = [PAPERS[40]["title"], PAPERS[3]["title"]]
    assert _top(index, titles) == [_pid(index, t) for t in titles]


def test_garbage_never_shows_and_never_crowds_out_a_visible_hit(tmp_path: Path) -> None:
    index = tmp_path / "index"
    settings = _settings(index)
    run_ingest([write_jsonl(tmp_path / "a.jsonl", PAPERS[:40])], settings)
    edited = [{**p, "abstract": p["abstract"][:-1] + " again."} if i < 3 else p for i, p in enumerate(PAPERS[:40])]
    old = load_manifest(index)
    old_chunks = {c for e in old.papers.values() if e.title in {p["title"] for p in PAPERS[:3]} for c in e.chunk_ids}
    run_ingest([write_jsonl(tmp_path / "a.jsonl", edited)], settings)  # three papers replaced in place
    manifest = load_manifest(index)
    assert len(manifest.chroma_deltas) == 1 and manifest.chunk_garbage == len(old_chunks) == 3
    reader = PaperIndex.open(settings)
    assert old_chunks <= reader.collection.ids()  # still stored in the base ...
    assert old_chunks.isdisjoint(reader.stored_ids())  # ... but not part of this generation
    got = reader.collection.parts[0].get(ids=sorted(old_chunks), include=["embeddings"])
    for vector in np.asarray(got["embeddings"], dtype="float32"):
        hits = reader.dense(vector, 5)
        assert len(hits) == 5 and old_chunks.isdisjoint(h.chunk_id for h in hits)
        assert all(h.chunk_id in reader.owners([h.chunk_id]) for h in hits)
    assert not old_chunks & set(reader.chunk_texts(sorted(old_chunks))) - reader.collection.ids()
    reader.check_complete()
    reader.close()
    _consistent(index)


def test_nearest_asks_again_until_garbage_cannot_crowd_out(tmp_path: Path) -> None:
    """A real Chroma store whose 60 vectors nearest the query are all garbage: the n visible ones
    returned are exactly the n nearest visible ones (found by brute force)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = vectors[0]
    order = np.argsort(-(vectors @ query))
    garbage = {f"p{i}#0:0" for i in order[:60]}
    client = chroma_client(tmp_path / "store")
    part = client.get_or_create_collection(
        "chunks", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    part.upsert(ids=[f"p{i}#0:0" for i in range(300)], embeddings=vectors)
    store = Segments([part], garbage=len(garbage))
    found = nearest(store, query, 5, None, lambda ids: {i: i.split("#")[0] for i in ids if i not in garbage})
    expected = [f"p{i}#0:0" for i in order if f"p{i}#0:0" not in garbage][:5]
    assert [uid for uid, _, _ in found] == expected
    client.close()


def test_a_killed_or_abandoned_delta_is_invisible_and_removed(built: Path, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    manifest = load_manifest(index)
    ghost = "ghost-paper#00000000:0"
    writer = IndexWriter.open_for_write(settings, manifest.dimension)
    writer.begin()
    delta = writer._work
    assert delta is not None and (index / delta).is_dir()
    assert json.loads((index / "next-store.json").read_text())["chroma_dir"] == delta
    vector = np.ones((1, manifest.dimension), dtype="float32") / np.sqrt(manifest.dimension)
    meta = {"paper_id": "ghost-paper", "title": "Ghost", "date": "", "source": "", "position": 0}
    writer.upsert([ghost], vector, ["a ghost chunk"], [meta])
    writer.close()  # as if killed: nothing committed
    reader = PaperIndex.open(settings)
    assert delta not in reader.manifest.kept_stores() and len(reader.collection.parts) == 1
    assert all(h.chunk_id != ghost for h in reader.dense(vector[0], 10))
    reader.close()
    # an abandoned writer (a full disk) removes its delta at once
    writer = IndexWriter.open_for_write(settings, manifest.dimension)
    writer.begin()
    assert writer._work == delta  # the killed run's delta probes healthy: reused
    writer.abandon()
    writer.close()
    assert not (index / delta).exists() and not (index / "next-store.json").exists()
    # a killed one is removed (or reused, its vectors counted as garbage) by the next run
    writer = IndexWriter.open_for_write(settings, manifest.dimension)
    writer.begin()
    writer.upsert([ghost], vector, ["a ghost chunk"], [meta])
    writer.close()
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[41:42])], settings)
    after = load_manifest(index)
    assert ghost not in {c for e in after.papers.values() for c in e.chunk_ids}
    assert _stores(index) <= after.kept_stores() and not (index / "next-store.json").exists()
    _consistent(index)


def test_compaction_writes_a_new_base_and_keeps_the_results(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    monkeypatch.setattr(segments, "MAX_DELTAS", 2)
    for i in (40, 41):
        run_ingest([write_jsonl(tmp_path / f"n{i}.jsonl", [PAPERS[i]])], settings)
    two = load_manifest(index)
    assert len(two.chroma_deltas) == 2
    titles = [p["title"] for p in PAPERS[:42:5]]
    before = _top(index, titles)
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "n42.jsonl", [PAPERS[42]])], settings)
    assert len(embedded) == 2  # one chunk and one sentence: the compaction re-embeds nothing
    three = load_manifest(index)
    assert three.chroma_dir != two.chroma_dir and three.chroma_deltas == [] and three.chunk_garbage == 0
    assert three.previous_chroma_dir == two.chroma_dir and three.previous_chroma_deltas == two.chroma_deltas
    assert _top(index, titles) == before
    _consistent(index)
    run_ingest([write_jsonl(tmp_path / "n43.jsonl", [PAPERS[43]])], settings)
    four = load_manifest(index)
    assert four.chroma_dir == three.chroma_dir and len(four.chroma_deltas) == 1
    assert _stores(index) == {four.chroma_dir, *four.chroma_deltas}  # the old base and deltas are gone
    _consistent(index)


def test_the_share_of_deltas_and_garbage_triggers_compaction(tmp_path: Path) -> None:
    index = tmp_path / "index"
    settings = _settings(index)
    run_ingest([write_jsonl(tmp_path / "a.jsonl", PAPERS[:40])], settings)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[40:44])], settings)  # 4 of 40: 10%
    # 11 of 40 papers replaced: 4 delta vectors + 11 garbage > 25% of the base's 40
    edited = [{**p, "abstract": p["abstract"][:-1] + " anew."} if i < 11 else p for i, p in enumerate(PAPERS[:40])]
    run_ingest([write_jsonl(tmp_path / "a.jsonl", edited)], settings)
    mid = load_manifest(index)
    assert len(mid.chroma_deltas) == 2 and mid.chunk_garbage == 11
    run_ingest([write_jsonl(tmp_path / "c.jsonl", [{"title": "Dune Migration", "abstract": "Dunes move."}])], settings)
    last = load_manifest(index)
    assert last.chroma_deltas == [] and last.chunk_garbage == 0 and last.chroma_dir != mid.chroma_dir
    _consistent(index)


def test_an_index_of_one_store_opens_and_upgrades_without_re_embedding(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    path = index / "manifest.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if "deltas" not in k and k != "chunk_garbage"}
    path.write_text(json.dumps(old))  # as the version before segments wrote it
    os.remove(index / "manifest.backup.json")
    assert _top(index, [PAPERS[7]["title"]]) == [_pid(index, PAPERS[7]["title"])]
    embedded = spy_on_encode(monkeypatch)
    run_ingest([write_jsonl(tmp_path / "b.jsonl", PAPERS[40:41])], settings)
    assert len(embedded) == 2
    upgraded = load_manifest(index)
    assert upgraded.chroma_dir == old["chroma_dir"] and len(upgraded.chroma_deltas) == 1
    _consistent(index)


def test_a_compaction_that_does_not_fit_waits_and_the_run_writes_a_delta(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    monkeypatch.setattr(segments, "MAX_DELTAS", 1)
    run_ingest([write_jsonl(tmp_path / "n40.jsonl", [PAPERS[40]])], settings)
    one = load_manifest(index)
    assert len(one.chroma_deltas) == 1  # the next commit is due to compact
    base = storage.folder_size(index / one.chroma_dir)
    # room for a small delta, not for a copy of the base: the compaction waits, nothing is refused
    monkeypatch.setattr(storage, "free_space", lambda path: storage.MARGIN + base // 2)
    report = run_ingest([write_jsonl(tmp_path / "n41.jsonl", [PAPERS[41]])], settings)
    assert report.added == 1
    two = load_manifest(index)
    assert two.chroma_dir == one.chroma_dir and len(two.chroma_deltas) == 2
    _consistent(index)
    # with room again the next run compacts
    monkeypatch.undo()
    monkeypatch.setattr(segments, "MAX_DELTAS", 1)
    run_ingest([write_jsonl(tmp_path / "n42.jsonl", [PAPERS[42]])], settings)
    three = load_manifest(index)
    assert three.chroma_dir != one.chroma_dir and three.chroma_deltas == []
    _consistent(index)


def test_a_lost_delta_is_reported_as_what_it_held_not_the_whole_index(built: Path, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    settings = _settings(index)
    run_ingest([write_jsonl(tmp_path / "n40.jsonl", [PAPERS[40]])], settings)
    manifest = load_manifest(index)
    shutil.rmtree(index / manifest.chroma_deltas[0])  # one paper's chunk vectors (its sentences stay)
    report = run_ingest([write_jsonl(tmp_path / "n40.jsonl", [PAPERS[40]])], settings)  # a plain re-run
    assert report.repaired == report.embedded >= 1
    assert report.repaired < 10  # the 40 papers of the base were never lost (was: every vector of the index)
    _consistent(index)
