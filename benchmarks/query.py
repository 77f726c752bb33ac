"""Query-side speed: retrieval p50/p95, answer time-to-first-token and total, `ask` cold start.

Targets on the 2-core reference machine: retrieval p95 <= 50 ms on the bundled corpus, first
token <= 3 s and total <= 15 s at the default k, `ask --retrieve-only` cold start <= 3 s.
Run: ``.venv/bin/python benchmarks/query.py --index .papers`` (writes benchmarks/out/query.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and benchmarks/ingest.py would shadow
# the `ingest` package: drop the folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=ROOT / ".papers")
    parser.add_argument("--questions", type=Path, default=ROOT / "evals/questions/dev.jsonl")
    parser.add_argument("--answers", type=int, default=10, help="Full answers to time with the embedded model.")
    parser.add_argument("--cold", type=int, default=5, help="Cold `ask --retrieve-only` runs.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/query.json")
    args = parser.parse_args()

    from assistant.answer import AnswerChain
    from assistant.settings import Settings

    settings = Settings(index=args.index)
    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    chain = AnswerChain(settings)
    chain.retrieve(questions[0])  # warm: loads BM25, Chroma segments, ONNX session
    latencies = []
    for question in questions:
        started = time.perf_counter()
        chain.retrieve(question)  # hybrid search + evidence selection + abstain decision
        latencies.append((time.perf_counter() - started) * 1000)
    report: dict[str, object] = {
        "questions": len(questions),
        "retrieval_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "max": round(max(latencies), 1),
        },
    }

    cold = []
    for _ in range(args.cold):
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "ask"), "--index", str(args.index), "--retrieve-only", questions[1]],
            check=True,
            capture_output=True,
        )
        cold.append(time.perf_counter() - started)
    report["ask_retrieve_only_cold_s"] = {"median": round(statistics.median(cold), 2), "max": round(max(cold), 2)}

    if args.answers:
        started = time.perf_counter()
        chain.answer("warm-up: what is model merging?", mode="generate")  # starts the embedded server
        report["embedded_server_start_and_first_answer_s"] = round(time.perf_counter() - started, 1)
        firsts, totals, model_firsts = [], [], []
        answerable = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
        answerable = [q["question"] for q in answerable if q["kind"] != "unanswerable"][: args.answers]
        for question in answerable:
            started = time.perf_counter()
            marks: list[float] = []
            # the default mode streams only sentences that passed the checks: time to the first of them
            answer = chain.answer(question, on_text=lambda _t, m=marks: m.append(time.perf_counter()))
            if "first_token_ms" in answer.timings:  # the model's first raw token, before any check
                model_firsts.append((answer.timings["retrieve_ms"] + answer.timings["first_token_ms"]) / 1000)
            totals.append(time.perf_counter() - started)
            firsts.append((marks[0] - started) if marks else totals[-1])
        report["answer_s"] = {
            "model": settings.llm.model,
            "mode": settings.answer.mode,
            "first_verified_text_median": round(statistics.median(firsts), 2),
            "model_first_token_median": round(statistics.median(model_firsts), 2) if model_firsts else None,
            "total_median": round(statistics.median(totals), 2),
            "total_max": round(max(totals), 2),
        }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
