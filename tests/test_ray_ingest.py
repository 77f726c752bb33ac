"""``ingest --ray``: encoding on a real local Ray cluster gives the index a single-process ingest gives.

A Ray head is started for this module as a process of its own (``ray start --head``) on a free
loopback port, with two CPUs, no dashboard and no usage statistics, in a temporary folder. The real
``ingest`` CLI then runs against it and, on the same papers (25 from the bundled corpus), without
it; the two indexes must be equal: the same papers in the catalog (ids, chunk and sentence ids,
hashes, every field), the same chunk and sentence ids in Chroma with the same texts and metadata,
and the same vectors. "The same vectors" is exact (tolerance 0): both paths cut the texts into the
same encoder batches and run the same int8 model on them (``ingest.distributed``), and int8 dynamic
quantisation depends only on the batch; a tolerance would hide a batch cut differently, which
moves vector components by up to 0.03 (measured: batches of 32 instead of 64, or shifted by one text).

Every process (the head and its workers, each ``ingest``) runs under ``tests/netguard``: any
connection beyond 127.0.0.1 is refused and recorded, and the record must stay empty. (A Ray head
reaches out on its own even with usage statistics off: its dashboard process, which runs without
``--include-dashboard`` too, asks the Azure/GCP/AWS metadata addresses which cloud it is on unless
``~/ray_bootstrap_config.yaml`` exists, and sends usage-stats.ray.io one "disabled" report; see
``head_env``. ``ingest --ray`` itself starts no head.)

Teardown: ``ray stop`` stops every Ray process of the machine, not only this test's, so the head is
started in a session of its own and exactly the processes of that session are stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from servers import BIN, clean_env, free_port

from assistant.errors import ClusterError
from assistant.manifest import paper_of
from assistant.settings import Settings
from assistant.store import PaperIndex
from ingest.distributed import parse_address
from ingest.readers import read_paths
from ingest.records import Paper

REPO = Path(__file__).resolve().parent.parent
NETGUARD = Path(__file__).parent / "netguard"
FIRST, ADDED = 20, 5  # papers of the first ingest; papers the second (incremental) one adds


@dataclass
class RayHead:
    address: str
    logs: Path  # the session's log folder: one worker-*.out per worker process
    env: dict[str, str]  # what the drivers run with (see ray_env)
    netlog: Path


def ray_env(root: Path, netlog: Path) -> dict[str, str]:
    """The test environment for the head and the drivers alike.

    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: Ray replaces a loopback ``--node-ip-address`` with the
    machine's routable address and listens on every interface; this switch (meant for one-machine
    clusters on laptops) keeps the node at 127.0.0.1 and its servers on loopback. The driver needs
    it too, or it translates 127.0.0.1 the same way and looks for the head where it does not listen.
    """
    env = clean_env(root)
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["PYTHONPATH"] = str(NETGUARD) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["NETGUARD_LOG"] = str(netlog)
    return env


def head_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """What keeps a Ray head (its dashboard process) from reaching beyond the machine: a HOME with a
    ``ray_bootstrap_config.yaml`` (no cloud-metadata probe) and the report URL pointed at a closed
    loopback port (the "usage stats disabled" report is refused locally)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("{}\n", encoding="utf-8")
    return env | {"HOME": str(home), "RAY_USAGE_STATS_REPORT_URL": f"http://127.0.0.1:{free_port()}/"}


