"""A long-lived ``papers-ui`` process as users meet it: the index changes under it, clients go away,
it is exposed beyond loopback, and it must never phone home.

Real parts: ``papers-ui``, ``ingest`` and ``ask`` as subprocesses, a real index (Chroma, BM25, the
packaged encoder) of the fixture corpus of tests/test_ui.py. No LLM runs here except where a test
says so (FakeOpenAIServer, named as the fake it is, stands in for a slow provider).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import BIN, clean_env, free_port, papers_ui
from test_ui import MOE_Q, MOE_TITLE, PAPERS, write_corpus

from assistant.answer import AnswerChain
from assistant.errors import ConfigError
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings, load_settings

CORAL = {
    "title": "Detecting Coral Reef Bleaching from Multispectral Satellite Imagery",
    "abstract": "Coral reef bleaching spreads when sea water stays too warm for weeks. "
    "We detect bleached reefs from multispectral satellite images with a per-pixel classifier. "
    "The detector finds bleaching events two weeks earlier than diver surveys on three reef systems.",
    "date": "2024-09-10",
}
KELP = {
    "title": "Mapping Kelp Forest Decline with Underwater Acoustic Sensors",
    "abstract": "Kelp forests shrink as sea urchins graze them. "
    "We map kelp canopy decline from the sound that underwater acoustic sensors record along the coast. "
    "Acoustic maps agree with aerial surveys of kelp canopy at four coastal sites.",
    "date": "2024-09-11",
}
CORAL_Q = "How can coral reef bleaching be detected from satellite images?"
KELP_Q = "How is kelp forest decline mapped with acoustic sensors?"


def build(root: Path) -> Settings:
    from ingest.pipeline import run_ingest

    settings = load_settings(index=root / "index", embedding=EmbeddingSettings(), chunking=ChunkSettings())
    assert run_ingest([write_corpus(root / "corpus")], settings).papers == len(PAPERS)
    return settings


def post(url: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/api/ask", json=body, timeout=kw.pop("timeout", 120), trust_env=False, **kw)


def ingest(index: Path, env: dict[str, str], cwd: Path, *paths: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "ingest"), *map(str, paths), "--index", str(index), "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- 1. live index: ingest while the UI serves -----------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings, dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("live")
    settings = build(root)
    env = clean_env(root, PAPERS_LLM__MODEL="openai/x")
    with papers_ui(settings.index.path, env, root) as server:
        yield server.url, settings, env, root


def test_the_running_ui_moves_to_each_new_generation_without_an_error(live) -> None:  # type: ignore[no-untyped-def]
    url, settings, env, root = live
    before = post(url, {"question": CORAL_Q, "retrieve_only": True}).json()
    assert before["abstained"] is True and CORAL["title"] not in [s["title"] for s in before["sources"]]

    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def keep_asking() -> None:  # a user asking all through the ingest
        nonlocal answered
        while not stop.is_set():
            for body in ({"question": MOE_Q, "retrieve_only": True}, {"question": MOE_Q, "mode": "extract"}):
                reply = post(url, body)
                if reply.status_code != 200 or reply.json().get("error"):
                    failures.append(f"{reply.status_code}: {reply.text[:300]}")
                elif reply.json()["sources"][0]["title"] != MOE_TITLE:
                    failures.append(f"wrong paper first: {reply.json()['sources'][0]['title']}")
                answered += 1

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        for paper, question in ((CORAL, CORAL_Q), (KELP, KELP_Q)):  # two commits: generation 3 deletes 1
            new = root / f"{paper['title'][:12]}.jsonl"
            new.write_text(json.dumps(paper) + "\n", encoding="utf-8")
            assert ingest(settings.index.path, env, root, new)["added"] == 1
            after = post(url, {"question": question, "mode": "extract"}).json()
            assert after["error"] is None and after["abstained"] is False, after
            assert after["sources"][0]["title"] == paper["title"]
            assert paper["title"] in [c["title"] for c in after["citations"]]
    finally:
        stop.set()
        asker.join(timeout=120)
    assert answered >= 4 and not failures, failures[:3]
    health = httpx.get(f"{url}/api/health", trust_env=False).json()
    assert health["papers"] == len(PAPERS) + 2
    manifest = json.loads((settings.index.path / "manifest.json").read_text())
    kept = sorted(p.name for p in settings.index.path.iterdir() if p.name.startswith(("bm25-", "chroma")))
    generation = manifest["generation"]
    stores = [manifest["chroma_dir"], manifest["previous_chroma_dir"], *manifest["chroma_deltas"]]
    stores += manifest["previous_chroma_deltas"]  # the stores the two kept generations list (assistant.segments)
    assert kept == sorted([f"bm25-{generation - 1}", f"bm25-{generation}", *filter(None, stores)])


def test_a_chain_two_commits_behind_answers_from_the_newest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process: the files of the generation a chain opened are deleted by the second commit after it."""
    from assistant import segments
    from ingest.pipeline import run_ingest

    # every commit compacts (writes a new base, as every commit copied the store before segments), so the
    # second commit deletes the store the chain opened; a delta commit would leave it (its base) in place
    monkeypatch.setattr(segments, "MAX_DELTAS", 0)
    settings = build(tmp_path)
    chain = AnswerChain(settings)
    assert chain.retrieve(MOE_Q).sources[0].title == MOE_TITLE  # generation 1 is open (Chroma, BM25)
    opened = chain.retriever.index.manifest.chroma_dir
    for paper in (CORAL, KELP):
        path = tmp_path / f"{paper['title'][:12]}.jsonl"
        path.write_text(json.dumps(paper) + "\n", encoding="utf-8")
        run_ingest([path], settings)
    assert not (settings.index.path / opened).exists()  # gone from disk
    got = chain.retrieve(KELP_Q)
    assert got.sources[0].title == KELP["title"] and not got.abstain
    assert chain.retriever.index.manifest.generation == 3


