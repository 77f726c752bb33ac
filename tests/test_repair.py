"""A damaged index: each kind of damage gives one clear message naming the fix, and ``ingest --repair``
(or the plain re-run) makes the index whole again, embedding only what is missing.

Real parts: Chroma, BM25, the packaged encoder, ``ask`` and ``ingest`` as the user runs them, over the
fixture corpus of tests/test_ui.py. The damage is done the way it happens: vectors deleted from the
store behind the manifest's back, a manifest overwritten or cut short, a folder removed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from servers import BIN, clean_env
from test_ui import MOE_Q, MOE_TITLE, PAPERS, write_corpus

from assistant.answer import AnswerChain
from assistant.chroma import chroma_client, collection_name
from assistant.manifest import BACKUP
from assistant.sentvec import PendingSentences, SentenceFile, write_generation
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings, load_settings
from assistant.store import PaperIndex
from ingest.pipeline import run_ingest


@pytest.fixture()
def built(tmp_path: Path) -> tuple[Settings, Path]:
    settings = load_settings(index=tmp_path / "index", embedding=EmbeddingSettings(), chunking=ChunkSettings())
    corpus = write_corpus(tmp_path / "corpus")
    assert run_ingest([corpus], settings).papers == len(PAPERS)
    return settings, corpus


def ask(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    root = settings.index.path.parent
    return subprocess.run(
        [str(BIN / "ask"), MOE_Q, "--index", str(settings.index.path), "--retrieve-only", *args],
        env=clean_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_clear_error(settings: Settings, *needles: str) -> str:
    done = ask(settings)
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def works(settings: Settings) -> None:
    done = ask(settings)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"[1] {MOE_TITLE}")
    index = PaperIndex.open(settings)
    index.check_complete()
    assert index.stored_ids() == set(index.owner) and index.stored_ids("sentences") == set(index.sentence_owner)


def delete_vectors(settings: Settings, kind: str, count: int) -> list[str]:
    """Remove ``count`` vectors of ``kind`` from the committed store, behind the manifest's back."""
    manifest = json.loads((settings.index.path / "manifest.json").read_text())
    if kind == "sentences":  # the committed sentences-<gen>/ folder, rewritten without them
        folder = settings.index.path / manifest["sentence_dir"]
        held = SentenceFile(folder)
        ids = held.ids()
        nothing = PendingSentences(folder.with_suffix(".none"))
        write_generation(folder, held, ids[count:], nothing, manifest["dimension"])
        return ids[:count]
    client = chroma_client(settings.index.path / manifest["chroma_dir"])
    name = collection_name(manifest["embedding_model"], manifest["chunk_size"], manifest["chunk_overlap"])
    store = client.get_collection(name + ("-sentences" if kind == "sentences" else ""), embedding_function=None)
    ids = sorted(store.get(include=[])["ids"])[:count]
    store.delete(ids=ids)
    client.close()
    return ids


@pytest.mark.parametrize(("kind", "what"), [("chunks", "chunks"), ("sentences", "sentence vectors")])
def test_missing_vectors_are_named_and_a_plain_rerun_re_embeds_only_them(built, kind: str, what: str) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    lost = delete_vectors(settings, kind, 3)
    one_clear_error(settings, "lacks 3 of", what, "ingest --repair")
    report = run_ingest([corpus], settings)  # the plain re-run
    assert report.repaired == 3 and report.embedded == 3 and report.added == report.updated == 0
    works(settings)
    index = PaperIndex.open(settings)
    assert set(lost) <= index.stored_ids(kind)


