"""Vectors in a Chroma server (settings index.chroma_host / chroma_port): a real `chroma run` process
on a free loopback port, the real `ingest` and `ask` CLIs, the packaged encoder and, for the
extract answer, the real answer chain."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import BIN, clean_env, free_port

PAPERS = [
    {
        "title": "Kelp Forest Acoustics",
        "abstract": "We map kelp forests by their sound. Hydrophones record snapping shrimp.",
    },
    {"title": "Glacier Seismology", "abstract": "Icequakes reveal glacier sliding. We deploy geophones on the ice."},
    {
        "title": "Bee Waggle Decoding",
        "abstract": "A camera decodes honeybee waggle dances. Foragers report flower distance.",
    },
]
MORE = [
    {
        "title": "Coral Spawning Timing",
        "abstract": "Corals spawn after the full moon. Water temperature sets the night.",
    }
]


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = clean_env(tmp_path, ANONYMIZED_TELEMETRY="False")
    log = (tmp_path / "chroma.log").open("wb")
    proc = subprocess.Popen(
        [
            str(BIN / "chroma"),
            "run",
            "--path",
            str(tmp_path / "chroma-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start: " + (tmp_path / "chroma.log").read_text())
    yield port, proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def run(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(tmp_path, PAPERS_CONFIG=str(config))
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, env=env, timeout=600)


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ingest_and_answer_through_a_chroma_server(tmp_path: Path, chroma_server) -> None:  # type: ignore[no-untyped-def]
    port, proc = chroma_server
    index = tmp_path / "index"
    config = tmp_path / "config.toml"
    config.write_text(f'[index]\npath = "{index}"\nchroma_host = "127.0.0.1"\nchroma_port = {port}\n')
    done = run(tmp_path, config, "ingest", str(write_jsonl(tmp_path / "a.jsonl", PAPERS)), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 3
    # the vectors are on the server, nothing of Chroma's in the index folder
    assert not [p for p in index.iterdir() if p.name.startswith("chroma")]
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["chroma_dir"].startswith("server/")
    collections = httpx.get(
        f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/default_database/collections",
        trust_env=False,
    ).json()
    token = manifest["chroma_dir"].removeprefix("server/")
    names = sorted(c["name"] for c in collections)
    assert names == sorted(n for n in names if n.endswith(token)) and len(names) == 1
    # the sentence vectors are in the index folder (assistant.sentvec), in server mode too
    assert (index / manifest["sentence_dir"] / "vectors.npy").is_file() and manifest["sentence_count"] == 6

    found = run(tmp_path, config, "ask", "--retrieve-only", "--json", "How are glaciers studied with icequakes?")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["sources"][0]["title"] == "Glacier Seismology"
    answer = run(tmp_path, config, "ask", "--mode", "extract", "--json", "How do honeybees report flower distance?")
    assert answer.returncode == 0, answer.stderr
    payload = json.loads(answer.stdout)
    assert "Bee Waggle Decoding" in json.dumps(payload["citations"])

    # incremental: only the new paper is embedded, through the same server collections
    again = run(tmp_path, config, "ingest", str(write_jsonl(tmp_path / "b.jsonl", MORE)), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["added"], report["embedded"]) == (1, 3)  # one chunk and two sentences
    found = run(tmp_path, config, "ask", "--retrieve-only", "--json", "When do corals spawn?")
    assert json.loads(found.stdout)["sources"][0]["title"] == "Coral Spawning Timing"

    # a server that lacks this index's collections (another server, another port): a clear error, and a
    # reader creates nothing there (an empty collection would turn into "vectors lost, re-embed all")
    import shutil

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(index, elsewhere)
    moved = json.loads((elsewhere / "manifest.json").read_text()) | {"chroma_dir": "server/0badc0de"}
    (elsewhere / "manifest.json").write_text(json.dumps(moved))
    other = tmp_path / "other.toml"
    other.write_text(f'[index]\npath = "{elsewhere}"\nchroma_host = "127.0.0.1"\nchroma_port = {port}\n')
    lost = run(tmp_path, other, "ask", "--retrieve-only", "kelp?")
    assert lost.returncode != 0 and "has no collection" in lost.stderr and "Traceback" not in lost.stderr
    listed = httpx.get(
        f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/default_database/collections",
        trust_env=False,
    ).json()
    assert not [c for c in listed if "0badc0de" in c["name"]]

    # the same index without the server settings, and the server gone: one clear line each, no traceback
    wrong = run(tmp_path, tmp_path / "empty-config.toml", "ask", "--index", str(index), "--retrieve-only", "kelp?")
    assert wrong.returncode != 0 and "Chroma server" in wrong.stderr and "Traceback" not in wrong.stderr
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    gone = run(tmp_path, config, "ask", "--retrieve-only", "kelp?")
    assert gone.returncode != 0 and f"cannot reach the Chroma server at 127.0.0.1:{port}" in gone.stderr
    assert "Traceback" not in gone.stderr
