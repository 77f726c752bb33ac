"""Load: many users at once against one running ``papers-ui`` (the embedded model, the bundled index).

Starts ``papers-ui`` on a free 127.0.0.1 port over ``--index`` (or uses ``--url``), then runs two
waves, each all at once:

- ``--chats`` (20) chat sessions through gradio_client's ``/chat`` (mode auto: the embedded model
  writes, the checks run, the extract is the fallback), one dev question each;
- ``--retrievals`` (50) retrieve-only ``POST /api/ask`` requests (httpx, one thread each).

Reports errors (any exception, HTTP status other than 200, or an ``error`` in the answer),
p50/p95/max latency per wave (seconds, queueing included: ``ui.concurrency`` answers run at once),
and the server's peak resident memory (``VmHWM`` from /proc, Linux). One run; no timed assertion.
Run: ``.venv/bin/python benchmarks/load.py`` (writes benchmarks/out/load.json).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # benchmarks/ingest.py would shadow

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

ROOT = _HERE.parent
BIN = Path(sys.executable).parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size of ``pid`` in MiB (VmHWM), None where /proc has no such field."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ui(index: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERS_")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "papers-ui"), "--index", str(index), "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"papers-ui exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2, trust_env=False).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"papers-ui did not start:\n{log.read_text()}")


def summary(latencies: list[float], errors: list[str], wall: float) -> dict[str, Any]:
    return {
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": errors[:3],
        "p50_s": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "mean_s": round(statistics.mean(latencies), 2) if latencies else None,
        "wall_s": round(wall, 1),
    }


def wave(job: Any, items: list[Any]) -> dict[str, Any]:
    """Run ``job(item) -> error or None`` for every item at once; latency per item."""
    latencies: list[float] = []
    errors: list[str] = []

    def timed(item: Any) -> None:
        started = time.monotonic()
        try:
            error = job(item)
        except Exception as exc:  # a benchmark counts every failure, whatever it is
            error = f"{type(exc).__name__}: {exc}"
        (errors.append(error) if error else latencies.append(time.monotonic() - started))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        list(pool.map(timed, items))
    return summary(latencies, errors, time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=ROOT / ".papers")
    parser.add_argument("--url", help="Use a running papers-ui instead of starting one (no RSS then).")
    parser.add_argument("--questions", type=Path, default=ROOT / "evals/questions/dev.jsonl")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--retrievals", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/load.json")
    args = parser.parse_args()

    import httpx
    from gradio_client import Client

    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r.get("gold_titles")]  # answerable ones
    args.out.parent.mkdir(parents=True, exist_ok=True)
    proc = None
    if args.url:
        url = args.url
    else:
        proc, url = start_ui(args.index, args.out.with_suffix(".log"))
    try:

        def chat(question: str) -> str | None:
            text = Client(url, verbose=False).predict(question, api_name="/chat")
            return f"error reply: {text[:200]}" if text.startswith("Error:") else None

        def retrieve(question: str) -> str | None:
            reply = httpx.post(
                f"{url}/api/ask", json={"question": question, "retrieve_only": True}, timeout=300, trust_env=False
            )
            if reply.status_code != 200 or reply.json().get("error"):
                return f"HTTP {reply.status_code}: {reply.text[:200]}"
            return None

        Client(url, verbose=False).predict(questions[0], api_name="/chat")  # warm: the model's first load
        result: dict[str, Any] = {"url": url, "index": str(args.index)}
        result["retrieve_only"] = wave(retrieve, [questions[i % len(questions)] for i in range(args.retrievals)])
        print(f"{args.retrievals} retrieve-only requests at once: {result['retrieve_only']}", flush=True)
        result["chat"] = wave(chat, [questions[(7 * i) % len(questions)] for i in range(args.chats)])
        print(f"{args.chats} chat sessions at once: {result['chat']}", flush=True)
        if proc is not None:
            result["server_peak_rss_mb"] = round(peak_rss_mb(proc.pid) or 0.0, 1)
            print(f"server peak RSS: {result['server_peak_rss_mb']} MiB")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
