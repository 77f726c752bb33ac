"""``POST /api/ask`` and ``GET /api/health`` on a real ``papers-ui`` process, compared with ``ask --json``.

Real parts: the ``papers-ui`` and ``ask`` console scripts as subprocesses, a real index of the small
fixture corpus of tests/test_ui.py (plus one paper with a 60,000-character title), Gradio's server.
Requests use mode extract or retrieve-only (no model), and mode auto against the local provider of
tests/test_ui.py that always answers 500 (no model runs: the answer falls back to the cited extract
and carries the provider's error). Models chosen per question (``openai/<behaviour>``) reach
FakeOpenAIServer (tests/fake_llm.py, a fake of provider output, named as such) through
OPENAI_API_BASE: reasoning in the content or its own field, tool calls, empty and cut replies.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_llm import FakeOpenAIServer
from servers import BIN, clean_env, papers_ui
from test_ui import MOE_Q, MOE_TITLE, PAPERS, XSS_Q, XSS_TITLE, provider_fixture, write_corpus

from assistant.settings import ChunkSettings, EmbeddingSettings, load_settings

MODEL = "openai/x"  # the default model of the server: the local provider, which answers 500
_ = provider_fixture  # the "provider" fixture: a local OpenAI-compatible server on 127.0.0.1


@dataclass
class Server:
    url: str
    index: Path
    env: dict[str, str]
    cwd: Path


GLACIER_TITLE = "Measuring Glacier Retreat with Drone Photogrammetry: " + "a subtitle that goes on " * 2500 + "and on"
GLACIER = {
    "title": GLACIER_TITLE,  # 60,050 characters: stored whole, shown cut to 300
    "abstract": "Mountain glaciers retreat as summers warm. We measure glacier retreat from drone "
    "photogrammetry flights repeated every month. Drone surveys match ground surveys within ten centimetres.",
    "date": "2024-09-20",
}
GLACIER_Q = "How is glacier retreat measured with drone photogrammetry?"
MOE_SENTENCE = "Sparse routing reduces inference latency by 35% compared with dense transformers [1]."
TOOL_CALL = {"index": 0, "id": "c1", "type": "function", "function": {"name": "search_papers", "arguments": "{}"}}
BEHAVIOURS: dict[str, tuple[list[dict], str]] = {  # openai/<name> -> (the deltas sent, finish_reason)
    "think-split": (
        [
            {"content": p}
            for p in ("<thi", "nk>The user wants latency. Dense is faster [1].</thi", "nk>\n", MOE_SENTENCE)
        ],
        "stop",
    ),
    "think-unopened": (  # the reasoning cites and is supported: only the closing tag shows it was reasoning
        [{"content": "Sparse mixture-of-experts layers activate only a few expert networks per token [1]."}]
        + [{"content": p} for p in (" Routing scales to 64 experts [1]. ", "</think>\n\n", MOE_SENTENCE)],
        "stop",
    ),
    "reasoning-only": ([{"reasoning_content": "Let me think about routing [1]."}], "stop"),
    "tool-only": ([{"tool_calls": [TOOL_CALL]}], "tool_calls"),
    "empty": ([], "stop"),
    "cut": ([{"content": MOE_SENTENCE + " Sparse routing also scales to"}], "length"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[Server]:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("api")
    index = root / "index"
    settings = load_settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())
    corpus = write_corpus(root / "corpus")
    (corpus.parent / "glacier.jsonl").write_text(json.dumps(GLACIER) + "\n", encoding="utf-8")
    assert run_ingest([corpus.parent], settings).papers == len(PAPERS) + 1
    with FakeOpenAIServer(by_model=BEHAVIOURS) as fake:
        # no PAPERS_* or config.toml from outside; the local provider as the configured model, and
        # models chosen per question (openai/<behaviour>) at the fake of provider output
        env = clean_env(root, PAPERS_LLM__MODEL=MODEL, PAPERS_LLM__API_BASE=provider, OPENAI_API_BASE=fake.api_base)
        with papers_ui(index, env, root) as ui_process:
            yield Server(ui_process.url, index, env, root)


def post(server: Server, body: object, **kw: Any) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=120) as client:
        if isinstance(body, str | bytes):
            return client.post(f"{server.url}/api/ask", content=body, headers={"Content-Type": "application/json"})
        return client.post(f"{server.url}/api/ask", json=body, **kw)


def ask_json(server: Server, *args: str) -> tuple[int, dict[str, Any]]:
    """``ask --json`` on the same index and settings: (exit code, the printed object)."""
    done = subprocess.run(
        [str(BIN / "ask"), *args, "--index", str(server.index), "--json"],
        env=server.env,
        cwd=server.cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def same_as_cli(api: dict[str, Any], cli: dict[str, Any]) -> None:
    """Every key and value equal, except the timings' values (measured per run)."""
    assert set(api) == set(cli)
    assert set(api["timings"]) == set(cli["timings"])
    for key in cli:
        if key != "timings":
            assert api[key] == cli[key], key


