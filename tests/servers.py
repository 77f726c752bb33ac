"""Real ``papers-ui`` processes for tests: start one on a free 127.0.0.1 port, wait for it, stop it.

Used by tests that need the server as a separate process (the HTTP API, live re-indexing,
exposure, telemetry). The environment is clean of ``PAPERS_*`` and ``config.toml`` from outside.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # the virtualenv's bin/, where the console scripts are
STARTUP_S = 240  # loading torch, the index and the encoder on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(root: Path, **extra: str) -> dict[str, str]:
    """This process's environment without PAPERS_*, an empty config file, and ``extra``."""
    config = root / "empty-config.toml"
    config.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERS_")}
    env["PAPERS_CONFIG"] = str(config)
    env.setdefault("OPENAI_API_KEY", "test-key-for-the-local-server")  # litellm refuses to call without one
    return env | extra


@dataclass
class UIProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def papers_ui(
    index: Path, env: dict[str, str], cwd: Path, *args: str, auth: tuple[str, str] | None = None
) -> Iterator[UIProcess]:
    """``papers-ui --index INDEX --port <free>`` until the block ends; fails the test if it never
    answers ``GET /api/health`` (the log is in the message)."""
    import pytest

    port = free_port()
    log = cwd / f"papers-ui-{port}.log"
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [str(BIN / "papers-ui"), "--index", str(index), "--port", str(port), *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = UIProcess(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"papers-ui exited with {proc.returncode}:\n{server.output()}")
            try:
                if httpx.get(f"{server.url}/api/health", timeout=2, trust_env=False, auth=auth).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"papers-ui did not answer /api/health in {STARTUP_S}s:\n{server.output()}")
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