def test_a_corrupt_manifest_is_restored_from_its_backup(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    (settings.index.path / "manifest.json").write_bytes(b"\x00garbage{")
    one_clear_error(settings, "manifest", "is damaged", "ingest --repair")
    with pytest.raises(Exception, match="ingest --repair"):
        run_ingest([corpus], settings)  # without --repair: the same message, nothing touched
    report = run_ingest([corpus], settings, repair=True)
    assert report.restored == "backup" and report.embedded == 0
    works(settings)


def test_truncated_manifest_and_backup_are_rebuilt_from_the_sources_reusing_every_vector(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    for name in ("manifest.json", BACKUP):
        text = (settings.index.path / name).read_text()
        (settings.index.path / name).write_text(text[: len(text) // 2])
    one_clear_error(settings, "is damaged", "ingest --repair")
    done = subprocess.run(
        [str(BIN / "ingest"), str(corpus), "--index", str(settings.index.path), "--repair", "--json"],
        env=clean_env(settings.index.path.parent),
        cwd=settings.index.path.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["restored"] == "sources" and report["embedded"] == 0 and report["papers"] == len(PAPERS)
    works(settings)


def test_a_deleted_bm25_folder_is_named_and_rebuilt_without_embedding(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    generation = json.loads((settings.index.path / "manifest.json").read_text())["generation"]
    shutil.rmtree(settings.index.path / f"bm25-{generation}")
    one_clear_error(settings, "BM25 index", "is missing", "ingest --repair")
    report = run_ingest([corpus], settings, repair=True)
    assert report.embedded == 0 and report.restored == ""
    works(settings)


def test_a_chain_open_before_the_damage_reports_it_and_recovers_after_the_repair(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    chain = AnswerChain(settings)
    assert chain.retrieve(MOE_Q).sources[0].title == MOE_TITLE
    delete_vectors(settings, "chunks", 2)
    run_ingest([corpus], settings)  # repaired while the chain is open: it moves to the new generation
    assert chain.retrieve(MOE_Q).sources[0].title == MOE_TITLE


def ingest_cli(settings: Settings, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    root = cwd or settings.index.path.parent
    return subprocess.run(
        [str(BIN / "ingest"), *args, "--json"],
        env=clean_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_deleted_manifest_is_named_and_a_plain_run_restores_its_backup(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    (settings.index.path / "manifest.json").unlink()
    one_clear_error(settings, "manifest", "is missing", "ingest --repair")  # not "run ingest first"
    report = run_ingest([corpus], settings)
    assert report.restored == "backup" and report.embedded == 0 and report.added == 0
    works(settings)


def test_repair_alone_needs_no_source_paths_from_any_folder(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    delete_vectors(settings, "chunks", 2)
    generation = json.loads((settings.index.path / "manifest.json").read_text())["generation"]
    shutil.rmtree(settings.index.path / f"bm25-{generation}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = ingest_cli(settings, "--repair", "--index", str(settings.index.path), cwd=elsewhere)  # no data/ here
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["repaired"] == 2 and report["embedded"] == 2 and report["papers"] == 0
    works(settings)


def test_a_lost_vector_store_is_rebuilt_from_the_previous_one(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    extra = corpus.parent / "extra.jsonl"
    extra.write_text(json.dumps({"title": "Kelp Forest Acoustics", "abstract": "We map kelp by sound."}) + "\n")
    run_ingest([extra], settings)  # generation 2, in a delta store beside generation 1's (the base)
    manifest = json.loads((settings.index.path / "manifest.json").read_text())
    # the store generation 2 wrote is lost (a delta; a copy of the base before segments)
    shutil.rmtree(settings.index.path / (manifest["chroma_deltas"] or [manifest["chroma_dir"]])[-1])
    one_clear_error(settings, "vector store", "is missing", "ingest --repair")
    report = run_ingest([], settings, repair=True)
    assert report.restored == "store" and 0 < report.embedded <= 6  # the one paper the old store lacked
    works(settings)


def test_rebuilding_from_too_few_sources_says_which_papers_are_left_out(built) -> None:  # type: ignore[no-untyped-def]
    settings, corpus = built
    extra = corpus.parent / "extra.jsonl"
    extra.write_text(json.dumps({"title": "Kelp Forest Acoustics", "abstract": "We map kelp by sound."}) + "\n")
    run_ingest([extra], settings)
    for name in ("manifest.json", BACKUP):
        (settings.index.path / name).write_text("{")
    done = ingest_cli(settings, "--repair", "--index", str(settings.index.path))
    assert done.returncode == 1 and "give the source paths" in done.stderr
    report = run_ingest([corpus], settings, repair=True)  # the extra file is not given
    assert report.restored == "sources" and report.embedded == 0 and len(report.unrecovered) == 1


def test_a_relative_index_path_is_probed_where_it_is(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The store probe runs in a child process with another working directory: it must get an absolute path."""
    settings, corpus = built
    for name in ("manifest.json", BACKUP):
        (settings.index.path / name).unlink()
    done = ingest_cli(settings, str(corpus), "--repair", "--index", "index")  # relative to its cwd
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["restored"] == "sources" and json.loads(done.stdout)["embedded"] == 0
    repo = Path(__file__).resolve().parent.parent
    assert not (repo / "index").exists()  # nothing created beside the code
    works(settings)


def test_repair_with_no_index_says_so(tmp_path: Path) -> None:
    settings = load_settings(index=tmp_path / "nothing", embedding=EmbeddingSettings(), chunking=ChunkSettings())
    with pytest.raises(Exception, match=r"no index at .* to repair"):
        run_ingest([], settings, repair=True)
    assert not (tmp_path / "nothing").exists()


def test_with_no_store_left_every_vector_is_re_embedded_from_the_manifest(built) -> None:  # type: ignore[no-untyped-def]
    settings, _ = built
    manifest = json.loads((settings.index.path / "manifest.json").read_text())
    shutil.rmtree(settings.index.path / manifest["chroma_dir"])  # a one-generation index: no previous store
    one_clear_error(settings, "vector store", "is missing", "ingest --repair")
    report = run_ingest([], settings, repair=True)
    listed = manifest["chunk_count"] + manifest["sentence_count"]
    assert report.restored == "store" and report.embedded == report.repaired == listed
    works(settings)
