"""The same paper arriving again is merged field by field, never replaced whole (issue 21, item 2).

docs/ingest.md rule 3: a later record only fills what the stored one lacks; the latest arXiv version wins
whole (a date it does not carry is kept). A record that changes neither title nor abstract is
"unchanged": nothing is embedded again and the calibration is not refitted. Real index throughout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.manifest import load_manifest
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from ingest.identity import deduplicate
from ingest.pipeline import run_ingest
from ingest.readers import read_paths
from ingest.records import Paper
from tests.index_helpers import spy_on_encode, synthetic_papers, write_jsonl

TITLE = "Sparse Mixture Routers for Efficient Language Models"
ABSTRACT = (
    "We propose sparse mixture routers that send each token to a small set of experts, reducing inference "
    "cost while keeping accuracy on standard language modelling benchmarks across many scales and datasets."
)


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _daily(path: Path, date: str = "Sep 12") -> Path:
    path.write_text(f"Daily Papers\n{date}\n{TITLE}\n{ABSTRACT}\n", encoding="utf-8")
    return path


def _csv(path: Path) -> Path:
    path.write_text(
        f'title,abstract,arxiv_id,url\n"{TITLE}","{ABSTRACT}",2409.01234,https://arxiv.org/abs/2409.01234\n'
    )
    return path


def _atom(path: Path, version: int = 1, published: str = "2024-09-10T17:00:00Z", abstract: str = ABSTRACT) -> Path:
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<entry><id>http://arxiv.org/abs/2409.01234v{version}</id><published>{published}</published>"
        f"<title>{TITLE}</title><summary>{abstract}</summary><author><name>A. Author</name></author></entry></feed>",
        encoding="utf-8",
    )
    return path


def _only(index: Path) -> Any:
    (entry,) = load_manifest(index).papers.values()
    return entry


@pytest.fixture
def refits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``changed`` count every ingest hands the calibration refresh (0: nothing to refit for)."""
    from assistant import calibrate

    seen: list[int] = []
    real = calibrate.refresh

    def recording(settings: Settings, changed: int, *, force: bool = False, progress: Any = None) -> dict[str, Any]:
        seen.append(changed)
        return real(settings, changed, force=force, progress=progress)

    monkeypatch.setattr(calibrate, "refresh", recording)
    return seen


def test_csv_then_atom_keep_the_daily_papers_date(tmp_path: Path, monkeypatch, refits) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    daily, rows, feed = _daily(tmp_path / "daily.txt"), _csv(tmp_path / "rows.csv"), _atom(tmp_path / "feed.xml")
    run_ingest([daily], settings)
    embedded = spy_on_encode(monkeypatch)
    for source in (rows, feed):
        report = run_ingest([source], settings)
        assert (report.added, report.updated, report.unchanged, report.embedded) == (0, 0, 1, 0)
    assert embedded == [] and refits[-2:] == [0, 0]
    entry = _only(settings.index.path)
    assert (entry.date, entry.day) == ("Sep 12", "--09-12")  # the page date, not erased, not replaced
    assert (entry.url, entry.arxiv_id, entry.version, entry.authors) == (
        "https://arxiv.org/abs/2409.01234",
        "2409.01234",
        1,
        ["A. Author"],
    )
    origin = {name: Path(source).name for name, source in entry.origins.items()}
    assert origin == {
        "title": "daily.txt",
        "abstract": "daily.txt",
        "date": "daily.txt",
        "url": "rows.csv",
        "arxiv_id": "rows.csv",
        "authors": "feed.xml#entry1",
        "version": "feed.xml#entry1",
    }
    assert [Path(s).name for s in entry.sources] == ["daily.txt", "feed.xml#entry1", "rows.csv"]
    index = PaperIndex.open(settings)
    assert index.papers_dated(["Sep 12"]) == {next(iter(index.manifest.papers))}


def test_byte_identical_records_from_another_file_are_unchanged(tmp_path: Path, monkeypatch, refits) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    papers = [{**p, "date": f"2024-09-{i + 1:02d}"} for i, p in enumerate(synthetic_papers(6, seed=5))]
    first = write_jsonl(tmp_path / "a.jsonl", papers)
    run_ingest([first], settings)
    stored = {e.title: e for e in load_manifest(settings.index.path).papers.values()}
    embedded = spy_on_encode(monkeypatch)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(first.read_bytes() * 3)  # the same records, three times over, in another file
    bare = [{"title": p["title"], "abstract": p["abstract"]} for p in papers]
    undated = write_jsonl(tmp_path / "undated.jsonl", bare)
    for source in (copy, undated, first):
        report = run_ingest([source], settings)
        assert (report.added, report.updated, report.unchanged, report.embedded) == (0, 0, 6, 0)
    assert embedded == [] and refits[-3:] == [0, 0, 0]
    after = {e.title: e for e in load_manifest(settings.index.path).papers.values()}
    for title, entry in after.items():
        before = stored[title]
        assert (entry.date, entry.chunk_ids, entry.hash) == (before.date, before.chunk_ids, before.hash)
        assert len(entry.sources) == 3


