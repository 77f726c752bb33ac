"""Living questions (``assistant.watch``): ``papers watch add|list|remove|run``, the change reported by
the ``ingest`` that brings a new paper (text and ``--json``), no re-run when an ingest changes nothing,
two processes adding at once, a damaged file left alone, and the UI's "Watched questions" panel.

Real small indexes (two papers, then a third and a fourth that answer the watched question), built
through the ``papers`` CLI in-process (click's CliRunner); no model runs (answers are extractive)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import papers
from assistant.errors import InputError
from assistant.watch import WATCH_FILE, Cited, Snapshot, Watched, WatchList
from tests.watch_papers import BASE, QUESTION, SOURDOUGH

REPO = Path(__file__).resolve().parent.parent

SECOND = {
    "title": "Temperature Control of Sourdough Starters",
    "abstract": "We measure how the temperature of a sourdough starter changes the balance of yeast and "
    "lactic acid bacteria, and how quickly the sourdough ferments at 20 and 30 degrees.",
    "arxiv_id": "2409.00004",
}


def write(folder: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = folder / name
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(papers, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the two BASE papers (read-only: tests that change it copy it)."""
    root = tmp_path_factory.mktemp("watch")
    result = invoke("ingest", "--index", str(root / "index"), "--json", str(write(root, "base.jsonl", BASE)))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["added"] == 2 and "watch" not in report  # nothing watched: ingest's output as before
    return root / "index"


@pytest.fixture
def index(base_index: Path, tmp_path: Path) -> Path:
    """A private copy of ``base_index``."""
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(base_index, copy)
    return copy


