"""``assistant.render`` and the answer's one definition (``assistant.result``): every medium shows
the same fields of an answer, JSON is the ``Answer``'s fields and round-trips, and ``read_answer`` /
``AnswerStream`` read a stream to its Answer (or say it ended without one). Hand-built answers, no index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields, replace

import pytest

from assistant import render
from assistant.abstain import Decision
from assistant.result import Answer, AnswerStream, IncompleteStream, Retrieved, json_value, read_answer
from assistant.result import render as render_sentence
from assistant.retrieve import Retrieval, Source
from assistant.verify import AnswerSentence

THRESHOLD = 0.5
SOURCES = [
    Source(
        1,
        "arxiv:2409.00001",
        "Sparse Routing <b>Fast</b> & *Bold*",
        0.9,
        0.8,
        "Sparse routing.",
        "Sparse routing cuts latency by 35%. Experts stay busy.",
        "2024-09-03",
        "https://arxiv.org/abs/2409.00001",
    ),
    Source(
        2,
        "arxiv:2409.00002",
        "Dense Baselines Revisited",
        0.7,
        0.6,
        "Dense models.",
        "Dense models are slow.",
        "2024-09-04",
        None,
    ),
    Source(3, "arxiv:2409.00003", "An Uncited Paper", 0.5, 0.4, "Other.", "Something else entirely.", None, None),
]
SENTENCES = [
    AnswerSentence("Sparse routing cuts latency by 35%.", [1], 0.91, False),
    AnswerSentence("Dense models are slower.", [2], 0.31, False),  # weak: below the threshold
    AnswerSentence("Routing doubles accuracy.", [1], 0.8, True, note="a figure the paper contradicts"),
]
DECISION = Decision("answered", 0.83, 0.6, "", {"dense": 0.8}, True, 0.3)


def make(**changes: object) -> Answer:
    base = Answer(
        question="How does sparse routing cut latency?",
        answer="Sparse routing cuts latency by 35% [1]. Dense models are slower [2]. Routing doubles accuracy [1].",
        sources=list(SOURCES),
        sentences=list(SENTENCES),
        abstained=False,
        mode="generate",
        model="openai/x",
        timings={"retrieve_ms": 12.5, "generate_ms": 300.0},
        removed_citations=[7],
        evidence={1: ["Sparse routing cuts latency by 35%."]},
        decision=DECISION,
        dates=["2024-09-03"],
        note="Only papers dated 2024-09-03.",
        translation=None,
        coverage="answered",
        intent="topic",
        preamble="",
        diagnostics={"relevance": 0.83, "raw_answer_chars": 120},
    )
    return replace(base, **changes)


CLOSEST = Decision("closest", 0.4, 0.6, "coverage score 0.40 is below the threshold 0.60", {}, True, 0.3)
NONE = Decision("none", 0.1, 0.6, "coverage score 0.10 is below the floor 0.30", {}, True, 0.3)
STATES = {
    "answered": make(),
    "closest": make(abstained=True, coverage="closest", decision=CLOSEST, mode="closest", preamble="The closest:"),
    "none": make(
        answer="Not covered.", sentences=[], abstained=True, coverage="none", decision=NONE, removed_citations=[]
    ),
    "empty": make(answer="", sentences=[], removed_citations=[], note="No sentence survived the checks."),
    "failed": make(answer="", sentences=[], error="openai/x failed: 500", removed_citations=[]),
    "fallback": make(error="openai/x failed: 500", mode="auto:extract"),
}


def mediums(answer: Answer) -> dict[str, str]:
    """Every medium's text of one answer (JSON as its text)."""
    terminal = render.answer_terminal(answer, THRESHOLD)
    return {
        "terminal": terminal.text,
        "plain": render.answer_plain(answer, THRESHOLD),
        "markdown": render.answer_markdown(answer, THRESHOLD),
        "json": json.dumps(render.answer_json(answer), ensure_ascii=False),
    }


def in_medium(medium: str, text: str) -> str:
    """``text`` as the medium shows it: escaped in Markdown, JSON-quoted in JSON."""
    if medium == "markdown":
        return render.md_escape(text)
    if medium == "json":
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return text


