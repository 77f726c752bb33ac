"""``POST /api/ask`` and ``GET /api/health`` on a real ``papers-ui`` process, compared with ``ask --json``.

Real parts: the ``papers-ui`` and ``ask`` console scripts as subprocesses, a real index of the small
fixture corpus of tests/test_ui.py, Gradio's server. Requests use mode extract or retrieve-only (no
model), and mode auto against the local provider of tests/test_ui.py that always answers 500 (no
model runs: the answer falls back to the cited extract and carries the provider's error).
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: str) -> Iterator[Server]:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("api")
    index = root / "index"
    settings = load_settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())
    assert run_ingest([write_corpus(root / "corpus")], settings).papers == len(PAPERS)
    # no PAPERS_* or config.toml from outside; the local provider as the configured model
    env = clean_env(root, PAPERS_LLM__MODEL=MODEL, PAPERS_LLM__API_BASE=provider)
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
    assert reply.json() == {"status": "ok", "papers": len(PAPERS), "model": MODEL}
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