def test_the_ingest_that_brings_the_paper_reports_the_change(index: Path, tmp_path: Path, base_index: Path) -> None:
    added = invoke("watch", "add", "--index", str(index), QUESTION)
    assert added.exit_code == 0, added.output
    assert 'watching #1: "How does temperature affect sourdough fermentation?"' in added.output
    assert "now: coverage none, citing nothing" in added.output
    before = json.loads((index / WATCH_FILE).read_text())["questions"][0]
    assert before["last"]["coverage"] == "none" and before["seen"] == before["last"]

    # an ingest that changes nothing (the same file again: not even a new source) does not answer them again
    again = invoke("ingest", "--index", str(index), "--json", str(base_index.parent / "base.jsonl"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["added"] == 0 and "watch" not in json.loads(again.output)
    assert json.loads((index / WATCH_FILE).read_text())["questions"][0] == before

    # the ingest that brings the answering paper reports it, in --json
    result = invoke("ingest", "--index", str(index), "--json", str(write(tmp_path, "c.jsonl", [SOURDOUGH])))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["added"] == 1
    watch = report["watch"]
    assert watch["watched"] == 1 and watch["changed"] == 1 and watch["error"] is None
    (change,) = watch["changes"]
    assert change["id"] == 1 and change["question"] == QUESTION and change["changed"] is True
    assert change["coverage"] == {"before": "none", "after": "answered"}
    assert change["newly_cited"] == [{"paper_id": "arxiv:2409.00003", "title": SOURDOUGH["title"]}]
    assert change["no_longer_cited"] == [] and change["error"] is None
    generation = json.loads((index / "manifest.json").read_text())["generation"]
    assert change["generation"] == generation

    # and in text: one line per changed question
    result = invoke("ingest", "--index", str(index), str(write(tmp_path, "d.jsonl", [SECOND])))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("watched #")]
    assert lines == [
        'watched #1 "How does temperature affect sourdough fermentation?": '
        f"newly cited: {SECOND['title']} (arxiv:2409.00004); "
        f"no longer cited: {SOURDOUGH['title']} (arxiv:2409.00003)"
    ]

    # what changed since last seen accumulates until marked: none → answered, citing the fourth paper
    (watched,) = WatchList(index).entries()
    assert watched.unseen is not None and watched.unseen.before == "none" and watched.unseen.after == "answered"
    assert [c.paper_id for c in watched.unseen.newly_cited] == ["arxiv:2409.00004"]
    listed = invoke("watch", "list", "--index", str(index), "--mark-seen")
    assert (
        "#1" in listed.output
        and "[changed]" in listed.output
        and "since last seen: coverage none → answered" in listed.output
    )
    assert WatchList(index).entries()[0].unseen is None

    # watch run: nothing changed since the last ingest
    run = invoke("watch", "run", "--index", str(index), "--json")
    assert json.loads(run.output) == {"watched": 1, "changed": 0, "changes": [], "error": None}
    text = invoke("watch", "run", "--index", str(index))
    assert text.output.strip() == "1 watched question, 0 changed"


def test_add_list_remove_and_their_errors(index: Path) -> None:
    where = ["--index", str(index)]
    assert invoke("watch", "list", *where).output.startswith("no watched questions")
    assert invoke("watch", "add", *where, "--json", "Which papers route tokens to experts?").exit_code == 0
    second = invoke("watch", "add", *where, "--json", "  How are  protein structures encoded? ")
    assert second.exit_code == 0, second.output
    payload = json.loads(second.output)
    assert payload["id"] == 2 and payload["question"] == "How are protein structures encoded?"
    assert payload["last"]["coverage"] in ("answered", "closest") and payload["error"] is None
    assert payload["last"]["cited"][0]["paper_id"] == "arxiv:2409.00002"
    stored = (index / WATCH_FILE).read_text()

    # errors: one line each, and nothing lost
    for args, message, code in [
        (["add", *where, "   "], "error: the question is empty", 2),
        (["add", *where, "how are protein structures ENCODED?"], 'error: already watched as #2: "How are', 1),
        (["remove", *where, "7"], "error: no watched question '7'", 1),
        (["remove", *where, "an unknown question"], "error: no watched question 'an unknown question'", 1),
    ]:
        result = CliRunner().invoke(papers, ["watch", *args])
        assert result.exit_code == code, result.output
        assert result.output.count("\n") == 1 and result.output.startswith(message), result.output
        assert (index / WATCH_FILE).read_text() == stored

    listed = json.loads(invoke("watch", "list", *where, "--json").output)["questions"]
    assert [q["id"] for q in listed] == [1, 2] and listed[1]["unseen"] is None

    # remove by text (any case and spacing) and by id; ids are not reused
    removed = invoke("watch", "remove", *where, "which papers ROUTE tokens to experts?")
    assert removed.output.startswith('no longer watching #1: "Which papers route tokens to experts?"')
    assert invoke("watch", "remove", *where, "--json", "#2").exit_code == 0
    assert WatchList(index).entries() == []
    assert (
        json.loads(invoke("watch", "add", *where, "--json", "Which papers route tokens to experts?").output)["id"] == 3
    )


def test_add_needs_an_index_and_a_damaged_file_is_left_alone(tmp_path: Path, index: Path) -> None:
    missing = CliRunner().invoke(papers, ["watch", "add", "--index", str(tmp_path / "none"), "What is RAG?"])
    assert missing.exit_code == 1 and missing.output.startswith("error: no index at ")
    (index / WATCH_FILE).write_text("{not json", encoding="utf-8")
    for args in (["add", "What is RAG?"], ["list"], ["remove", "1"], ["run"]):
        result = CliRunner().invoke(papers, ["watch", *args, "--index", str(index)])
        assert result.exit_code == 1 and "is damaged" in result.output and result.output.count("\n") == 1
    assert (index / WATCH_FILE).read_text() == "{not json"


ADDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assistant.watch import WatchList
    watch = WatchList(Path(sys.argv[1]))
    for i in range(int(sys.argv[3])):
        watch.add(f"question {i} from {sys.argv[2]}?")
    """
)


def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")  # adding reads no index, only that there is one
    per = 25
    procs = [
        subprocess.Popen([sys.executable, "-c", ADDER, str(tmp_path), name, str(per)], cwd=REPO)
        for name in ("left", "right")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = WatchList(tmp_path).entries()
    assert len(entries) == 2 * per
    assert sorted(w.id for w in entries) == list(range(1, 2 * per + 1))
    assert {w.question for w in entries} == {f"question {i} from {n}?" for i in range(per) for n in ("left", "right")}
    assert not list(tmp_path.glob("*.part"))


def test_the_ui_panel_shows_what_changed_since_last_looked(index: Path, tmp_path: Path) -> None:
    from assistant.answer import AnswerChain
    from assistant.settings import load_settings
    from assistant.ui.watched import EMPTY, WatchedHandlers, render_watched_md

    assert render_watched_md([]) == EMPTY
    watch = WatchList(index)
    watched = watch.add("How does temperature affect <b>sourdough</b> fermentation?")
    settings = load_settings(index=index)
    chain = AnswerChain(settings)
    try:
        panel = WatchedHandlers(settings, chain)
        first = panel.check()
        assert "Answered 1 question(s) again." in first
        assert "1 of 1 watched questions changed" in first  # its first answer has not been seen yet
        assert "<b>" not in first and "&lt;b&gt;" in first
        assert "Nothing changed since you last looked (1 watched)." in panel.mark_seen()
        assert invoke("ingest", "--index", str(index), str(write(tmp_path, "c.jsonl", [SOURDOUGH]))).exit_code == 0
        shown = panel.show()  # the ingest answered it again, in its own process or not
        assert "**1 of 1 watched questions changed since you last looked.**" in shown
        assert "coverage none → **answered**" in shown and "newly cited: Fermentation Kinetics" in shown
        assert f"**#{watched.id}**" in shown and "🔔 **changed**" in shown
        assert "Nothing changed" in panel.mark_seen()
    finally:
        chain.retriever.index.close()


def test_the_ui_builds_with_the_panel(index: Path) -> None:
    from assistant import ui
    from assistant.answer import AnswerChain
    from assistant.settings import load_settings

    settings = load_settings(index=index)
    chain = AnswerChain(settings)
    try:
        app = ui.build_app(settings, chain)
        ids = {getattr(block, "elem_id", None) for block in app.blocks.values()}
        assert {"watched-box", "watched", "watched-check", "watched-seen"} <= ids
    finally:
        chain.retriever.index.close()


def test_a_change_in_one_line_and_in_json() -> None:
    a, b = Cited("arxiv:1", "Paper A"), Cited("arxiv:2", "Paper B")
    before = Snapshot("closest", (a,), 3, "2024-09-03T10:00:00Z")
    after = Snapshot("answered", (b,), 4, "2024-09-04T10:00:00Z")
    watched = Watched(5, "What changed?", "2024-09-01T00:00:00Z", last=after, seen=before)
    change = watched.unseen
    assert change is not None and change.changed
    assert change.line() == (
        'watched #5 "What changed?": coverage closest → answered; newly cited: Paper B (arxiv:2); '
        "no longer cited: Paper A (arxiv:1)"
    )
    assert change.as_dict() == {
        "id": 5,
        "question": "What changed?",
        "changed": True,
        "coverage": {"before": "closest", "after": "answered"},
        "newly_cited": [{"paper_id": "arxiv:2", "title": "Paper B"}],
        "no_longer_cited": [{"paper_id": "arxiv:1", "title": "Paper A"}],
        "generation": 4,
        "error": None,
    }
    assert Watched(5, "What changed?", "", last=after, seen=after).unseen is None


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe{",  # not UTF-8
        b'{"questions": [{"id": 1, "question": "q", "last": [1]}]}',  # an answer that is not an object
        b'{"questions": [{"id": 1, "question": "q"}, {"id": 1, "question": "r"}]}',  # one id twice
    ],
)
def test_every_damaged_file_is_one_line_and_left_alone(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / WATCH_FILE).write_bytes(content)
    result = CliRunner().invoke(papers, ["watch", "list", "--index", str(tmp_path)])
    assert result.exit_code == 1 and "is damaged" in result.output and result.output.count("\n") == 1
    assert (tmp_path / WATCH_FILE).read_bytes() == content


def test_ids_are_not_reused_when_next_id_is_behind(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / WATCH_FILE).write_text('{"next_id": 1, "questions": [{"id": 4, "question": "q?"}]}')
    assert WatchList(tmp_path).add("Another question?").id == 5


def test_no_index_is_an_error_for_every_command_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    for args in (["list"], ["run"], ["remove", "1"], ["add", "What is RAG?"]):
        result = CliRunner().invoke(papers, ["watch", *args, "--index", str(missing)])
        assert result.exit_code == 1 and result.output.startswith("error: no index at "), args
    assert not missing.exists()


def test_mark_seen_marks_what_was_shown_not_an_answer_recorded_since(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    watch = WatchList(tmp_path)
    first = watch.add("Which papers route tokens?")
    old = Snapshot("none", (), 1, "t1")
    new = Snapshot("answered", (Cited("arxiv:2409.00001", "Sparse"),), 2, "t2")
    watch.record({first.id: old})
    shown = {w.id: w.last for w in watch.entries() if w.last}
    watch.record({first.id: new})  # a run records a newer answer after the list was printed
    second = watch.add("Which papers fold proteins?")
    watch.record({second.id: old})
    assert watch.mark_seen(shown=shown) == 1
    entries = {w.id: w for w in watch.entries()}
    assert entries[first.id].seen == old and entries[first.id].unseen is not None
    assert entries[second.id].seen is None


def test_the_same_question_in_another_unicode_form_is_already_watched(tmp_path: Path) -> None:
    import unicodedata

    (tmp_path / "manifest.json").write_text("{}")
    watch = WatchList(tmp_path)
    watch.add(unicodedata.normalize("NFC", "Which café studies exist?"))
    with pytest.raises(InputError, match="already watched as #1"):
        watch.add(unicodedata.normalize("NFD", "Which CAFÉ studies exist?"))
    assert len(watch.entries()) == 1


@pytest.mark.parametrize("version", ["99", '"1"', "null"])
def test_a_newer_or_unknown_version_is_refused_and_never_rewritten(tmp_path: Path, version: str) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    content = '{"version": ' + version + ', "next_id": 2, "questions": [{"id": 1, "question": "q?"}]}'
    (tmp_path / WATCH_FILE).write_text(content)
    for args in (["list"], ["add", "Another question?"], ["remove", "1"]):
        result = CliRunner().invoke(papers, ["watch", *args, "--index", str(tmp_path)])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert f"has version {json.loads(version)!r}" in result.output
    assert (tmp_path / WATCH_FILE).read_text() == content
