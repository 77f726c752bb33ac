"""`papers similar` speed: p50/p95/max over up to N papers of an index, the index already open.

Target on the 2-core reference machine: p95 <= 50 ms on the bundled corpus (`ingest data`). Each
timed call is what the command does after opening the index: resolve the paper by its title
(catalog lookup by title key), read its chunk vectors, one HNSW query, group hits per paper.
Papers are a seeded sample; the first call (which loads the HNSW index) is a warm-up, not timed.
Run: ``.venv/bin/python benchmarks/similar.py --index .papers`` (writes benchmarks/out/similar.json).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and benchmarks/ingest.py would shadow
# the `ingest` package: drop the folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, default=ROOT / ".papers")
    parser.add_argument("--papers", type=int, default=100, help="Papers to time (a seeded sample).")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/similar.json")
    args = parser.parse_args()

    from assistant.settings import load_settings
    from assistant.similar import PaperNotFound, resolve, similar
    from assistant.store import PaperIndex

    index = PaperIndex.open(load_settings(index=args.index))
    titles = sorted({entry.title for _, entry in index.manifest.papers.items()})
    sample = random.Random(args.seed).sample(titles, min(args.papers, len(titles)))
    similar(index, resolve(index, sample[0]), args.k)  # warm: loads the HNSW index and the catalog
    papers = index.paper_count
    latencies, ambiguous = [], 0
    for title in sample:
        started = time.perf_counter()
        try:
            similar(index, resolve(index, title), args.k)
        except PaperNotFound:  # two papers share this title: the command asks for an id instead
            ambiguous += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
    index.close()
    p95 = percentile(latencies, 0.95)
    report = {
        "index": str(args.index),
        "papers_in_index": papers,
        "timed": len(latencies),
        "ambiguous_titles": ambiguous,
        "k": args.k,
        "similar_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(p95, 1),
            "max": round(max(latencies), 1),
        },
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": p95 <= TARGET_P95_MS,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
