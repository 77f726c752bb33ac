"""Sentence vectors in memory-mapped arrays (``assistant.sentvec``): written under a temporary name,
read by id, damage named with its repair, and an index whose sentences are still in Chroma answering
and moved out at its next commit. Real parts: numpy files; Chroma and the encoder in the last test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import IndexError_
from assistant.sentvec import PendingSentences, SentenceFile, newest_folder, write_generation
from assistant.storage import clear_staging

DIM = 4


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype="float32")
    return v / np.linalg.norm(v)


def build(root: Path, name: str, rows: dict[str, tuple[str, np.ndarray]], base: SentenceFile | None = None) -> Path:
    pending = PendingSentences(root / f"{name}.parts.tmp")
    ids = sorted(rows)
    pending.add(ids, np.stack([rows[i][1] for i in ids]), [rows[i][0] for i in ids])
    keep = base.ids() if base is not None else []
    write_generation(root / name, base, keep, pending, DIM)
    pending.discard()  # what the writer's commit does after writing
    return root / name


ROWS = {
    "arxiv:2#aa:s1": ("Second sentence, ünïcode.", unit(0, 1, 0, 0)),
    "arxiv:2#aa:s0": ("First.", unit(1, 0, 0, 0)),
    "doi:10.1/x#bb:s0": ("", unit(1, 1, 1, 1)),  # an empty text stays empty
}


def test_rows_are_read_by_id_with_their_text_and_float32_vectors(tmp_path: Path) -> None:
    folder = build(tmp_path, "sentences-1", ROWS)
    assert sorted(p.name for p in folder.iterdir()) == ["ids.npy", "offsets.npy", "texts.bin", "vectors.npy"]
    assert not list(tmp_path.glob("*.tmp"))  # the build folder was renamed into place
    store = SentenceFile(folder)
    assert store.count() == 3 and store.ids() == sorted(ROWS)
    got = store.get(["doi:10.1/x#bb:s0", "arxiv:2#aa:s1", "missing#cc:s0", "arxiv:2#aa:s1-longer-than-any-id"])
    assert set(got) == {"doi:10.1/x#bb:s0", "arxiv:2#aa:s1"}
    for sid, (text, vector) in got.items():
        assert text == ROWS[sid][0] and vector.dtype == np.float32 and vector.shape == (DIM,)
        assert np.abs(vector - ROWS[sid][1]).max() < 1e-3  # stored as float16
    assert np.load(folder / "vectors.npy", mmap_mode="r").dtype == np.float16
    assert store.get([]) == {} and store.rows([]) == {}


def test_a_new_generation_keeps_the_rows_named_and_staged_rows_win(tmp_path: Path) -> None:
    first = SentenceFile(build(tmp_path, "sentences-1", ROWS))
    pending = PendingSentences(tmp_path / "sentences-2.parts.tmp")
    pending.add(["arxiv:2#aa:s0", "new#dd:s0"], np.stack([unit(0, 0, 1, 0), unit(0, 0, 0, 1)]), ["Changed.", "New."])
    assert pending.known == {"arxiv:2#aa:s0", "new#dd:s0"}
    written = write_generation(tmp_path / "sentences-2", first, ["arxiv:2#aa:s0", "arxiv:2#aa:s1"], pending, DIM)
    second = SentenceFile(tmp_path / "sentences-2")
    assert written == 3 and second.ids() == ["arxiv:2#aa:s0", "arxiv:2#aa:s1", "new#dd:s0"]
    assert second.get(["arxiv:2#aa:s0"])["arxiv:2#aa:s0"][0] == "Changed."
    assert first.count() == 3  # the committed generation is untouched (readers keep using it)
    assert newest_folder(tmp_path) == "sentences-2"


def test_damage_is_an_index_error_naming_the_repair(tmp_path: Path) -> None:
    folder = build(tmp_path, "sentences-1", ROWS)
    (folder / "offsets.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexError_, match="ingest --repair"):
        SentenceFile(folder).count()
    shutil.rmtree(folder)
    with pytest.raises(IndexError_, match="missing or damaged"):
        SentenceFile(folder).get(["arxiv:2#aa:s0"])
    good = build(tmp_path, "sentences-2", ROWS)
    np.save(good / "offsets.npy", np.zeros(2, dtype="int64"))  # lengths that disagree
    with pytest.raises(IndexError_, match="disagree"):
        SentenceFile(good).count()
    assert newest_folder(tmp_path) is None  # neither folder is readable


def test_a_killed_write_leaves_only_temporary_names_that_clear_staging_removes(tmp_path: Path) -> None:
    pending = PendingSentences(tmp_path / "sentences-3.parts.tmp")
    pending.add(["a#x:s0"], unit(1, 0, 0, 0)[None, :], ["A."])
    (tmp_path / "sentences-3.tmp").mkdir()  # a build killed half-way
    (tmp_path / "sentences-3.tmp" / "ids.npy").write_bytes(b"half")
    kept = build(tmp_path, "sentences-2", ROWS)
    assert sorted(clear_staging(tmp_path)) == ["sentences-3.parts.tmp", "sentences-3.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]


def test_an_index_with_sentences_in_chroma_answers_and_its_next_ingest_moves_them(tmp_path: Path) -> None:
    """An index built before assistant.sentvec (made here by moving the rows back into a Chroma
    collection named as the old code named it): readers use that collection; the next ingest writes
    a sentences-<gen>/ folder with the same rows, embeds nothing, and drops the collection."""
    from tests.test_ingest_index import _settings, _three_papers, OLD  # noqa: I001
    from tests.index_helpers import write_jsonl

    from assistant.chroma import chroma_client, collection_name
    from assistant.store import PaperIndex
    from ingest.pipeline import run_ingest

    settings = _settings(tmp_path / "index")
    src = write_jsonl(tmp_path / "papers.jsonl", _three_papers(OLD))
    run_ingest([src], settings)
    root = settings.index.path
    manifest = json.loads((root / "manifest.json").read_text())
    rows = SentenceFile(root / manifest["sentence_dir"]).get(SentenceFile(root / manifest["sentence_dir"]).ids())
    client = chroma_client(root / manifest["chroma_dir"])
    name = collection_name(manifest["embedding_model"], manifest["chunk_size"], manifest["chunk_overlap"])
    old = client.get_or_create_collection(name + "-sentences", embedding_function=None)
    old.upsert(ids=list(rows), embeddings=[v for _, v in rows.values()], documents=[t for t, _ in rows.values()])
    client.close()
    shutil.rmtree(root / manifest["sentence_dir"])
    manifest["sentence_dir"] = manifest["previous_sentence_dir"] = None
    (root / "manifest.json").write_text(json.dumps(manifest))

    index = PaperIndex.open(settings)
    index.check_complete()
    assert index.legacy_sentences and index.stored_ids("sentences") == set(rows)
    pid = next(iter(index.manifest.papers.keys()))
    texts, vectors = index.sentence_vectors([pid])[pid]
    assert texts == [rows[s][0] for s in index.manifest.papers[pid].sentence_ids] and vectors.dtype == np.float32
    index.close()

    report = run_ingest([src], settings)
    assert report.embedded == 0
    moved = PaperIndex.open(settings)
    assert not moved.legacy_sentences and moved.manifest.sentence_dir == f"sentences-{moved.manifest.generation}"
    assert moved.stored_ids("sentences") == set(rows) == set(moved.sentence_owner)
    got = moved.sentence_vectors([pid])[pid]
    assert got[0] == texts and np.abs(got[1] - vectors).max() < 1e-3
    client = chroma_client(root / moved.manifest.chroma_dir)
    assert name + "-sentences" not in [c.name for c in client.list_collections()]
    client.close()
    moved.close()


def test_nearest_scores_exactly_the_sentences_of_the_papers_asked_for(tmp_path: Path) -> None:
    rows = dict(ROWS) | {"arxiv:2#cc#dd:s0": ("A paper whose id holds '#'.", unit(1, 0, 0, 0))}
    store = SentenceFile(build(tmp_path, "sentences-1", rows))
    query = unit(1, 0.5, 0, 0)
    got = store.nearest(query, ["arxiv:2", "doi:10.1/x", "absent"], 10)
    want = sorted(
        (
            (sid, pid, float(rows[sid][1] @ query))
            for sid, pid in [
                ("arxiv:2#aa:s0", "arxiv:2"),
                ("arxiv:2#aa:s1", "arxiv:2"),
                ("doi:10.1/x#bb:s0", "doi:10.1/x"),
            ]
        ),
        key=lambda hit: (-hit[2], hit[0]),
    )
    assert [(s, p) for s, p, _ in got] == [(s, p) for s, p, _ in want]  # not the "arxiv:2#cc" paper's row
    assert all(abs(g[2] - w[2]) < 1e-3 for g, w in zip(got, want, strict=True))
    assert [s for s, _, _ in store.nearest(query, ["arxiv:2#cc"], 1)] == ["arxiv:2#cc#dd:s0"]
    assert len(store.nearest(query, ["arxiv:2", "doi:10.1/x"], 2)) == 2 and store.nearest(query, [], 5) == []
