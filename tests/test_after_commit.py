"""What an ingest does after its commit (refit the abstention calibration, answer the watched questions
again) is caught up by the next run when a run was killed between its commit and those steps.

The kill is simulated by committing through ``ingest.pipeline.run_ingest`` without them: the watched
questions are answered by the CLI after ``run_ingest`` returns (so a library call commits without
them), and the calibration refresh is replaced by a no-op for one run. Real small indexes; no model
runs but the embedding model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from replay import daily_key, fixture, replay

from assistant.abstain import CALIBRATION_FILE
from assistant.cli import papers
from assistant.settings import AbstentionSettings, ChunkSettings, EmbeddingSettings, Settings
from assistant.watch import WatchList
from ingest.pipeline import run_ingest
from ingest.readers import read_paths
from ingest.records import Paper
from tests.watch_papers import BASE, QUESTION, SOURDOUGH

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("PAPERS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no config.toml from the working directory


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def settings_at(index: Path, *, calibrate: bool = True) -> Settings:
    return Settings(
        index=index,
        embedding=EmbeddingSettings(),
        chunking=ChunkSettings(),
        abstention=AbstentionSettings(calibrate=calibrate),
    )


def generation(index: Path) -> int:
    return int(json.loads((index / "manifest.json").read_text())["generation"])


def watched_index(tmp_path: Path) -> Path:
    index = tmp_path / "index"
    assert run_ingest([write(tmp_path / "base.jsonl", BASE)], settings_at(index)).added == 2
    added = CliRunner().invoke(papers, ["watch", "add", "--index", str(index), QUESTION])
    assert added.exit_code == 0 and "coverage none" in added.output, added.output
    return index


def test_an_ingest_after_a_run_killed_before_the_watched_step_reports_the_change(tmp_path: Path) -> None:
    index = watched_index(tmp_path)
    new = write(tmp_path / "new.jsonl", [SOURDOUGH])
    assert run_ingest([new], settings_at(index)).added == 1  # committed; the watched step never ran
    (stale,) = WatchList(index).entries()
    assert stale.last is not None and stale.last.generation < generation(index)

    rerun = CliRunner().invoke(papers, ["ingest", "--index", str(index), str(new)])
    assert rerun.exit_code == 0, rerun.output
    assert "0 added, 0 updated, 1 unchanged" in rerun.output
    assert (
        f'watched #1 "{QUESTION}": coverage none → answered; newly cited: {SOURDOUGH["title"]} (arxiv:2409.00003)'
        in rerun.output
    )
    (caught_up,) = WatchList(index).entries()
    assert caught_up.last is not None and caught_up.last.generation == generation(index)

    # once caught up, a run that changes nothing runs nothing (and says nothing more)
    again = CliRunner().invoke(papers, ["ingest", "--index", str(index), "--json", str(new)])
    assert "watch" not in json.loads(again.output)


def test_a_fetch_after_a_run_killed_before_the_watched_step_reports_the_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = watched_index(tmp_path)
    assert run_ingest([write(tmp_path / "new.jsonl", [SOURDOUGH])], settings_at(index)).added == 1
    with replay({daily_key("2024-09-03"): [fixture("daily/2024-09-03.json")]}) as server:
        monkeypatch.setenv("PAPERS_FETCH__DAILY_URL", server.base("/api/daily_papers"))
        monkeypatch.setenv("PAPERS_FETCH__DAILY_DELAY_S", "0")
        fetched = CliRunner().invoke(papers, ["fetch", "daily", "--date", "2024-09-03", "--index", str(index)])
        assert fetched.exit_code == 0, fetched.output
        assert f'watched #1 "{QUESTION}": coverage none → answered' in fetched.output
        # and a fetch with nothing new to ingest catches up too
        more = {**SOURDOUGH, "arxiv_id": "2409.00009", "title": "Sourdough Fermentation at Low Temperature"}
        assert run_ingest([write(tmp_path / "more.jsonl", [more])], settings_at(index)).added == 1
        args = ["fetch", "daily", "--date", "2024-09-03", "--index", str(index), "--json"]
        quiet = CliRunner().invoke(papers, args)
        assert quiet.exit_code == 0, quiet.output
        report = json.loads(quiet.output)
        assert report["ingest"] is None and report["watch"]["watched"] == 1
    (caught_up,) = WatchList(index).entries()
    assert caught_up.last is not None and caught_up.last.generation == generation(index)


def real_papers(count: int) -> list[dict[str, Any]]:
    papers_read = [p for p in read_paths([DATA]) if isinstance(p, Paper)]
    return [{"title": p.title, "abstract": p.abstract} for p in papers_read[:count]]


def test_a_run_killed_before_the_refit_leaves_no_stale_calibration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.pipeline

    papers_ = real_papers(49)
    settings = settings_at(tmp_path / "index")
    first = run_ingest([write(tmp_path / "a.jsonl", papers_[:40])], settings).calibration
    assert first["status"] == "fitted" and first["papers"] == 40
    calibration = tmp_path / "index" / CALIBRATION_FILE

    def killed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {}

    # 3 papers (< 10%) committed without the refresh: the next run counts them, and keeps the fit
    monkeypatch.setattr(ingest.pipeline, "_recalibrate", killed)
    b = write(tmp_path / "b.jsonl", papers_[40:43])
    assert run_ingest([b], settings).added == 3
    monkeypatch.undo()
    kept = run_ingest([b], settings).calibration
    assert kept["status"] == "kept" and kept["changed_since"] == 3, kept
    fitted_on = json.loads(calibration.read_text())["fitted_on"]
    assert fitted_on["changed_since"] == 3 and fitted_on["counted_to"] == generation(tmp_path / "index")

    # 6 more committed without the refresh: 9 of 49 changed since the fit, past 10%: refitted
    monkeypatch.setattr(ingest.pipeline, "_recalibrate", killed)
    c = write(tmp_path / "c.jsonl", papers_[43:49])
    assert run_ingest([c], settings).added == 6
    assert json.loads(calibration.read_text())["fitted_on"]["papers"] == 40  # stale until the next run
    monkeypatch.undo()
    rerun = run_ingest([c], settings)
    assert rerun.added == 0 and rerun.calibration["status"] == "fitted", rerun.calibration
    assert rerun.calibration["papers"] == 49 and rerun.calibration["changed_since"] == 0


def test_a_fetch_with_nothing_to_ingest_refits_what_a_killed_run_left_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.pipeline

    index = tmp_path / "index"
    papers_ = real_papers(46)
    assert run_ingest([write(tmp_path / "a.jsonl", papers_[:40])], settings_at(index)).calibration["status"] == "fitted"
    with replay({daily_key("2024-09-03"): [fixture("daily/2024-09-03.json")]}) as server:
        monkeypatch.setenv("PAPERS_FETCH__DAILY_URL", server.base("/api/daily_papers"))
        monkeypatch.setenv("PAPERS_FETCH__DAILY_DELAY_S", "0")
        args = ["fetch", "daily", "--date", "2024-09-03", "--index", str(index), "--json"]
        assert CliRunner().invoke(papers, args).exit_code == 0  # 3 papers: the calibration is kept
        with monkeypatch.context() as killed:
            killed.setattr(ingest.pipeline, "_recalibrate", lambda *a, **k: {})
            assert run_ingest([write(tmp_path / "b.jsonl", papers_[40:46])], settings_at(index)).added == 6
        quiet = CliRunner().invoke(papers, args)
    assert quiet.exit_code == 0, quiet.output
    report = json.loads(quiet.output)
    assert report["ingest"] is None and report["calibration"]["status"] == "fitted", report
    fitted_on = json.loads((index / CALIBRATION_FILE).read_text())["fitted_on"]
    assert fitted_on["papers"] == 49 and fitted_on["counted_to"] == generation(index)
