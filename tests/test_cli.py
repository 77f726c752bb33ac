"""The `papers` command group and its one error mapping, run in-process with click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from assistant.cli import papers


def test_group_lists_every_command() -> None:
    result = CliRunner().invoke(papers, ["--help"])
    assert result.exit_code == 0
    for name in ("ask", "ingest", "ui", "eval"):
        assert f"  {name} " in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    for args in (["ask", "--k", "0", "What is RAG?"], ["ask", "--k", "-1", "x"], ["ask", "--k", "51", "x"]):
        result = runner.invoke(papers, args)
        assert result.exit_code == 2, args
        assert "Error" in result.output and "1<=x<=50" in result.output
    for blank in ("", "   ", "\t\n", "\x00\x1b\u200b\u202e"):  # nothing left once control characters go
        result = runner.invoke(papers, ["ask", blank])
        assert result.exit_code == 2, repr(blank)
        assert "the question is empty" in result.output  # the UI and POST /api/ask say the same


def test_papers_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(papers, ["ask", "--index", str(tmp_path / "none"), "--json", "What is RAG?"])
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"].startswith(f"no index at {tmp_path / 'none'}")
    assert missing.stderr.startswith("error: no index at")
    nothing = runner.invoke(papers, ["ingest", "--index", str(tmp_path / "idx"), str(tmp_path / "nope.jsonl")])
    assert nothing.exit_code == 1 and "nothing to ingest" in nothing.stderr
    evals = runner.invoke(papers, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert evals.exit_code == 1 and "cannot read report" in evals.stderr


def test_a_secret_in_a_bad_config_is_never_echoed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config.toml"
    config.write_text('[ui]\npassword = 12345678\n[llm]\napi_key = "sk-fromconfigfile999"\n')
    monkeypatch.setenv("PAPERS_CONFIG", str(config))
    result = CliRunner().invoke(papers, ["ask", "--json", "What is RAG?"])
    assert result.exit_code == 1
    out = result.stdout + (result.stderr or "")
    assert "ui.password" in out and "llm.api_key" in out  # the fields are named
    assert "12345678" not in out and "sk-fromconfigfile999" not in out  # their values are not


def test_a_closed_pipe_is_not_an_error_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from assistant.errors import handle_errors\n"
        "@handle_errors\n"
        "def main(as_json=False):\n"
        "    for i in range(100000): print('line', i)\n"
        "main()\n"
    )
    done = subprocess.run(
        f'{sys.executable} -c "{script}" | head -1', shell=True, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "line 0\n" and "error" not in done.stderr and "Broken pipe" not in done.stderr


def test_an_impossible_or_relative_date_is_one_clear_usage_error() -> None:
    """Checked before anything loads (no index is needed to say so), as the UI and the API check it."""
    runner = CliRunner()
    for value, message in (
        ("Feb 30", "'Feb 30' is not a date: February has 29 days"),
        ("2023-02-29", "'2023-02-29' is not a date: February 2023 has 28 days"),
        ("Sep 31, 2024", "'Sep 31, 2024' is not a date: September 2024 has 30 days"),
        ("yesterday", "'yesterday' is a relative date; name the day itself"),
        ("next Monday", "'next Monday' is a relative date"),
        ("the other day", "'the other day' is not a date the filter reads; use a form such as 'Sep 3'"),
    ):
        result = runner.invoke(papers, ["ask", "--date", "Sep 3", "--date", value, "What is RAG?"])
        assert result.exit_code == 2, value
        assert f"Error: Invalid value for '--date': {message}" in result.output and "Traceback" not in result.output
    too_many = runner.invoke(papers, ["ask", *[a for _ in range(21) for a in ("--date", "Sep 3")], "What is RAG?"])
    assert too_many.exit_code == 2 and "at most 20 dates may be given, not 21" in too_many.output


def test_titles_are_shown_cut_to_300_characters() -> None:
    from assistant.display import TITLE_LIMIT, short_title, shown_payload

    long = "Glacier " * 7500
    assert short_title("A short title") == "A short title" and short_title("x" * 300) == "x" * 300
    assert short_title(long) == long[:299].rstrip() + "…" and len(short_title(long)) <= TITLE_LIMIT
    payload = {"sources": [{"n": 1, "title": long}], "citations": [{"n": 1, "title": long}], "answer": long}
    shown = shown_payload(payload)
    assert shown["sources"][0]["title"] == shown["citations"][0]["title"] == short_title(long)
    assert shown["answer"] == long  # only titles in paper lists are cut


def test_a_day_zero_is_named_as_such_not_blamed_on_the_month_length() -> None:
    runner = CliRunner()
    for value, message in (
        ("Oct 0", "'Oct 0' is not a date: there is no day 0"),
        ("2024-06-00", "'2024-06-00' is not a date: there is no day 0"),
        ("0 March 2024", "'0 March 2024' is not a date: there is no day 0"),
    ):
        result = runner.invoke(papers, ["ask", "--date", value, "What is RAG?"])
        assert result.exit_code == 2, value
        assert f"Error: Invalid value for '--date': {message}" in result.output, result.output
