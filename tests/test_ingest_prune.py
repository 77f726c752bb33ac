"""``--prune`` removes only what the given paths held and no longer hold (issue 21, item 1).

Real index (real Chroma, BM25 and the packaged MiniLM); the papers are short synthetic ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.errors import InputError
from assistant.manifest import load_manifest
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.storage import file_stamp
from ingest.cli import main as ingest_main
from ingest.pipeline import run_ingest
from ingest.prune import CONFIRM_SHARE
from tests.index_helpers import copy_index, index_ids, isolate_settings_env, synthetic_papers, write_jsonl


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _titles(index: Path) -> set[str]:
    return {e.title for e in load_manifest(index).papers.values()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    """An index of data/a.jsonl (6 papers), data/b.jsonl (6) and new.jsonl (3), built once."""
    base = tmp_path_factory.mktemp("prune")
    papers = synthetic_papers(15, seed=11)
    _write_sources(base, papers)
    settings = _settings(base / "index")
    run_ingest([base / "data"], settings)
    run_ingest([base / "new.jsonl"], settings)
    return base, papers


def _write_sources(base: Path, papers: list[dict[str, str]]) -> None:
    write_jsonl(base / "data" / "a.jsonl", papers[:6])
    write_jsonl(base / "data" / "b.jsonl", papers[6:12])
    write_jsonl(base / "new.jsonl", papers[12:])


@pytest.fixture
def collection(built, tmp_path: Path) -> tuple[Settings, Path, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A private copy of the built index, its sources as they were built (sources are recorded by path)."""
    base, papers = built
    _write_sources(base, papers)
    return _settings(copy_index(base / "index", tmp_path / "index")), base, papers


def test_pruning_one_file_never_touches_papers_from_other_sources(collection) -> None:  # type: ignore[no-untyped-def]
    settings, tmp, papers = collection
    report = run_ingest([tmp / "new.jsonl"], settings, prune=True)  # the reported run: 503 removed, exit 0
    assert (report.unchanged, report.removed) == (3, 0)
    assert len(_titles(settings.index.path)) == 15
    write_jsonl(tmp / "new.jsonl", papers[12:14])  # one paper left new.jsonl: 1 of 15 (7%) goes
    report = run_ingest([tmp / "new.jsonl"], settings, prune=True)
    assert (report.unchanged, report.removed) == (2, 1)
    assert [p["title"] for p in report.pruned] == [papers[14]["title"]]
    assert _titles(settings.index.path) == {p["title"] for p in papers[:14]}
    ids = index_ids(settings.index.path)
    assert ids.consistent() and len(ids.chroma) == 14


def test_a_paper_another_source_still_holds_stays_and_loses_only_the_pruned_source(collection) -> None:  # type: ignore[no-untyped-def]
    settings, tmp, papers = collection
    write_jsonl(tmp / "new.jsonl", [*papers[12:], papers[0]])  # new.jsonl also holds a.jsonl's first paper
    run_ingest([tmp / "new.jsonl"], settings)
    write_jsonl(tmp / "new.jsonl", papers[12:])
    report = run_ingest([tmp / "new.jsonl"], settings, prune=True)
    assert report.removed == 0  # a.jsonl (not given) still holds it
    entry = next(e for e in load_manifest(settings.index.path).papers.values() if e.title == papers[0]["title"])
    assert [Path(s).name for s in entry.sources] == ["a.jsonl"]
    write_jsonl(tmp / "data" / "a.jsonl", papers[1:6])  # now a.jsonl drops it too: pruning a.jsonl removes it
    report = run_ingest([tmp / "data" / "a.jsonl"], settings, prune=True)
    assert report.removed == 1 and papers[0]["title"] not in _titles(settings.index.path)


def test_a_large_prune_needs_yes_and_dry_run_changes_nothing(collection) -> None:  # type: ignore[no-untyped-def]
    settings, tmp, papers = collection
    (tmp / "data" / "b.jsonl").unlink()  # 6 of 15 papers (40%) would go: more than CONFIRM_SHARE
    assert CONFIRM_SHARE < 6 / 15
    stamp = file_stamp(settings.index.path / "manifest.json")
    with pytest.raises(InputError, match=r"^not pruning: this run would remove 6 of 15 indexed papers \(40%.*--yes"):
        run_ingest([tmp / "data"], settings, prune=True)
    dry = run_ingest([tmp / "data"], settings, prune=True, dry_run=True)
    assert (dry.removed, dry.unchanged, dry.added) == (6, 6, 0)
    assert {p["title"] for p in dry.pruned} == {p["title"] for p in papers[6:12]}
    assert file_stamp(settings.index.path / "manifest.json") == stamp  # nothing written by either
    assert len(_titles(settings.index.path)) == 15
    report = run_ingest([tmp / "data"], settings, prune=True, yes=True)
    assert report.removed == 6 and _titles(settings.index.path) == {p["title"] for p in papers[:6] + papers[12:]}


def test_prune_cli_dry_run_lists_and_refusal_is_one_line(collection, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings, tmp, _papers = collection
    isolate_settings_env(monkeypatch)
    (tmp / "data" / "b.jsonl").unlink()
    index = str(settings.index.path)
    refused = CliRunner().invoke(ingest_main, [str(tmp / "data"), "--index", index, "--prune"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "--yes" in refused.output
    dry = CliRunner().invoke(ingest_main, [str(tmp / "data"), "--index", index, "--prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.output.strip().splitlines()
    assert sum(line.startswith("would remove ") for line in lines) == 6
    assert lines[-1].startswith("dry run, nothing changed: ") and "6 to remove" in lines[-1]
    as_json = CliRunner().invoke(ingest_main, [str(tmp / "data"), "--index", index, "--prune", "--dry-run", "--json"])
    assert len(json.loads(as_json.output)["pruned"]) == 6
    assert len(_titles(settings.index.path)) == 15


def test_a_file_that_cannot_be_read_whole_keeps_its_papers(collection) -> None:  # type: ignore[no-untyped-def]
    settings, tmp, _papers = collection
    (tmp / "data" / "b.jsonl").write_bytes(b"\xff\xfe not utf-8 at all\n")  # damaged: its records are kept
    report = run_ingest([tmp / "data"], settings, prune=True)
    assert (report.removed, report.kept_from_damaged) == (0, 6)
    assert len(_titles(settings.index.path)) == 15