# -- the same fields in every medium -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STATES))
@pytest.mark.parametrize("medium", ["terminal", "plain", "markdown", "json"])
def test_every_medium_shows_the_same_fields(name: str, medium: str) -> None:
    answer = STATES[name]
    text = mediums(answer)[medium]
    shown = render.state(answer)
    expected: list[str] = []
    if answer.note:
        expected.append(answer.note)
    if answer.error:
        expected.append(answer.error)
    if render.why(answer):
        expected.append(render.why(answer))
    if shown in ("answered", "none"):
        said = [s.text if medium in ("markdown", "json") else render_sentence(s) for s in answer.sentences]
        expected += said or [answer.answer or ""]
    if shown == "failed":  # nothing generated: the retrieved papers instead
        expected += [src.title for src in answer.sources]
    for source in render.cited_sources(answer):
        expected += [source.title] + [x for x in (source.date, source.url) if x]
    for expected_text in expected:
        shown_as = render.safe_url(expected_text) if medium == "markdown" and "://" in expected_text else None
        assert (shown_as or in_medium(medium, expected_text)) in text, (medium, expected_text)
    uncited = SOURCES[2].title
    assert (uncited in text) == (shown == "failed" or medium == "json"), "only the failure lists every paper"


@pytest.mark.parametrize("medium", ["terminal", "plain", "markdown"])
def test_every_text_medium_marks_the_same_sentences_as_flagged(medium: str) -> None:
    answer = STATES["answered"]
    verdicts = [render.verdict(s, THRESHOLD) for s in answer.sentences]
    assert verdicts == ["supported", "weak", "flagged"]
    text = mediums(answer)[medium]
    for sentence in answer.sentences:
        label = in_medium(medium, render.support_label(sentence, THRESHOLD))
        assert (label in text) == (medium == "markdown" or render.verdict(sentence, THRESHOLD) != "supported")
    assert "a figure the paper contradicts" in text


def test_no_survivor_and_no_answer_are_said_alike() -> None:
    empty, none = STATES["empty"], STATES["none"]
    for medium, text in mediums(empty).items():
        if medium != "json":
            assert in_medium(medium, render.NO_SURVIVOR) in text, medium
    assert render.answer_markdown(none, THRESHOLD).startswith(f"_{render.md_escape(none.note)}_\n\n**No answer.** Not")
    assert render.answer_plain(none, THRESHOLD).split("\n") == [none.note, "Not covered.", f"Why: {NONE.reason}"]


def test_failure_text_names_the_error_first_then_the_retrieved_papers() -> None:
    failed = STATES["failed"]
    plain = render.answer_plain(failed, THRESHOLD)
    assert plain == render.failure_plain("openai/x failed: 500", failed.sources, failed.note)
    assert plain.startswith(f"Error: openai/x failed: 500\n\n{failed.note}\n\n{render.NOTHING_GENERATED}\n[1] ")
    terminal = render.answer_terminal(failed, THRESHOLD)
    assert terminal.err == "error: openai/x failed: 500\n" and render.NOTHING_GENERATED in terminal.out
    assert render.answer_markdown(failed, THRESHOLD).startswith("⚠ **The model could not answer.**")


# -- terminal text: streamed or not, the same text -----------------------------------------------


@pytest.mark.parametrize("name", sorted(STATES))
def test_ask_prints_what_format_text_writes(name: str) -> None:
    """Streamed (the answer printed as it was checked, then the rest) or not, stdout is the same."""
    answer = STATES[name]
    streamed = answer.answer or ""
    whole = render.answer_terminal(answer, THRESHOLD)
    rest = render.answer_terminal(answer, THRESHOLD, streamed=streamed)
    assert rest.err == whole.err
    if streamed:
        assert streamed + rest.out == whole.out
    else:  # nothing streamed: nothing to end or withdraw
        assert rest.out == whole.out


def test_streamed_reasoning_is_withdrawn() -> None:
    answer = STATES["answered"]
    out = render.answer_terminal(answer, THRESHOLD, streamed="Let me think [1]. ").out
    assert out.startswith(f"\n\n{render.WITHDRAWN}\n{answer.answer}\n")
    same = render.answer_terminal(answer, THRESHOLD, streamed=answer.answer.replace(" ", "  ") + " ").out
    assert render.WITHDRAWN not in same and same.startswith("\n(")  # whitespace aside, it was the answer


def test_retrieve_only_terminal_lists_every_source() -> None:
    retrieved = Retrieved(Retrieval("q", list(SOURCES), 0.8, {"retrieve_ms": 3.0}), [], CLOSEST)
    text = render.retrieved_terminal(retrieved)
    assert f"(coverage: closest; the collection may not answer exactly this: {CLOSEST.reason})\n\n" in text
    assert all(f"[{s.n}] {s.title}  (score" in text for s in SOURCES)


