"""``papers fetch`` (ingest/fetch): Daily Papers and arXiv against a loopback server replaying recorded
responses (tests/fixtures/fetch, tests/replay.py). Nothing here reaches the network.

What is proved: 3 days of Daily Papers and a paged arXiv query (a 503 retried, an empty last page)
ingest exactly the papers the index lacks, and a second run asks and embeds nothing; 500 results come
in five pages of 100 (dry run: nothing embedded); a failed or
interrupted fetch resumes without asking again for saved pages; arXiv requests are at least 3 s
apart with the default setting (measured at the server); no connection leaves 127.0.0.1 but to the
configured base URL (a guarded subprocess); ``--dry-run`` changes nothing; bad answers are one
error naming the URL, and what was saved before is kept.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from replay import Answer, arxiv_key, daily_key, fixture, replay
from servers import BIN, clean_env

from assistant.errors import FetchError
from assistant.manifest import load_manifest
from assistant.settings import AbstentionSettings, ChunkSettings, EmbeddingSettings, FetchSettings, Settings
from ingest.fetch.arxiv import ArxivSource, query_key
from ingest.fetch.daily import DailySource, days
from ingest.fetch.http import Client, Pacer
from ingest.fetch.run import run_fetch
from ingest.fetch.store import Job, Run
from ingest.pipeline import run_ingest

QUERY = 'cat:cs.CL AND abs:"retrieval"'
DAYS = days(date(2024, 9, 2), date(2024, 9, 4))
DAILY_IDS = {"2409.00511", "2409.00602", "2409.00733", "2409.01120", "2409.01248", "2409.02001", "2409.02117"}
ARXIV_IDS = {"2409.03001", "2409.01120", "2409.02950", "2408.16666"}
NETGUARD = Path(__file__).parent / "netguard"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("PAPERS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no config.toml from the working directory


def daily_routes(**override: list[Answer]) -> dict[Any, list[Answer]]:
    routes = {daily_key(d.isoformat()): [fixture(f"daily/{d.isoformat()}.json")] for d in DAYS}
    return routes | {daily_key(day): answers for day, answers in override.items()}


def arxiv_routes(page2: list[Answer] | None = None) -> dict[Any, list[Answer]]:
    return {
        arxiv_key(QUERY, 0): [fixture("arxiv/page-0.xml")],
        arxiv_key(QUERY, 2): page2 or [fixture("bad/unavailable.html", 503), fixture("arxiv/page-2.xml")],
        arxiv_key(QUERY, 4): [fixture("arxiv/page-4.xml")],
    }


def settings_for(index: Path, server: Any, **fetch: Any) -> Settings:
    """Quick settings: no pacing, short backoff, 2 arXiv entries a page; ``fetch`` overrides them."""
    quick = {"daily_delay_s": 0, "arxiv_delay_s": 0, "backoff_s": 0.01, "retries": 2, "arxiv_page_size": 2}
    return Settings(
        index=index,
        embedding=EmbeddingSettings(),
        chunking=ChunkSettings(),
        abstention=AbstentionSettings(calibrate=False),
        fetch=FetchSettings(
            daily_url=server.base("/api/daily_papers"), arxiv_url=server.base("/api/query"), **(quick | fetch)
        ),
    )


def indexed_ids(index: Path) -> set[str]:
    return {entry.arxiv_id for entry in load_manifest(index).papers.values()}


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and mtime (what a no-op must leave as it was)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# -- the targets: exactly the new papers, nothing the second time ------------------------------------


def test_daily_and_arxiv_ingest_exactly_the_new_papers_then_nothing(tmp_path: Path) -> None:
    index = tmp_path / "index"
    known = tmp_path / "known.jsonl"  # already indexed: one of the Daily Papers of the 2nd
    daily = json.loads(fixture("daily/2024-09-02.json").body)[2]["paper"]
    known.write_text(json.dumps({"title": daily["title"], "abstract": daily["summary"], "arxiv_id": daily["id"]}))
    with replay(daily_routes() | arxiv_routes()) as server:
        settings = settings_for(index, server)
        run_ingest([known], settings)

        first = run_fetch(DailySource(settings.fetch, DAYS), settings)
        assert first.requests == 3 and len(first.responses) == 3
        assert first.ingest is not None
        # 8 records, 7 papers (2409.00602 is on two days), 1 already indexed
        assert (first.ingest.records, first.ingest.papers, first.ingest.added, first.ingest.unchanged) == (8, 7, 6, 1)
        assert indexed_ids(index) == DAILY_IDS

        arxiv = run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings)
        starts = [r.query["start"] for r in server.requests("/api/query")]
        assert starts == ["0", "2", "2", "4"]  # the 503 was retried; the empty page ended the paging
        assert arxiv.ingest is not None and (arxiv.ingest.added, arxiv.ingest.unchanged) == (3, 1)  # 2409.01120
        assert any("empty page at start=4 of 6" in note for note in arxiv.notes)
        assert indexed_ids(index) == DAILY_IDS | ARXIV_IDS
        assert all("papers-assistant" in r.headers["User-Agent"] for r in server.log)

        # provenance: each paper names its response file, and the job names the file's URL
        job = json.loads((index / "fetched" / "arxiv" / query_key(QUERY) / "job.json").read_text())
        pages = job["runs"][0]["pages"]
        assert [p["file"] for p in pages] == ["0000.xml", "0001.xml", "0002.xml"]
        assert pages[1]["papers"] == ["arXiv:2409.02950", "arXiv:2408.16666"] and "start=2" in pages[1]["url"]
        assert (
            pages[2]["entries"] == 0
            and pages[2]["papers"] == []
            and all(p["ingested"] or not p["papers"] for p in pages)
        )
        entry = next(e for e in load_manifest(index).papers.values() if e.arxiv_id == "2408.16666")
        assert any(s.endswith("fetched/arxiv/" + query_key(QUERY) + "/0001.xml#entry2") for s in entry.sources)

        generation = load_manifest(index).generation
        before = len(server.log)
        again = [run_fetch(DailySource(settings.fetch, DAYS), settings)]
        again.append(run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings))
        assert len(server.log) == before  # nothing asked
        assert all(r.requests == 0 and r.ingest is None and r.done for r in again)
        assert load_manifest(index).generation == generation  # nothing written


def test_a_refresh_with_unchanged_answers_saves_and_embeds_nothing(tmp_path: Path) -> None:
    with replay(daily_routes()) as server:
        settings = settings_for(tmp_path / "index", server)
        run_fetch(DailySource(settings.fetch, DAYS[:1]), settings)
        again = run_fetch(DailySource(settings.fetch, DAYS[:1]), settings, refresh=True)
    assert again.requests == 1 and not again.responses[0].saved and again.ingest is None
    assert sorted(p.name for p in (tmp_path / "index" / "fetched" / "daily" / "2024-09-02").iterdir()) == [
        "0000.json",
        "job.json",
    ]


# -- interruptions -------------------------------------------------------------------------------------


def test_a_failed_fetch_resumes_without_asking_again(tmp_path: Path) -> None:
    index = tmp_path / "index"
    broken = {"2024-09-04": [Answer(500, b'{"error": "Internal Error"}')]}
    with replay(daily_routes(**broken)) as server, pytest.raises(FetchError) as caught:
        settings = settings_for(index, server)
        run_fetch(DailySource(settings.fetch, DAYS), settings)
    assert "date=2024-09-04" in str(caught.value) and "HTTP 500" in str(caught.value)
    assert "the 2 responses saved before it are kept; the same command resumes" in str(caught.value)
    assert not (index / "manifest.json").exists()  # nothing ingested from a failed run

    with replay(daily_routes()) as server:  # the API is back (on another port: the URL is a setting)
        settings = settings_for(index, server)
        resumed = run_fetch(DailySource(settings.fetch, DAYS), settings)
        assert [r.query["date"] for r in server.log] == ["2024-09-04"]
    assert resumed.ingest is not None and resumed.ingest.added == 7
    assert indexed_ids(index) == DAILY_IDS


def test_a_killed_arxiv_fetch_continues_from_its_next_page(tmp_path: Path) -> None:
    index = tmp_path / "index"

    def killed(_: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C right after the first page was saved

    with replay(arxiv_routes()) as server:
        settings = settings_for(index, server)
        with pytest.raises(KeyboardInterrupt):
            run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings, on_response=killed)
        assert [r.query["start"] for r in server.log] == ["0"]
        resumed = run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings)
        assert [r.query["start"] for r in server.log] == ["0", "2", "2", "4"]  # page 0 not asked again
    assert resumed.ingest is not None and resumed.ingest.added == 4 and len(resumed.ingested) == 2
    assert indexed_ids(index) == ARXIV_IDS


def atom_page(start: int, count: int, total: int) -> Answer:
    """An arXiv page of ``count`` made-up entries from ``start`` (the shape of the recorded pages)."""
    head, _, _ = fixture("arxiv/page-0.xml").body.decode().partition("  <entry>")
    head = head.replace(">6</opensearch:totalResults>", f">{total}</opensearch:totalResults>")
    entries = "".join(
        f"  <entry>\n    <id>http://arxiv.org/abs/2409.{10000 + n}v1</id>\n"
        f"    <published>2024-09-04T00:00:00Z</published>\n    <title>Retrieval study number {n}</title>\n"
        f"    <summary>We measure retrieval setting {n} on benchmark {n % 7} and report recall.</summary>\n"
        "    <author>\n      <name>Ada Lovelace</name>\n    </author>\n  </entry>\n"
        for n in range(start, start + count)
    )
    return Answer(200, (head + entries + "</feed>\n").encode(), "application/atom+xml")


def test_500_arxiv_results_come_in_pages_of_100(tmp_path: Path) -> None:
    routes = {arxiv_key(QUERY, start): [atom_page(start, 100, 500)] for start in range(0, 500, 100)}
    with replay(routes) as server:
        settings = settings_for(tmp_path / "index", server, arxiv_page_size=100)
        report = run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings, dry_run=True)
        asked = [(r.query["start"], r.query["max_results"]) for r in server.log]
    assert asked == [(str(s), "100") for s in range(0, 500, 100)]  # the stated total ends it: no 6th request
    assert report.ingest is not None and (report.ingest.papers, report.ingest.added) == (500, 500)


def test_a_larger_max_continues_where_a_smaller_one_stopped(tmp_path: Path) -> None:
    with replay(arxiv_routes([fixture("arxiv/page-2.xml")])) as server:
        settings = settings_for(tmp_path / "index", server)
        run_fetch(ArxivSource(settings.fetch, QUERY, 2), settings, dry_run=False)
        more = run_fetch(ArxivSource(settings.fetch, QUERY, 4), settings)
        asked = [(r.query["start"], r.query["max_results"]) for r in server.log]
    assert asked == [("0", "2"), ("2", "2")] and more.ingest is not None and more.ingest.added == 2


# -- pacing, retries, the network ---------------------------------------------------------------------


def test_arxiv_requests_are_at_least_3_seconds_apart_by_default(tmp_path: Path) -> None:
    assert FetchSettings().arxiv_delay_s == 3.0
    with replay(arxiv_routes([fixture("arxiv/page-2.xml")])) as server:
        settings = settings_for(tmp_path / "index", server, arxiv_delay_s=FetchSettings().arxiv_delay_s)
        run_fetch(ArxivSource(settings.fetch, QUERY, 4), settings, dry_run=True)
        arrivals = [r.at for r in server.log]
    assert len(arrivals) == 2
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 3.0, gaps


def test_pacing_holds_across_runs_and_retries_back_off(tmp_path: Path) -> None:
    waits: list[float] = []
    stamp = tmp_path / ".last-request"
    Pacer(3.0, stamp).done()  # a run that just ended
    Pacer(3.0, stamp, waits.append).wait()
    assert waits and 2.5 < waits[0] <= 3.0

    answers = iter([httpx.Response(503), httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)])
    sleeps: list[float] = []
    settings = FetchSettings(backoff_s=1.0, retries=3, daily_delay_s=0)
    transport = httpx.MockTransport(lambda request: next(answers))
    with Client(settings, 0, accept="application/json", transport=transport, sleep=sleeps.append) as client:
        assert client.get("http://127.0.0.1:9/api/daily_papers", {"date": "2024-09-02"}).status == 200
    assert sleeps == [1.0, 7.0] and client.requests == 3  # backoff 1 s, then Retry-After over the doubled 2 s


def test_no_connection_leaves_loopback_but_to_the_configured_base_url(tmp_path: Path) -> None:
    """``papers fetch daily`` and ``arxiv`` in a process where every connection beyond 127.0.0.1 is
    refused and logged (tests/netguard) and every connection at all is recorded: all went to the
    replay server's port, and the netguard log is empty."""
    connections, netlog = tmp_path / "connections.log", tmp_path / "net.log"
    script = f"""
import socket, sys
def hook(event, args):
    if event == "socket.connect" and getattr(args[0], "family", None) in (socket.AF_INET, socket.AF_INET6):
        with open({str(connections)!r}, "a") as fh:
            fh.write(f"{{args[1][0]}} {{args[1][1]}}\\n")
sys.addaudithook(hook)
from assistant.cli import papers
index = {str(tmp_path / "index")!r}
papers(["fetch", "daily", "--date", "2024-09-03", "--index", index], standalone_mode=False)
papers(["fetch", "arxiv", "--query", {QUERY!r}, "--max", "4", "--index", index], standalone_mode=False)
"""
    with replay(daily_routes() | arxiv_routes([fixture("arxiv/page-2.xml")])) as server:
        env = clean_env(tmp_path) | {
            "PYTHONPATH": str(NETGUARD) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "NETGUARD_LOG": str(netlog),
            "PAPERS_FETCH__DAILY_URL": server.base("/api/daily_papers"),
            "PAPERS_FETCH__ARXIV_URL": server.base("/api/query"),
            "PAPERS_FETCH__ARXIV_DELAY_S": "0",
            "PAPERS_FETCH__ARXIV_PAGE_SIZE": "2",
            "PAPERS_ABSTENTION__CALIBRATE": "false",
        }
        done = subprocess.run(
            [str(BIN / "python"), "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(server.log) == 3
    assert "3 papers" in done.stdout and "added" in done.stdout
    assert (netlog.read_text() if netlog.exists() else "") == ""
    targets = set(connections.read_text().split("\n")) - {""}
    assert targets == {f"127.0.0.1 {server.port}"}, targets
    assert indexed_ids(tmp_path / "index") == {"2409.01120", "2409.00602", "2409.01248"} | ARXIV_IDS


# -- dry run, bad answers, the command ------------------------------------------------------------------


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with replay(daily_routes() | arxiv_routes()) as server:
        settings = settings_for(index, server)
        fresh = run_fetch(DailySource(settings.fetch, DAYS), settings, dry_run=True)
        assert not index.exists()  # not even the folder
        assert fresh.ingest is not None and fresh.ingest.added == 7 and fresh.dry_run

        run_fetch(DailySource(settings.fetch, DAYS[:1]), settings)
        before = tree(index)
        dry = run_fetch(DailySource(settings.fetch, DAYS), settings, dry_run=True)
        assert tree(index) == before
        assert dry.ingest is not None and (dry.ingest.added, dry.ingest.unchanged) == (4, 1)  # 00602 is indexed
        assert [r.query["date"] for r in server.log[-2:]] == ["2024-09-03", "2024-09-04"]  # the 2nd was fetched

        result = CliRunner().invoke(
            _papers(),
            ["fetch", "arxiv", "--query", QUERY, "--max", "4", "--index", str(index), "--dry-run"],
            env=_env(server),
        )
        assert result.exit_code == 0, result.output
        assert "would save fetched/arxiv/" in result.output and "dry run, nothing changed" in result.output
        assert "4 to add" in result.output
        assert tree(index) == before


def test_invalid_json_is_one_error_naming_the_url_and_keeps_what_was_saved(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with replay(daily_routes(**{"2024-09-03": [fixture("bad/truncated.json")]})) as server:
        result = CliRunner().invoke(
            _papers(),
            ["fetch", "daily", "--since", "2024-09-02", "--until", "2024-09-04", "--index", str(index)],
            env=_env(server),
        )
        url = f"{server.base('/api/daily_papers')}?date=2024-09-03&p=0&limit=100"
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and url in errors[0] and "not JSON" in errors[0] and "Traceback" not in result.output
    assert (index / "fetched" / "daily" / "2024-09-02" / "0000.json").read_bytes() == fixture(
        "daily/2024-09-02.json"
    ).body
    assert not (index / "fetched" / "daily" / "2024-09-03" / "0000.json").exists()


def test_http_500_after_retries_names_the_url_and_keeps_earlier_pages(tmp_path: Path) -> None:
    index = tmp_path / "index"
    with replay(arxiv_routes([Answer(500, b"Internal Server Error", "text/plain")])) as server:
        settings = settings_for(index, server)
        with pytest.raises(FetchError) as caught:
            run_fetch(ArxivSource(settings.fetch, QUERY, 500), settings)
        assert [r.query["start"] for r in server.log] == ["0", "2", "2", "2"]  # 1 + 2 retries
    message = str(caught.value)
    assert "\n" not in message and "start=2" in message and "HTTP 500" in message and "3 attempts" in message
    job = json.loads((index / "fetched" / "arxiv" / query_key(QUERY) / "job.json").read_text())
    assert [p["file"] for p in job["runs"][0]["pages"]] == ["0000.xml"]


def test_an_arxiv_error_entry_is_an_error_quoting_arxiv(tmp_path: Path) -> None:
    with replay({arxiv_key("cat:", 0): [fixture("arxiv/error.xml", 400)]}) as server:
        settings = settings_for(tmp_path / "index", server)
        with pytest.raises(FetchError, match=r"search_query=cat%3A.*reports an error: malformed query: cat:"):
            run_fetch(ArxivSource(settings.fetch, "cat:", 10), settings)


def test_todays_list_is_asked_again_and_past_days_are_not() -> None:
    past = Job("daily", "2024-09-03", {"date": "2024-09-03"}, [Run("2024-09-03T08:00:00+00:00")])
    past.runs[0].complete, past.runs[0].finished = True, "2024-09-03T08:00:05+00:00"
    assert DailySource.stale(past)  # finished on the day itself: the list may have grown
    past.runs[0].finished = "2024-09-05T08:00:05+00:00"
    assert not DailySource.stale(past)


def test_command_line_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(_papers(), ["fetch", "daily", "--date", "2024-09-02", "--since", "2024-09-01"])
    future = runner.invoke(_papers(), ["fetch", "daily", "--date", "2999-01-01"])
    backwards = runner.invoke(_papers(), ["fetch", "daily", "--since", "2024-09-04", "--until", "2024-09-02"])
    assert [r.exit_code for r in (both, future, backwards)] == [2, 2, 2]
    assert "after today" in future.output and "before --since" in backwards.output
    no_day = runner.invoke(_papers(), ["fetch", "daily", "--date", "2024-02-30"])
    assert no_day.exit_code == 2 and "'2024-02-30' is not a date (YYYY-MM-DD" in no_day.output


def _papers() -> Any:
    from assistant.cli import papers

    return papers


def _env(server: Any) -> dict[str, str]:
    return {
        "PAPERS_FETCH__DAILY_URL": server.base("/api/daily_papers"),
        "PAPERS_FETCH__ARXIV_URL": server.base("/api/query"),
        "PAPERS_FETCH__DAILY_DELAY_S": "0",
        "PAPERS_FETCH__ARXIV_DELAY_S": "0",
        "PAPERS_FETCH__ARXIV_PAGE_SIZE": "2",
        "PAPERS_FETCH__BACKOFF_S": "0.01",
        "PAPERS_ABSTENTION__CALIBRATE": "false",
    }


@pytest.mark.parametrize(
    "content",
    [b'{"source": "daily", "key": ', b"\xff\xfe", b'{"source": "daily", "key": "2024-09-02", "params": {"date": "x"}}'],
)
def test_a_damaged_job_record_is_an_error_naming_it_and_is_never_overwritten(tmp_path: Path, content: bytes) -> None:
    from assistant.errors import IndexError_

    index = tmp_path / "index"
    folder = index / "fetched" / "daily" / "2024-09-02"
    folder.mkdir(parents=True)
    (folder / "job.json").write_bytes(content)
    (folder / "0000.json").write_bytes(b"[]")
    before = tree(folder)
    with replay(daily_routes()) as server, pytest.raises(IndexError_) as caught:
        settings = settings_for(index, server)
        run_fetch(DailySource(settings.fetch, DAYS[:1]), settings)
    assert str(folder / "job.json") in str(caught.value) and "\n" not in str(caught.value)
    assert server.log == []  # nothing asked again
    assert (folder / "job.json").read_bytes() == content and tree(folder) == before


@pytest.mark.parametrize(("url", "why"), [("http://[::1/x", "Invalid IPv6 URL"), ("http://:80/api", "no host")])
def test_a_base_url_that_does_not_parse_is_a_settings_error(url: str, why: str) -> None:
    from assistant.errors import ConfigError
    from assistant.settings import load_settings

    with pytest.raises(ConfigError, match=f"fetch.daily_url.*not a URL.*{re.escape(why)}"):
        load_settings(fetch={"daily_url": url})


def test_an_answer_over_max_response_mb_is_one_error_and_saves_nothing_of_it(tmp_path: Path) -> None:
    index = tmp_path / "index"
    huge = Answer(200, b"[" + b" " * (2 * 1024 * 1024) + b"]")  # 2 MB of a (valid) empty list
    with replay(daily_routes(**{"2024-09-03": [huge]})) as server:
        result = CliRunner().invoke(
            _papers(),
            ["fetch", "daily", "--since", "2024-09-02", "--until", "2024-09-04", "--index", str(index)],
            env=_env(server) | {"PAPERS_FETCH__MAX_RESPONSE_MB": "1"},
        )
        asked = len(server.requests("/api/daily_papers"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "date=2024-09-03" in errors[0] and "fetch.max_response_mb = 1" in errors[0]
    assert asked == 2  # the 2nd, then the 3rd once: a size error is not retried
    assert (index / "fetched" / "daily" / "2024-09-02" / "0000.json").exists()
    assert not (index / "fetched" / "daily" / "2024-09-03" / "0000.json").exists()


def test_provenance_is_relative_to_the_index_and_survives_a_move(tmp_path: Path) -> None:
    import shutil

    from ingest.paths import source_file

    with replay(daily_routes()) as server:
        settings = settings_for(tmp_path / "index", server)
        run_fetch(DailySource(settings.fetch, DAYS), settings)
    papers_before = {pid: e.sources for pid, e in load_manifest(tmp_path / "index").papers.items()}
    assert all(s.startswith("fetched/daily/") for sources in papers_before.values() for s in sources)
    entry = next(e for e in load_manifest(tmp_path / "index").papers.values() if e.arxiv_id == "2409.00602")
    assert entry.sources == ["fetched/daily/2024-09-02/0000.json#item2"]  # the record kept of the two

    moved = tmp_path / "elsewhere" / "index"
    moved.parent.mkdir()
    shutil.move(tmp_path / "index", moved)
    shown = source_file(entry.sources[0], moved)
    assert shown == str(moved / "fetched/daily/2024-09-02/0000.json") + "#item2"
    assert Path(shown.split("#")[0]).is_file()

    # the moved index reads its own responses again: nothing changes, no second (absolute) source
    settings = settings.at(moved)
    again = run_ingest([moved / "fetched"], settings)
    assert (again.added, again.updated, again.papers) == (0, 0, 7) and not again.skipped
    assert {pid: e.sources for pid, e in load_manifest(moved).papers.items()} == papers_before

    # --prune resolves them against the index: a response removed removes the papers only it held
    (moved / "fetched/daily/2024-09-04/0000.json").unlink()
    pruned = run_ingest([moved / "fetched"], settings, prune=True, yes=True)
    day4 = json.loads(fixture("daily/2024-09-04.json").body)
    assert pruned.removed == len([i for i in day4 if i["paper"]["id"] != "2409.00602"]) > 0
    day4_file = str(moved / "fetched/daily/2024-09-04/0000.json")
    assert all(r["sources"][0].startswith(day4_file + "#item") for r in pruned.pruned)
    entries = load_manifest(moved).papers
    assert all(s.startswith("fetched/daily/2024-09-0") for e in entries.values() for s in e.sources)


def test_an_absolute_response_path_of_an_older_release_is_replaced_not_piled_up() -> None:
    from assistant.catalog import PaperEntry
    from ingest.merge import merge_stored
    from ingest.records import Paper

    old = "/old/place/idx/fetched/daily/2024-09-03/0000.json#item1"
    entry = PaperEntry(title="T", abstract="An abstract.", hash="h", chunk_ids=[], sources=[old, "/data/mine.jsonl"])
    paper = Paper(title="T", abstract="An abstract.", source="fetched/daily/2024-09-03/0000.json#item1")
    merged = merge_stored(entry, paper)
    assert merged.update["sources"] == ["/data/mine.jsonl", "fetched/daily/2024-09-03/0000.json#item1"]


def test_a_fetch_while_an_ingest_writes_the_index_asks_nothing(tmp_path: Path) -> None:
    from assistant.errors import IndexLockedError
    from ingest.lock import writer_lock

    index = tmp_path / "index"
    with replay(daily_routes()) as server:
        settings = settings_for(index, server)
        with writer_lock(index), pytest.raises(IndexLockedError, match="is being written by"):
            run_fetch(DailySource(settings.fetch, DAYS), settings)
        assert server.log == []  # refused before any request
        assert run_fetch(DailySource(settings.fetch, DAYS), settings).ingest is not None  # free again: it runs


def test_an_ingest_that_takes_the_index_during_a_fetch_leaves_the_responses_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.fetch.run as fetch_run
    from assistant.errors import IndexLockedError

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise IndexLockedError("index X is being written by ingest pid 1")

    with replay(daily_routes()) as server:
        settings = settings_for(tmp_path / "index", server)
        monkeypatch.setattr(fetch_run, "run_ingest", locked)
        with pytest.raises(IndexLockedError, match=r"the responses fetched \(3 files\) are saved under .*same command"):
            run_fetch(DailySource(settings.fetch, DAYS), settings)
        monkeypatch.undo()
        again = run_fetch(DailySource(settings.fetch, DAYS), settings)
    assert again.requests == 0 and again.ingest is not None and again.ingest.added == 7


def test_ctrl_c_says_what_is_kept_and_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.fetch.run as fetch_run

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_run, "run_fetch", interrupted)
    result = CliRunner().invoke(_papers(), ["fetch", "daily", "--date", "2024-09-03", "--index", str(tmp_path / "i")])
    assert result.exit_code == 130
    assert "interrupted: every response saved so far is kept under" in result.output
    assert "run the same command again to resume" in result.output and "Aborted!" not in result.output


def test_a_delay_under_3_s_for_the_real_arxiv_host_is_a_settings_error() -> None:
    from assistant.errors import ConfigError

    for url in ("https://export.arxiv.org/api/query", "http://ARXIV.org/api/query"):
        with pytest.raises(ConfigError, match=r"fetch.arxiv_delay_s = 0 is below the 3 s"):
            ArxivSource(FetchSettings(arxiv_url=url, arxiv_delay_s=0), QUERY, 10)
    ArxivSource(FetchSettings(arxiv_delay_s=3), QUERY, 10)  # the default host at 3 s
    ArxivSource(FetchSettings(arxiv_url="http://127.0.0.1:9/api/query", arxiv_delay_s=0), QUERY, 10)  # your own
    result = CliRunner().invoke(_papers(), ["fetch", "arxiv", "--query", "x"], env={"PAPERS_FETCH__ARXIV_DELAY_S": "1"})
    assert result.exit_code == 1 and result.output.startswith("error: fetch.arxiv_delay_s = 1 is below")