def _session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (zombies left to init excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(session) == sid and state != "Z":
            pids.append(int(entry.name))
    return pids


def _stop_session(sid: int, grace_s: float = 5.0) -> None:
    """SIGTERM every process of the session, then SIGKILL what is left after ``grace_s``."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        for pid in _session_processes(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _session_processes(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_processes(sid):
            return
    raise AssertionError(f"Ray processes outlived the test: {_session_processes(sid)}")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayHead]:
    root = tmp_path_factory.mktemp("ray")
    netlog = root / "net.log"
    env = ray_env(root, netlog)
    # Ray's unix sockets live under --temp-dir and must stay under 108 characters: a short folder
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port = free_port()
    head = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
            f"--ray-client-server-port={free_port()}",  # defaults are fixed ports: another head would clash
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            "--object-store-memory=100000000",
        ],
        env=head_env(env, root / "home"),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its pid is the session id of every process of the cluster
    )
    try:
        output, _ = head.communicate(timeout=120)
        assert head.returncode == 0, output[-3000:]
        yield RayHead(f"127.0.0.1:{port}", temp / "session_latest" / "logs", env, netlog)
    finally:
        if head.poll() is None:
            head.kill()
            head.wait()
        _stop_session(head.pid)
        shutil.rmtree(temp, ignore_errors=True)


def _ingest(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ingest"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _write_corpus(folder: Path) -> tuple[Path, Path]:
    """The first FIRST + ADDED distinct papers of the bundled corpus, as two JSONL files."""
    records, titles = [], set()
    for item in read_paths([REPO / "data"]):
        if isinstance(item, Paper) and item.title not in titles:
            titles.add(item.title)
            records.append({"title": item.title, "abstract": item.abstract, "date": item.date, "url": item.url})
        if len(records) == FIRST + ADDED:
            break
    folder.mkdir(parents=True, exist_ok=True)
    first, added = folder / "first.jsonl", folder / "added.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in records[:FIRST]), encoding="utf-8")
    added.write_text("".join(json.dumps(r) + "\n" for r in records[FIRST:]), encoding="utf-8")
    return first, added


def _snapshot(index_dir: Path) -> dict[str, Any]:
    """Everything a reader of the index gets: catalog entries, and per store ids, texts, metadata, vectors."""
    index = PaperIndex.open(Settings(index=index_dir))
    try:
        manifest = index.manifest
        out: dict[str, Any] = {
            "generation": manifest.generation,
            "papers": {pid: entry.model_dump() for pid, entry in manifest.papers.items()},
        }
        sentence_ids = index.sentences.ids()
        rows = index.sentences.get(sentence_ids)
        sentences = {  # no metadata is stored with a sentence: its paper is in its id
            "ids": sentence_ids,
            "documents": [rows[sid][0] for sid in sentence_ids],
            "metadatas": [{"paper_id": paper_of(sid)} for sid in sentence_ids],
            "embeddings": [rows[sid][1] for sid in sentence_ids],
        }
        for kind, got in (
            ("chunks", index.collection.get(include=["documents", "metadatas", "embeddings"])),
            ("sentences", sentences),
        ):
            order = np.argsort(got["ids"])
            out[kind] = {
                "ids": [got["ids"][i] for i in order],
                "documents": [got["documents"][i] for i in order],
                "metadatas": [got["metadatas"][i] for i in order],
                "vectors": np.asarray(got["embeddings"], dtype="float32")[order],
            }
        return out
    finally:
        index.close()


def _assert_same_index(ray_index: Path, single_index: Path) -> dict[str, Any]:
    ray, single = _snapshot(ray_index), _snapshot(single_index)
    assert ray["generation"] == single["generation"]
    assert ray["papers"].keys() == single["papers"].keys()
    for pid, entry in single["papers"].items():
        assert ray["papers"][pid] == entry, pid  # ids, chunk and sentence ids, hash, title, sources...
    for kind in ("chunks", "sentences"):
        got, want = ray[kind], single[kind]
        assert got["ids"] == want["ids"], kind
        assert set(want["ids"]) == {u for e in single["papers"].values() for u in e[f"{kind[:-1]}_ids"]}
        assert got["documents"] == want["documents"], kind
        assert got["metadatas"] == want["metadatas"], kind
        assert got["vectors"].shape == want["vectors"].shape == (len(want["ids"]), 384)
        difference = float(np.abs(got["vectors"] - want["vectors"]).max())
        assert difference == 0.0, f"{kind}: vectors differ by up to {difference}"  # see the module docstring
    return single


def _encoding_workers(logs: Path) -> set[str]:
    """Worker processes of the cluster that ran the encoder (Ray marks each task in the worker's log)."""
    return {p.name for p in logs.glob("worker-*.out") if "MapBatches(encode_batch)" in p.read_text(errors="replace")}


def test_ray_ingest_equals_single_process_and_stays_incremental(ray_head: RayHead, tmp_path: Path) -> None:
    first, added = _write_corpus(tmp_path / "corpus")
    on_ray, single = tmp_path / "on-ray", tmp_path / "single"
    ray = ("--ray", ray_head.address, "--json")

    report = _report(_ingest(ray_head.env, tmp_path, str(first), "--index", str(on_ray), *ray))
    assert _encoding_workers(ray_head.logs), "nothing was encoded on the cluster"
    baseline = _report(_ingest(ray_head.env, tmp_path, str(first), "--index", str(single), "--json"))
    assert report["added"] == baseline["added"] == FIRST
    assert report["embedded"] == baseline["embedded"] > 0
    _assert_same_index(on_ray, single)

    # incremental: the second run embeds only the added papers' chunks and sentences
    report = _report(_ingest(ray_head.env, tmp_path, str(first), str(added), "--index", str(on_ray), *ray))
    baseline = _report(_ingest(ray_head.env, tmp_path, str(first), str(added), "--index", str(single), "--json"))
    assert (report["added"], report["unchanged"]) == (baseline["added"], baseline["unchanged"]) == (ADDED, FIRST)
    index = _assert_same_index(on_ray, single)
    new_papers = {pid for pid, e in index["papers"].items() if any(s.endswith("added.jsonl") for s in e["sources"])}
    assert len(new_papers) == ADDED
    new_units = sum(len(index["papers"][p]["chunk_ids"]) + len(index["papers"][p]["sentence_ids"]) for p in new_papers)
    assert report["embedded"] == baseline["embedded"] == new_units

    assert not ray_head.netlog.exists() or not ray_head.netlog.read_text().strip(), ray_head.netlog.read_text()


def test_a_bad_address_is_one_line_and_a_failure(tmp_path: Path) -> None:
    first, _ = _write_corpus(tmp_path / "corpus")
    env = ray_env(tmp_path, tmp_path / "net.log")
    nothing_there = f"127.0.0.1:{free_port()}"
    done = _ingest(env, tmp_path, str(first), "--index", str(tmp_path / "index"), "--ray", nothing_there)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    expected = rf"error: cannot reach a Ray head node at {re.escape(nothing_there)} \(.*refused.*\).*"
    assert re.fullmatch(expected, lines[0]), lines[0]

    with pytest.raises(ClusterError) as caught:
        parse_address("head-node")
    assert str(caught.value) == "--ray wants `auto` or HOST:PORT of a running Ray head node, not 'head-node'"
    assert parse_address(" auto ") is None and parse_address("[::1]:6379") == ("::1", 6379)


WORKER_FAILS = """
import sys
from assistant.errors import ClusterError
from assistant.manifest import paper_of
from assistant.settings import Settings
from ingest.distributed import RayEncoder

encoder = RayEncoder(Settings(), sys.argv[1])
encoder.name = "not-a-model"  # what a worker without the model packages would hit
try:
    encoder.encode(["a text"])
except ClusterError as exc:
    print(exc)
finally:
    encoder.close()
"""


def test_a_failure_on_a_worker_is_one_clear_error(ray_head: RayHead, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "python"), "-c", WORKER_FAILS, ray_head.address],
        env=ray_head.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == (
        f"encoding on the Ray cluster at {ray_head.address} failed: unknown embedding model 'not-a-model'; "
        "choose one of ['all-MiniLM-L6-v2', 'all-mpnet-base-v2']"
    )
    assert not done.stderr.strip(), done.stderr  # Ray Data's own report of the failed task stays in its log
