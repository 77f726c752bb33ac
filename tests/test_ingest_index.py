"""Ingest into a real index: corpus counts, incremental re-runs, changed papers, bad input, the CLI,
the writer lock and model/chunking mismatches. Real Chroma, real BM25, the real packaged MiniLM."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant import embedding
from assistant.errors import IndexLockedError, IndexMismatchError, InputError
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from ingest.cli import main
from ingest.lock import writer_lock
from ingest.pipeline import run_ingest
from tests.index_helpers import (
    BAD_FIXTURE_SKIPS,
    DATA,
    copy_index,
    index_ids,
    isolate_settings_env,
    query_in_new_process,
    read_manifest,
    spy_on_encode,
    write_jsonl,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPORT_KEYS = {
    "records",
    "papers",
    "duplicates",
    "calibration",
    "added",
    "updated",
    "unchanged",
    "removed",
    "kept_from_damaged",
    "pruned",
    "embedded",
    "repaired",
    "restored",
    "unrecovered",
    "skipped",
    "merged",
    "seconds",
}


def _settings(index: Path, **overrides: Any) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings(), **overrides)


@pytest.fixture(scope="module")
def model(corpus_index):  # type: ignore[no-untyped-def]
    settings, _ = corpus_index
    return embedding.load_model(settings.embedding.model, settings.cache)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Any]:
    """Every format in tests/fixtures/ingest/ ingested once (14 papers, one orphan title skipped)."""
    settings = _settings(tmp_path_factory.mktemp("small") / "index")
    return settings, run_ingest([FIXTURES / "ingest"], settings)


# -- the bundled corpus --------------------------------------------------------------------------


def test_corpus_counts(corpus_index) -> None:  # type: ignore[no-untyped-def]
    settings, report = corpus_index
    assert (report.records, report.papers, report.duplicates) == (557, 502, 55)
    assert (report.added, report.updated, report.unchanged, report.removed) == (502, 0, 0, 0)
    assert report.skipped == []
    manifest = read_manifest(settings.index.path)
    assert len(manifest.papers) == 502
    assert manifest.embedding_model == "all-MiniLM-L6-v2" and manifest.dimension == 384
    ids = index_ids(settings.index.path)
    assert ids.consistent()
    assert len(ids.manifest) >= 502


def test_second_run_over_corpus_embeds_nothing(corpus_index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, _ = corpus_index
    before = index_ids(settings.index.path)
    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([DATA], settings)
    assert (report.records, report.papers, report.duplicates) == (557, 502, 55)
    assert (report.added, report.updated, report.unchanged, report.removed) == (0, 0, 502, 0)
    assert embedded == []
    after = index_ids(settings.index.path)
    assert after == before  # same Chroma ids, same manifest, same BM25, no new generation


def test_run_with_one_new_paper_embeds_only_that_paper(corpus_index, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, _ = corpus_index
    index = copy_index(settings.index.path, tmp_path / "index")
    before = index_ids(index)
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    new = {
        "title": "Tide-Aware Routing for Autonomous Ferries",
        "abstract": "We plan ferry routes that exploit tidal currents with a learned current model, cutting "
        "fuel use by a fifth on a harbour simulator calibrated with two years of sensor data.",
    }
    write_jsonl(data / "new.jsonl", [new])
    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([data], _settings(index))
    assert (report.records, report.papers, report.duplicates) == (558, 503, 55)
    assert (report.added, report.updated, report.unchanged) == (1, 0, 502)
    # only the new paper is embedded: its chunks (title + text) and its evidence sentences
    assert embedded and all(_of_paper(text, new) for text in embedded)
    after = index_ids(index)
    assert after.consistent()
    added = after.chroma - before.chroma
    added_sentences = after.chroma_sentences - before.chroma_sentences
    assert before.chroma < after.chroma and len(added) + len(added_sentences) == len(embedded)
    assert after.generation == before.generation + 1


def test_corpus_index_reopens_in_a_new_process(corpus_index, model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Fewer than 1,000 chunks: Chroma has not flushed its HNSW index; a new process must still see all."""
    settings, _ = corpus_index
    manifest = read_manifest(settings.index.path)
    total = sum(len(e.chunk_ids) for e in manifest.papers.values())
    assert total < 1000
    pids = list(manifest.papers)
    picked = [pids[0], pids[len(pids) // 2], pids[-1]]
    texts = [f"{manifest.papers[p].title}\n{manifest.papers[p].abstract}" for p in picked]
    out = query_in_new_process(settings.index.path, embedding.encode(model, texts, 8), texts, tmp_path)
    assert out["count"] == total
    assert [hits[0][0] for hits in out["dense"]] == picked
    assert all(hits[0][1] > 0.8 for hits in out["dense"])
    assert [hits[0] for hits in out["sparse"]] == picked


def _of_paper(text: str, paper: dict[str, str]) -> bool:
    """An embedded text belongs to ``paper``: one of its chunks or one of its abstract's sentences."""
    return text.startswith(paper["title"] + "\n") or text in paper["abstract"]


# -- a changed paper; pruning --------------------------------------------------------------------

OLD = "We study zebrafish fin regeneration with a graph neural network over cell lineages."
NEW = " ".join(
    f"Quokka burrows in region {i} are mapped from drone imagery with a segmentation network, and the "
    "population estimate improves over manual counts by a wide margin."
    for i in range(12)
)


def _three_papers(abstract_b: str) -> list[dict[str, str]]:
    return [
        {"title": "Paper A on Kernel Methods", "abstract": "We revisit random features for kernel ridge regression."},
        {"title": "Paper B on Animal Ecology", "abstract": abstract_b},
        {"title": "Paper C on Compilers", "abstract": "We schedule tensor programs with a learned cost model."},
    ]


def test_changed_abstract_replaces_its_chunks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    src = write_jsonl(tmp_path / "papers.jsonl", _three_papers(OLD))
    run_ingest([src], settings)
    manifest = read_manifest(settings.index.path)
    pid_b = next(p for p, e in manifest.papers.items() if e.title == "Paper B on Animal Ecology")
    old_chunks = set(manifest.papers[pid_b].chunk_ids)
    before = index_ids(settings.index.path)

    write_jsonl(src, _three_papers(NEW))
    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([src], settings)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert embedded and all(_of_paper(t, {"title": "Paper B on Animal Ecology", "abstract": NEW}) for t in embedded)

    after = index_ids(settings.index.path)
    new_manifest = read_manifest(settings.index.path)
    new_chunks = set(new_manifest.papers[pid_b].chunk_ids)
    assert len(new_chunks) >= 2  # the long abstract is split
    assert not old_chunks & after.chroma and not old_chunks & set(after.bm25)  # old chunks gone everywhere
    assert new_chunks <= after.chroma and new_chunks <= set(after.bm25)
    assert after.consistent()  # Chroma ids == manifest chunk ids == BM25 ids.json: nothing stale
    assert after.chroma - new_chunks == before.chroma - old_chunks  # A and C untouched
    assert not set(manifest.papers[pid_b].sentence_ids) & after.chroma_sentences  # old sentences gone
    assert new_manifest.papers[pid_b].abstract.startswith("Quokka burrows")
    assert not list(settings.index.path.glob("bm25-*.tmp"))
    generation = new_manifest.generation  # this one and the previous (kept for readers until the next commit)
    assert {p.name for p in settings.index.path.glob("bm25-*")} == {f"bm25-{generation}", f"bm25-{generation - 1}"}

    index = PaperIndex.open(settings)
    assert [h.paper_id for h in index.sparse("quokka burrows drone", 3)][:1] == [pid_b]
    assert index.sparse("zebrafish regeneration", 3) == []  # the old text is no longer searchable


def test_prune_removes_papers_the_paths_no_longer_hold(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    src = write_jsonl(tmp_path / "papers.jsonl", _three_papers(OLD))
    run_ingest([src], settings)
    write_jsonl(src, _three_papers(OLD)[:2])
    kept = run_ingest([src], settings)  # without --prune, paper C stays
    assert (kept.unchanged, kept.removed) == (2, 0) and len(read_manifest(settings.index.path).papers) == 3
    embedded = spy_on_encode(monkeypatch)
    with pytest.raises(InputError, match=r"remove 1 of 3 indexed papers \(33%, more than 20%\).*--yes"):
        run_ingest([src], settings, prune=True)  # a third of the collection: only when confirmed
    report = run_ingest([src], settings, prune=True, yes=True)
    assert (report.added, report.unchanged, report.removed) == (0, 2, 1)
    assert embedded == []
    titles = {e.title for e in read_manifest(settings.index.path).papers.values()}
    assert titles == {"Paper A on Kernel Methods", "Paper B on Animal Ecology"}
    ids = index_ids(settings.index.path)
    assert ids.consistent() and len(ids.chroma) == 2


def test_index_without_sentence_vectors_gains_them_without_reembedding_chunks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An index written before evidence sentences were stored is upgraded in place by the next run."""
    settings = _settings(tmp_path / "index")
    src = write_jsonl(tmp_path / "papers.jsonl", _three_papers(OLD))
    run_ingest([src], settings)
    old = read_manifest(settings.index.path)
    assert len(PaperIndex.open(settings).stored_ids("sentences")) == 3
    shutil.rmtree(settings.index.path / str(old.sentence_dir))  # every sentence vector gone
    for entry in old.papers.values():
        entry.sentence_ids = []
    (settings.index.path / "manifest.json").write_text(old.model_dump_json())

    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([src], settings)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    # each one-sentence abstract is embedded once, as a sentence; no chunk is embedded again
    assert sorted(embedded) == sorted(p["abstract"] for p in _three_papers(OLD))
    ids = index_ids(settings.index.path)
    assert ids.consistent() and len(ids.chroma_sentences) == 3


# -- every format end to end ---------------------------------------------------------------------


def test_all_formats_ingest_into_one_index(small_index) -> None:  # type: ignore[no-untyped-def]
    settings, report = small_index
    assert (report.records, report.papers, report.duplicates, report.added) == (14, 14, 0, 14)
    assert [(Path(s.source).name, s.line) for s in report.skipped] == [("daily_blank.txt", 17)]
    manifest = read_manifest(settings.index.path)
    assert "arxiv:2403.00101" in manifest.papers and "arxiv:2404.11111" in manifest.papers
    routing = next(e for e in manifest.papers.values() if e.title.startswith("Sparse Mixture Routing"))
    assert routing.links == ["https://github.com/example-lab/sparse-routing"] and routing.date == "Sep 3"
    assert manifest.papers["arxiv:2404.11111"].authors == ["Katherine Johnson", "Claude Shannon"]
    assert index_ids(settings.index.path).consistent()


# -- the CLI -------------------------------------------------------------------------------------


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_cli_json_reports_bad_files_and_ingests_good_records(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    index = tmp_path / "index"
    result = _invoke([str(FIXTURES / "ingest_bad"), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    assert isinstance(payload, dict) and set(payload) == REPORT_KEYS
    assert (payload["records"], payload["papers"], payload["added"]) == (3, 3, 3)
    skipped = {(Path(s["source"]).name, s["line"]): s["reason"] for s in payload["skipped"]}
    assert set(skipped) == BAD_FIXTURE_SKIPS
    assert all(reason for reason in skipped.values())
    titles = {e.title for e in read_manifest(index).papers.values()}
    assert titles == {
        "Low-Rank Adapters for Speech Recognition",
        "Curriculum Learning for Theorem Proving",
        "Neural Fields for Sparse-View Tomography",
    }


def test_cli_fails_when_nothing_could_be_ingested(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ["binary.txt", "nocolumns.csv", "latin1.jsonl"]:
        shutil.copy(FIXTURES / "ingest_bad" / name, bad / name)
    result = _invoke([str(bad), "--index", str(tmp_path / "index"), "--json"])
    assert result.exit_code != 0
    payload = json.loads(result.stdout)
    assert set(payload) == {"error"}
    assert "nothing to ingest" in payload["error"] and "binary.txt" in payload["error"]
    assert result.stderr.startswith("error: nothing to ingest")
    assert not (tmp_path / "index" / "manifest.json").exists()
    with pytest.raises(InputError):
        run_ingest([bad], _settings(tmp_path / "index"))


def test_cli_plain_output_summarises_and_lists_skips(small_index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    settings, _ = small_index
    result = _invoke([str(FIXTURES / "ingest"), "--index", str(settings.index.path)])
    assert result.exit_code == 0, result.output
    assert "14 papers from 14 records (0 duplicates): 0 added, 0 updated, 14 unchanged, 1 skipped" in result.stdout
    assert "daily_blank.txt:17: title 'Orphan Title With No Abstract Below It' has no abstract" in result.stderr


def test_second_concurrent_ingest_is_refused(small_index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    settings, _ = small_index
    before = index_ids(settings.index.path)
    with writer_lock(settings.index.path):  # another writer holds the index
        result = _invoke([str(FIXTURES / "ingest"), "--index", str(settings.index.path), "--json"])
        with pytest.raises(IndexLockedError):
            run_ingest([FIXTURES / "ingest"], settings)
    assert result.exit_code != 0
    message = json.loads(result.stdout)["error"]
    assert "is being written by ingest pid" in message and "refused" in message
    assert index_ids(settings.index.path) == before
    # the lock is released with its holder: the next ingest goes ahead
    assert run_ingest([FIXTURES / "ingest"], settings).unchanged == 14


# -- mismatched settings -------------------------------------------------------------------------


def test_opening_with_the_other_embedding_model_is_refused(small_index) -> None:  # type: ignore[no-untyped-def]
    settings, _ = small_index
    mpnet = settings.model_copy(update={"embedding": EmbeddingSettings(model="all-mpnet-base-v2")})
    with pytest.raises(IndexMismatchError) as err:
        PaperIndex.open(mpnet)
    message = str(err.value)
    assert "built with all-MiniLM-L6-v2 (384-d)" in message
    assert "settings ask for all-mpnet-base-v2" in message and "ingest --rebuild" in message
    with pytest.raises(IndexMismatchError):
        run_ingest([FIXTURES / "ingest"], mpnet)  # refused before anything is embedded or written
    assert read_manifest(settings.index.path).embedding_model == "all-MiniLM-L6-v2"


def test_cli_reports_model_mismatch(small_index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    monkeypatch.setenv("PAPERS_EMBEDDING__MODEL", "all-mpnet-base-v2")
    settings, _ = small_index
    result = _invoke([str(FIXTURES / "ingest"), "--index", str(settings.index.path), "--json"])
    assert result.exit_code != 0
    assert "settings ask for all-mpnet-base-v2" in json.loads(result.stdout)["error"]


def test_changed_chunking_is_refused_until_rebuild(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    src = write_jsonl(tmp_path / "papers.jsonl", _three_papers(OLD))
    run_ingest([src], settings)
    write_jsonl(src, [*_three_papers(OLD), {"title": "Paper D", "abstract": "A fourth paper on sorting."}])
    rechunked = settings.model_copy(update={"chunking": ChunkSettings(chunk_size=64, chunk_overlap=8)})
    with pytest.raises(IndexMismatchError, match="chunk_size=200, chunk_overlap=40 but settings ask for chunk_size=64"):
        run_ingest([src], rechunked)
    report = run_ingest([src], rechunked, rebuild=True)
    assert (report.added, report.unchanged) == (4, 0)
    manifest = read_manifest(settings.index.path)
    assert (manifest.chunk_size, manifest.chunk_overlap) == (64, 8)
    assert index_ids(settings.index.path).consistent()
