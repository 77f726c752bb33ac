"""No phone-home: ingest, ask (with the real embedded model) and the UI run with every connection
beyond 127.0.0.1 refused and recorded (tests/netguard/sitecustomize.py), and must both work and
record nothing. A library that tried to reach the network (telemetry, a version check, a model
hub, a cost map, a font CDN) would leave a line, and the test fails naming it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from servers import BIN, clean_env, papers_ui
from test_ui import MOE_Q, MOE_TITLE, write_corpus

NETGUARD = Path(__file__).parent / "netguard"


def guarded_env(root: Path, log: Path) -> dict[str, str]:
    env = clean_env(root)
    env["PYTHONPATH"] = str(NETGUARD) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NETGUARD_LOG"] = str(log)
    for name in list(env):  # as on a machine that never opted into anything: the libraries' own defaults
        if name in (
            "ANONYMIZED_TELEMETRY",
            "GRADIO_ANALYTICS_ENABLED",
            "HF_HUB_OFFLINE",
            "LITELLM_LOCAL_MODEL_COST_MAP",
        ):
            del env[name]
    return env


def test_the_guard_itself_refuses_and_records(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    probe = "import urllib.request as u; u.urlopen('http://example.org', timeout=5)"
    done = subprocess.run(
        [str(BIN / "python"), "-c", probe], env=guarded_env(tmp_path, log), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "netguard" in done.stderr
    assert "example.org" in log.read_text()


@pytest.mark.slow
def test_ingest_ask_and_the_ui_never_reach_beyond_loopback(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    env = guarded_env(tmp_path, log)
    index = tmp_path / "index"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    run(str(BIN / "ingest"), str(write_corpus(tmp_path / "corpus")), "--index", str(index))
    answer = run(str(BIN / "ask"), MOE_Q, "--index", str(index), "--k", "2")  # the embedded model answers
    assert MOE_TITLE in answer.stdout
    with papers_ui(index, env, tmp_path) as server:
        assert httpx.get(server.url, trust_env=False).status_code == 200  # the page, its assets
        reply = httpx.post(
            f"{server.url}/api/ask", json={"question": MOE_Q, "mode": "extract"}, timeout=120, trust_env=False
        )
        assert reply.status_code == 200 and reply.json()["citations"]
        from gradio_client import Client

        assert MOE_TITLE in Client(server.url, verbose=False).predict(MOE_Q, mode="extract", api_name="/chat")
    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"network access beyond 127.0.0.1:\n{attempts}"