# -- 2. a client that goes away stops the model ----------------------------------------------------


def test_a_disconnected_api_client_stops_the_provider_stream(tmp_path: Path) -> None:
    from fake_llm import FakeOpenAIServer

    settings = build(tmp_path)
    sentence = "Our router reduces inference latency by 35% compared with dense transformers [1]."
    with FakeOpenAIServer(" ".join([sentence] * 40), word_delay_s=0.05) as fake:
        env = clean_env(tmp_path, PAPERS_LLM__MODEL="openai/fake", PAPERS_LLM__API_BASE=fake.api_base)
        with papers_ui(settings.index.path, env, tmp_path) as server:
            with pytest.raises(httpx.ReadTimeout):
                post(server.url, {"question": MOE_Q, "mode": "generate"}, timeout=3)  # the client gives up
            gone = time.monotonic()
            assert fake.disconnected.wait(10), "the provider kept streaming after the client left"
            assert time.monotonic() - gone < 5.0  # the whole stream would take ~20 s (2.4 s seen on a loaded machine)
            assert fake.words_sent < 40 * len(sentence.split()) / 2
            # and the server is free for the next question at once
            assert post(server.url, {"question": MOE_Q, "mode": "extract"}, timeout=30).status_code == 200


# -- 6. exposure: loopback by default, credentials beyond it ----------------------------------------


def test_a_non_loopback_bind_without_credentials_is_refused(tmp_path: Path) -> None:
    settings = build(tmp_path)
    env = clean_env(tmp_path, PAPERS_UI__HOST="0.0.0.0")
    done = subprocess.run(
        [str(BIN / "papers-ui"), "--index", str(settings.index.path), "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0 without credentials" in done.stderr and "Traceback" not in done.stderr
    half = subprocess.run(
        [str(BIN / "papers-ui"), "--index", str(settings.index.path)],
        env=env | {"PAPERS_UI__USERNAME": "ada"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert half.returncode == 1 and "set both ui.username and ui.password" in half.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("::", False),
        ("myhost.lan", False),
    ],
)
def test_loopback_is_recognised(host: str, loopback: bool) -> None:
    from assistant.ui.app import check_exposure

    settings = Settings(ui={"host": host})
    assert settings.ui.loopback is loopback
    if loopback:
        check_exposure(settings)
    else:
        with pytest.raises(ConfigError, match="refusing to serve"):
            check_exposure(settings)
        check_exposure(Settings(ui={"host": host, "username": "ada", "password": "correct horse"}))


def test_with_credentials_the_ui_and_api_need_them_and_never_show_the_password(tmp_path: Path) -> None:
    from gradio_client import Client

    settings = build(tmp_path)
    password = "pw-canary-51d0c"
    env = clean_env(tmp_path, PAPERS_UI__USERNAME="ada", PAPERS_UI__PASSWORD=password)
    with papers_ui(settings.index.path, env, tmp_path, auth=("ada", password)) as server:
        assert httpx.get(f"{server.url}/api/health", trust_env=False).status_code == 401
        assert post(server.url, {"question": MOE_Q, "mode": "extract"}).status_code == 401
        wrong = post(server.url, {"question": MOE_Q, "mode": "extract"}, auth=("ada", "guess"))
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic")
        right = post(server.url, {"question": MOE_Q, "mode": "extract"}, auth=("ada", password))
        assert right.status_code == 200 and right.json()["citations"][0]["title"] == MOE_TITLE
        with pytest.raises(Exception):  # noqa: B017 - gradio_client's own error for a refused login
            Client(server.url, verbose=False)
        text = Client(server.url, auth=("ada", password), verbose=False).predict(
            MOE_Q, mode="extract", api_name="/chat"
        )
        assert MOE_TITLE in text
        page = httpx.get(server.url, trust_env=False, follow_redirects=True).text
        assert password not in page
        log = server.output()
    assert password not in log


def test_health_on_a_damaged_index_is_json_naming_the_repair(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from assistant.ui.app import api_routes

    settings = build(tmp_path)
    chain = AnswerChain(settings)
    client = TestClient(Starlette(routes=api_routes(settings, chain)))
    assert client.get("/api/health").json()["papers"] == len(PAPERS)
    manifest = settings.index.path / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])  # truncated under a running server
    reply = client.get("/api/health")
    assert reply.status_code == 503 and "ingest --repair" in reply.json()["error"]