# -- JSON: the Answer's fields, round trip -------------------------------------------------------


def test_json_is_the_answers_fields_and_round_trips() -> None:
    answer = STATES["answered"]
    payload = json.loads(render.to_json(answer))
    names = {f.name: f.metadata.get("json", f.name) for f in fields(Answer)}
    assert set(payload) == {key for key in names.values() if key is not None} | {"citations"}
    assert names["evidence"] is None and names["decision"] == "abstention"
    for f in fields(Answer):
        key = names[f.name]
        if key is not None and f.name != "timings":
            assert payload[key] == json_value(getattr(answer, f.name)), f.name
    assert payload["timings"] == answer.timings and payload["diagnostics"] == answer.diagnostics
    assert (
        payload["citations"]
        == answer.citations
        == [
            {"n": 1, "title": SOURCES[0].title, "paper_id": SOURCES[0].paper_id},
            {"n": 2, "title": SOURCES[1].title, "paper_id": SOURCES[1].paper_id},
        ]
    )
    assert payload["abstention"]["coverage"] == "answered" and payload["coverage"] == "answered"
    assert json.loads(json.dumps(payload)) == payload == render.answer_json(answer)


def test_json_adds_a_zero_generate_time_and_shortens_titles() -> None:
    long = replace(SOURCES[0], title="T" * 400)
    answer = make(sources=[long, SOURCES[1]], timings={"retrieve_ms": 1.0})
    payload = render.answer_json(answer)
    assert payload["timings"] == {"generate_ms": 0.0, "retrieve_ms": 1.0}
    assert payload["sources"][0]["title"] == payload["citations"][0]["title"] == "T" * 299 + "…"
    assert answer.sources[0].title == "T" * 400  # the answer keeps it whole


def test_retrieve_only_json_has_the_answers_keys() -> None:
    retrieved = Retrieved(Retrieval("q", list(SOURCES), 0.8, {"retrieve_ms": 3.0}), [], CLOSEST)
    payload = render.answer_json(retrieved)
    assert set(payload) == set(render.answer_json(STATES["answered"]))
    assert payload["answer"] is None and payload["model"] is None and payload["mode"] == "retrieve-only"
    assert payload["coverage"] == "closest" and payload["abstained"] is True and payload["sentences"] == []
    assert payload["timings"] == {"generate_ms": 0.0, "retrieve_ms": 3.0} and payload["citations"] == []
    ranking_only = Retrieved(Retrieval("q", [], 0.0), [], None)
    assert render.answer_json(ranking_only)["coverage"] is None


# -- reading a stream to its Answer --------------------------------------------------------------


def chain_stream(*pieces: str, answer: Answer | None, closed: list[bool]) -> Iterator[str | Answer]:
    try:
        yield from pieces
        if answer is not None:
            yield answer
            yield "after the answer"  # never read
    finally:
        closed.append(True)


def test_read_answer_returns_the_answer_and_hands_over_every_piece() -> None:
    answer, seen, closed = STATES["answered"], [], []
    got = read_answer(chain_stream("A [1]. ", "", "B [2]. ", answer=answer, closed=closed), seen.append)
    assert got is answer and seen == ["A [1]. ", "", "B [2]. "] and closed == [True]


def test_a_stream_without_an_answer_is_a_clear_error() -> None:
    closed: list[bool] = []
    with pytest.raises(IncompleteStream, match="ended without an Answer"):
        read_answer(chain_stream("A [1]. ", answer=None, closed=closed))
    assert closed == [True]
    stream = AnswerStream(iter(["x"]))
    with pytest.raises(IncompleteStream, match="not been read"):
        _ = stream.answer


def test_a_callback_that_raises_stops_and_closes_the_stream() -> None:
    closed: list[bool] = []

    def stop(piece: str) -> None:
        if not piece:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read_answer(chain_stream("A. ", "", "B. ", answer=STATES["answered"], closed=closed), stop)
    assert closed == [True]


def test_answer_stream_yields_pieces_then_holds_the_answer() -> None:
    answer, closed = STATES["none"], []
    stream = AnswerStream(chain_stream("Not covered.", answer=answer, closed=closed))
    assert list(stream) == ["Not covered."] and stream.answer is answer
    stream.close()
    assert closed == [True]