def test_a_newer_version_wins_whole_but_keeps_a_date_it_lacks(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path / "index")
    run_ingest([_daily(tmp_path / "daily.txt"), _atom(tmp_path / "v1.xml")], settings)
    assert (_only(settings.index.path).date, _only(settings.index.path).version) == ("Sep 12", 1)
    revised = ABSTRACT.replace("small set", "learned small set")
    v2 = write_jsonl(tmp_path / "v2.jsonl", [{"title": TITLE, "abstract": revised, "id": "2409.01234v2"}])
    embedded = spy_on_encode(monkeypatch)
    report = run_ingest([v2], settings)
    assert (report.updated, report.unchanged) == (1, 0) and any(revised in text for text in embedded)
    entry = _only(settings.index.path)
    assert (entry.abstract, entry.version, entry.date) == (revised, 2, "Sep 12")  # no date in v2: kept
    assert Path(entry.origins["abstract"]).name == "v2.jsonl" and Path(entry.origins["date"]).name == "daily.txt"
    dated = _atom(tmp_path / "v3.xml", version=3, published="2024-10-01T00:00:00Z", abstract=revised)
    report = run_ingest([dated], settings)  # same text, newer version with its own date: the date is replaced
    assert (report.updated, report.unchanged, report.embedded) == (0, 1, 0)
    assert (_only(settings.index.path).date, _only(settings.index.path).version) == ("2024-10-01T00:00:00Z", 3)
    old = run_ingest([_atom(tmp_path / "v1-again.xml")], settings)  # an older version changes nothing
    assert (old.updated, old.unchanged) == (0, 1) and _only(settings.index.path).version == 3
    assert "older version" in json.dumps([m.as_dict() for m in old.merged])


def test_within_one_run_fields_are_filled_and_their_sources_recorded(tmp_path: Path) -> None:
    _csv(tmp_path / "a-rows.csv")
    _daily(tmp_path / "b-daily.txt")
    (paper,), merges = deduplicate([p for p in read_paths([tmp_path]) if isinstance(p, Paper)])
    assert (paper.date, paper.arxiv_id, paper.url) == ("Sep 12", "2409.01234", "https://arxiv.org/abs/2409.01234")
    assert Path(paper.source).name == "a-rows.csv" and Path(paper.origins["date"]).name == "b-daily.txt"
    assert len(merges) == 1
    settings = _settings(tmp_path / "index")
    run_ingest([tmp_path / "a-rows.csv", tmp_path / "b-daily.txt"], settings)
    entry = _only(settings.index.path)
    assert Path(entry.origins["date"]).name == "b-daily.txt" and Path(entry.origins["url"]).name == "a-rows.csv"


def test_an_edit_in_the_file_a_field_came_from_updates_it(tmp_path: Path) -> None:
    """Rule 5 still holds, per field: the file that gave the abstract may change it; another may not."""
    settings = _settings(tmp_path / "index")
    source = write_jsonl(tmp_path / "mine.jsonl", [{"title": TITLE, "abstract": ABSTRACT, "id": "2409.01234"}])
    run_ingest([source], settings)
    other = ABSTRACT.replace("experts", "specialists")
    elsewhere = write_jsonl(tmp_path / "other.jsonl", [{"title": TITLE, "abstract": other, "id": "2409.01234"}])
    report = run_ingest([elsewhere], settings)
    assert (report.updated, report.unchanged) == (0, 1) and _only(settings.index.path).abstract == ABSTRACT
    reasons = [m.reason for m in report.merged]
    assert reasons == ["the indexed abstract is kept (a later record only fills what it lacks)"]
    write_jsonl(source, [{"title": TITLE, "abstract": other, "id": "2409.01234"}])
    report = run_ingest([source], settings)
    assert (report.updated, report.unchanged) == (1, 0) and _only(settings.index.path).abstract == other


def test_a_date_a_newer_version_replaces_is_reported_as_replaced_not_filled(tmp_path: Path) -> None:
    """Fresh review of issue 21: a same-text v3 with its own date replaced the page date 'Sep 12' and
    the merge report said it 'fills date' (a field the paper did not lack)."""
    settings = _settings(tmp_path / "index")
    run_ingest([_daily(tmp_path / "daily.txt"), _atom(tmp_path / "v1.xml")], settings)
    report = run_ingest([_atom(tmp_path / "v3.xml", version=3, published="2024-10-01T00:00:00Z")], settings)
    assert _only(settings.index.path).date == "2024-10-01T00:00:00Z"
    (merge,) = report.merged
    assert merge.reason.startswith("replaces date (was Sep 12)") and "fills date" not in merge.reason