def test_health_and_the_ui_beside_it(server: Server) -> None:
    reply = httpx.get(f"{server.url}/api/health", trust_env=False)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "papers": len(PAPERS) + 1, "model": MODEL}
    page = httpx.get(f"{server.url}/", trust_env=False)  # the routes do not shadow Gradio's
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_ask_extract_is_ask_json(server: Server) -> None:
    reply = post(server, {"question": MOE_Q, "mode": "extract", "k": 3})
    assert reply.status_code == 200, reply.text
    api = reply.json()
    code, cli = ask_json(server, MOE_Q, "--mode", "extract", "--k", "3")
    assert code == 0
    same_as_cli(api, cli)
    assert api["mode"] == "extract" and api["error"] is None
    assert MOE_TITLE in [c["title"] for c in api["citations"]]
    assert len(api["sources"]) == 3


def test_retrieve_only_is_ask_retrieve_only_json(server: Server) -> None:
    body = {"question": XSS_Q, "retrieve_only": True, "dates": ["2024-09-08", "2024-09-03"], "k": None}
    reply = post(server, body)
    assert reply.status_code == 200, reply.text
    api = reply.json()
    code, cli = ask_json(server, XSS_Q, "--retrieve-only", "--date", "2024-09-08", "--date", "2024-09-03")
    assert code == 0
    same_as_cli(api, cli)
    assert api["mode"] == "retrieve-only" and api["answer"] is None
    assert {s["title"] for s in api["sources"]} == {XSS_TITLE, MOE_TITLE}


def test_provider_failure_is_503_with_the_ask_json_object(server: Server) -> None:
    reply = post(server, {"question": MOE_Q, "mode": "auto"})
    assert reply.status_code == 503, reply.text
    api = reply.json()
    code, cli = ask_json(server, MOE_Q, "--mode", "auto")
    assert code == 1  # ask exits 1 when the model failed, even with the extractive fallback
    same_as_cli(api, cli)
    assert api["mode"] == "auto:extract" and api["model"] == MODEL
    assert "the test provider always fails" in api["error"]
    assert MOE_TITLE in [c["title"] for c in api["citations"]]


def test_abstention(server: Server) -> None:
    reply = post(server, {"question": "What is a good recipe for sourdough bread?", "mode": "extract"})
    assert reply.status_code == 200
    assert reply.json()["abstained"] is True and reply.json()["citations"] == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": ""}, 422, "the question is empty"),
        ({"question": " \n\t "}, 422, "the question is empty"),
        ({"question": "\x00\x1b[2J\u200b\u202e"}, 422, "the question is empty"),
        ({"question": MOE_Q, "k": 0}, 422, "k must be between 1 and 50, not 0"),
        ({"question": MOE_Q, "k": 51}, 422, "k must be between 1 and 50, not 51"),
        ({"question": MOE_Q, "k": "3"}, 422, "k: Input should be a valid integer"),
        ({"question": MOE_Q, "mode": "poetry"}, 422, "mode must be one of auto, generate, extract"),
        ({"question": MOE_Q, "colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        ({"k": 3}, 422, "question: Field required"),
        (["a list"], 422, "body: Input should be a valid dictionary"),
        ("{not json", 400, "the body must be a JSON object"),
        ('{"question": "RAG", "k": 51, "dates": ["\\ud800"], "model": "\\ud800"}', 422, "k must be between 1 and 50"),
    ],
)
def test_bad_requests_are_4xx_with_a_message(server: Server, body: object, status: int, message: str) -> None:
    reply = post(server, body)
    assert reply.status_code == status, reply.text
    assert set(reply.json()) == {"error"}
    assert message in reply.json()["error"]


