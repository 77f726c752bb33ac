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