def test_a_long_question_is_cut_with_a_note_as_ask_does(server: Server) -> None:
    question = MOE_Q + " " + "please " * 400
    reply = post(server, {"question": question, "retrieve_only": True})
    assert reply.status_code == 200, reply.text
    api = reply.json()
    code, cli = ask_json(server, question, "--retrieve-only")
    assert code == 0
    same_as_cli(api, cli)
    assert api["note"].startswith("The question was cut to its first") and len(api["question"]) <= 2000
    assert api["sources"][0]["title"] == MOE_TITLE


def test_odd_strings_in_options_are_cleaned_not_a_500(server: Server) -> None:
    body = (
        json.dumps({"question": MOE_Q, "retrieve_only": True})[:-1] + ', "dates": ["\\ud800", ""], "model": "\\ud800"}'
    )
    reply = post(server, body)  # lone surrogates, as JSON escapes (httpx would refuse to encode them)
    assert reply.status_code == 200, reply.text
    assert reply.json()["dates"] is None and reply.json()["sources"][0]["title"] == MOE_TITLE


def test_a_huge_body_is_refused_before_it_is_read_whole(server: Server) -> None:
    reply = post(server, {"question": MOE_Q, "padding": "x" * (2 << 20)})
    assert reply.status_code == 413 and "larger than 1,048,576 bytes" in reply.json()["error"]


# -- bodies too deep or too large (issue 21, item 6) -----------------------------------------------


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (nested(100_000), 400, "the body must be a JSON object nested at most 32 levels deep"),
        ('{"question": "RAG", "dates": ' + nested(40, '"Sep 3"') + "}", 400, "nested at most 32 levels deep"),
        ('{"question": "RAG", "dates": ' + nested(20, '"Sep 3"') + "}", 422, "dates.0: Input should be a valid string"),
        ('{"question": "' + "[{" * 1000 + '", "retrieve_only": 3}', 422, "retrieve_only: Input should be a valid bool"),
        ('{"question": "RAG", "k": 1' + "0" * 5000 + "}", 400, "the body must be a JSON object (Exceeds the limit"),
        (b'{"question": "\xff\xfe"}', 400, "the body must be a JSON object"),
        ({"question": "RAG", "dates": [1] * 100_000}, 422, "and 99,995 more"),
        ({"question": "RAG", "dates": ["Sep 3"] * 21}, 422, "dates: at most 20 dates may be given, not 21"),
        ({"question": "RAG", "model": "openai/" + "x" * 300}, 422, "model: at most 200 characters, not 307"),
    ],
)
def test_deep_or_large_bodies_are_a_json_4xx(server: Server, body: object, status: int, message: str) -> None:
    reply = post(server, body)
    assert reply.status_code == status, reply.text[:300]
    assert set(reply.json()) == {"error"} and message in reply.json()["error"], reply.json()
    assert len(reply.json()["error"]) < 1000


def test_a_declared_length_over_the_limit_is_refused_unread(server: Server) -> None:
    """A Content-Length over the limit is answered at once, not after waiting for 2 MiB that never come."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(server.url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        head = f"POST /api/ask HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {2 << 20}\r\n\r\n{{}}".encode())
        answer = ""
        while "}" not in answer and (piece := sock.recv(65536)):  # the headers, then the JSON body
            answer += piece.decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413") and "larger than 1,048,576 bytes" in answer


# -- dates that can match no paper (issue 21, item 11) -----------------------------------------------


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["Feb 30"], "dates: 'Feb 30' is not a date: February has 29 days"),
        (["2023-02-29"], "dates: '2023-02-29' is not a date: February 2023 has 28 days"),
        (["2024-13"], "dates: '2024-13' is not a date: there is no month 13"),
        (["Sep 3", "yesterday"], "dates: 'yesterday' is a relative date; name the day itself"),
        (["last week"], "dates: 'last week' is a relative date"),
        (["3 days ago"], "dates: '3 days ago' is a relative date"),
        (["someday soon"], "dates: 'someday soon' is not a date the filter reads; use a form such as 'Sep 3'"),
    ],
)
def test_impossible_or_relative_dates_are_422_naming_the_value(server: Server, dates: list[str], message: str) -> None:
    for retrieve_only in (True, False):
        reply = post(server, {"question": MOE_Q, "dates": dates, "retrieve_only": retrieve_only, "mode": "extract"})
        assert reply.status_code == 422, reply.text
        assert reply.json()["error"].startswith(message), reply.json()


def test_real_dates_in_any_form_still_filter(server: Server) -> None:
    for dates in (["Sep 3"], ["3 September 2024"], ["may 3", "2024-09-03"], ["Feb 29", "September 3, 2024"]):
        reply = post(server, {"question": MOE_Q, "dates": dates, "retrieve_only": True})
        assert reply.status_code == 200, reply.text
        assert [s["title"] for s in reply.json()["sources"]] == [MOE_TITLE], dates


def test_ask_date_is_checked_the_same_way(server: Server) -> None:
    wrong = {"Feb 30": "'Feb 30' is not a date: February has 29 days", "yesterday": "'yesterday' is a relative date"}
    for value, message in wrong.items():
        done = subprocess.run(
            [str(BIN / "ask"), MOE_Q, "--index", str(server.index), "--date", value],
            env=server.env,
            cwd=server.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"Error: Invalid value for '--date': {message}" in done.stderr


# -- long titles are shown cut, stored whole (issue 21, item 11) -------------------------------------


SHORT = GLACIER_TITLE[:299].rstrip() + "…"


def test_a_long_title_is_shown_cut_to_300_characters(server: Server) -> None:
    reply = post(server, {"question": GLACIER_Q, "mode": "extract"})
    assert reply.status_code == 200, reply.text[:300]
    api = reply.json()
    assert api["sources"][0]["title"] == SHORT and len(SHORT) == 300
    assert api["citations"][0]["title"] == SHORT
    code, cli = ask_json(server, GLACIER_Q, "--mode", "extract")
    assert code == 0
    same_as_cli(api, cli)
    retrieved = post(server, {"question": GLACIER_Q, "retrieve_only": True}).json()
    assert retrieved["sources"][0]["title"] == SHORT
    for args in ([GLACIER_Q, "--mode", "extract"], [GLACIER_Q, "--retrieve-only"]):
        human = subprocess.run(
            [str(BIN / "ask"), *args, "--index", str(server.index)],
            env=server.env,
            cwd=server.cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert human.returncode == 0 and SHORT in human.stdout and GLACIER_TITLE[:301] not in human.stdout
    from gradio_client import Client

    text = Client(server.url, verbose=False).predict(GLACIER_Q, mode="extract", api_name="/chat")
    assert SHORT in text and GLACIER_TITLE[:301] not in text
    from assistant.store import PaperIndex

    index = PaperIndex.open(load_settings(index=server.index))  # the index keeps the title whole
    try:
        assert GLACIER_TITLE in [entry.title for entry in index.manifest.papers.values()]
    finally:
        index.close()


# -- what a model writes instead of an answer (issue 21, item 7) -------------------------------------


def generate(server: Server, behaviour: str, mode: str = "generate") -> tuple[httpx.Response, dict[str, Any]]:
    reply = post(server, {"question": MOE_Q, "mode": mode, "model": f"openai/{behaviour}"})
    return reply, reply.json()


@pytest.mark.parametrize("behaviour", ["think-split", "think-unopened"])
def test_reasoning_in_the_content_never_reaches_the_answer(server: Server, behaviour: str) -> None:
    for mode in ("generate", "auto"):
        reply, api = generate(server, behaviour, mode)
        assert reply.status_code == 200 and api["error"] is None, api
        assert api["answer"] == MOE_SENTENCE and api["mode"] == mode
        assert [(s["text"], s["citations"]) for s in api["sentences"]] == [(MOE_SENTENCE.replace(" [1].", "."), [1])]
    if behaviour == "think-unopened":
        assert "reasoning (ended by a closing tag it never opened) was left out" in api["note"]
    code, cli = ask_json(server, MOE_Q, "--mode", "generate", "--model", f"openai/{behaviour}")
    assert code == 0 and cli["answer"] == MOE_SENTENCE


def test_reasoning_shown_while_streaming_is_withdrawn_in_the_cli(server: Server) -> None:
    done = subprocess.run(
        [
            str(BIN / "ask"),
            MOE_Q,
            "--mode",
            "generate",
            "--model",
            "openai/think-unopened",
            "--index",
            str(server.index),
        ],
        env=server.env,
        cwd=server.cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"(the text above was withdrawn; the checked answer is:)\n{MOE_SENTENCE}\n" in done.stdout


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("reasoning-only", "openai/reasoning-only wrote only its reasoning (31 characters), no answer"),
        ("tool-only", "openai/tool-only asked to call a tool (search_papers) instead of answering"),
        ("empty", "openai/empty sent an empty reply"),
    ],
)
def test_no_answer_text_is_an_error_in_every_mode(server: Server, behaviour: str, error: str) -> None:
    reply, api = generate(server, behaviour, "generate")
    assert reply.status_code == 503 and api["error"].startswith(error), api
    assert api["answer"] == "" and api["sentences"] == []
    reply, api = generate(server, behaviour, "auto")  # the cited extract, and the error with it
    assert reply.status_code == 503 and api["error"].startswith(error) and api["mode"] == "auto:extract"
    assert MOE_TITLE in [c["title"] for c in api["citations"]]
    code, cli = ask_json(server, MOE_Q, "--mode", "generate", "--model", f"openai/{behaviour}")
    assert code == 1 and cli["error"].startswith(error)
    from gradio_client import Client

    text = Client(server.url, verbose=False).predict(
        MOE_Q, model=f"openai/{behaviour}", mode="generate", api_name="/chat"
    )
    assert text.startswith(f"Error: {error}")


def test_a_reply_cut_at_max_tokens_drops_its_unfinished_sentence_with_a_note(server: Server) -> None:
    note = "The model's reply was cut at llm.max_tokens (256 tokens); an unfinished last sentence was left out."
    for mode in ("generate", "auto"):
        reply, api = generate(server, "cut", mode)
        assert reply.status_code == 200 and api["error"] is None
        assert api["answer"] == MOE_SENTENCE and note in api["note"], api
    code, cli = ask_json(server, MOE_Q, "--mode", "generate", "--model", "openai/cut")
    assert code == 0 and cli["answer"] == MOE_SENTENCE and note in cli["note"]
    from gradio_client import Client

    text = Client(server.url, verbose=False).predict(MOE_Q, model="openai/cut", mode="generate", api_name="/chat")
    assert text.startswith(note) and "also scales to" not in text


def test_the_ui_date_filter_is_checked_the_same_way(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match=r"dates: 'Feb 30' is not a date: February has 29 days"):
        client.predict(MOE_Q, mode="extract", dates="Sep 3, Feb 30", api_name="/chat")
    text = client.predict(MOE_Q, mode="extract", dates="Sep 3, 2024", api_name="/chat")  # one date, with its year
    assert MOE_TITLE in text
