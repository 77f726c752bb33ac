"""Ingest throughput against raw ``SentenceTransformer.encode`` on the same chunk texts.

    .venv/bin/python benchmarks/ingest.py [--data data] [--repeat N] [--out benchmarks/out/ingest.json]

One run times, in one process with the libraries already imported:

(a) a full ``run_ingest`` of ``--data`` into a fresh temporary index, broken down into read+dedupe,
    chunk, model load, embed, Chroma reads, Chroma upsert, BM25+commit and the rest (exclusive
    times: a step nested in another counts once);
(b) ``SentenceTransformer.encode`` of exactly the texts the ingest embedded, same model, same batch
    size, normalised like the index's vectors, after loading the model the same way.

Model load time: it is a fixed cost per process, not per paper, and the raw baseline pays it too,
so the headline ratio compares ingest *without* its model load to raw encode *without* its load
("steady"); the ratio with both loads included is reported as "with load". Python imports
(torch + sentence-transformers, llama-index, Chroma, bm25s) are timed separately, not in either
side: the `ingest` CLI pays them once per process, and only the llama-index/Chroma/bm25s part is
extra over a raw-encode script. Wall and CPU (process) time are both reported; on a machine
shared with other jobs, the CPU-time ratio is the steadier one. The padded-token count shows how
much encoder work each side's batching implies, independent of noise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `ingest` package: drop the folder before importing anything from the project.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

REPO = _HERE.parent
TARGET = 0.9
STEPS = ["read+dedupe", "chunk", "model load", "embed", "chroma read", "chroma upsert", "bm25+commit", "other"]


class Clock:
    """Exclusive wall and CPU time per step: time spent in a nested timed step is not counted twice."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []

    def wrap(self, name: str, fn: Callable[..., Any], materialise: bool = False) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._stack.append([0.0, 0.0])
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                result = fn(*args, **kwargs)
                return iter(list(result)) if materialise else result
            finally:
                w, c = time.perf_counter() - w0, time.process_time() - c0
                child_w, child_c = self._stack.pop()
                self.wall[name] += w - child_w
                self.cpu[name] += c - child_c
                if self._stack:
                    self._stack[-1][0] += w
                    self._stack[-1][1] += c

        return timed


def time_imports() -> dict[str, float]:
    out = {}
    for label, module in [
        ("torch + sentence-transformers", "sentence_transformers"),
        ("llama-index SentenceSplitter", "llama_index.core.node_parser"),
        ("chromadb", "chromadb"),
        ("bm25s + PyStemmer", "bm25s"),
    ]:
        started = time.perf_counter()
        __import__(module)
        out[label] = time.perf_counter() - started
    import Stemmer  # noqa: F401

    return out


def padded_tokens(tokenizer: Any, texts: list[str], batch_size: int, call_size: int | None) -> int:
    """Token slots the encoder processes (batch rows x longest row in the batch), done the way
    sentence-transformers does it: each encode call orders its texts by character length, longest
    first, then cuts batches. ``call_size`` None means all texts in one call."""
    tokens = [min(len(ids), tokenizer.model_max_length) for ids in tokenizer(texts)["input_ids"]]
    pairs = list(zip([len(t) for t in texts], tokens, strict=True))
    calls = [pairs] if call_size is None else [pairs[i : i + call_size] for i in range(0, len(pairs), call_size)]
    total = 0
    for call in calls:
        ordered = [n for _, n in sorted(call, key=lambda pair: -pair[0])]
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start : start + batch_size]
            total += len(batch) * max(batch)
    return total


def one_run(data: Path) -> dict[str, Any]:
    from assistant import embedding
    from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
    from assistant.store import PaperIndex
    from ingest import pipeline

    clock = Clock()
    embedded: list[str] = []
    real_encode = embedding.encode

    def encode(model: Any, texts: list[str], batch_size: int) -> Any:
        embedded.extend(texts)
        return real_encode(model, texts, batch_size)

    patches = [
        (pipeline, "read_paths", clock.wrap("read+dedupe", pipeline.read_paths, materialise=True)),
        (pipeline, "deduplicate", clock.wrap("read+dedupe", pipeline.deduplicate)),
        (pipeline, "chunk_paper", clock.wrap("chunk", pipeline.chunk_paper)),
        (embedding, "load_model", clock.wrap("model load", embedding.load_model)),
        (embedding, "encode", clock.wrap("embed", encode)),
        (PaperIndex, "stored_ids", clock.wrap("chroma read", PaperIndex.stored_ids)),
        (PaperIndex, "upsert", clock.wrap("chroma upsert", PaperIndex.upsert)),
        (PaperIndex, "commit", clock.wrap("bm25+commit", PaperIndex.commit)),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            settings = Settings(index=Path(tmp) / "index", embedding=EmbeddingSettings(), chunking=ChunkSettings())
            w0, c0 = time.perf_counter(), time.process_time()
            report = pipeline.run_ingest([data], settings)
            ingest_wall, ingest_cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    clock.wall["other"] = ingest_wall - sum(clock.wall.values())
    clock.cpu["other"] = ingest_cpu - sum(clock.cpu.values())

    # (b) the raw baseline: the same texts, model and batch size, straight through sentence-transformers
    from sentence_transformers import SentenceTransformer

    batch_size = settings.embedding.batch_size
    w0, c0 = time.perf_counter(), time.process_time()
    model = SentenceTransformer(
        str(embedding.model_dir(settings.embedding.model, settings.cache)), device="cpu", local_files_only=True
    )
    load_wall, load_cpu = time.perf_counter() - w0, time.process_time() - c0
    w0, c0 = time.perf_counter(), time.process_time()
    model.encode(
        embedded, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    raw_wall, raw_cpu = time.perf_counter() - w0, time.process_time() - c0

    papers = report.papers
    steady_wall = ingest_wall - clock.wall["model load"]
    steady_cpu = ingest_cpu - clock.cpu["model load"]
    step = max(batch_size * 4, 64)  # the pipeline's texts per encode call
    return {
        "papers": papers,
        "chunks": len(embedded),
        "batch_size": batch_size,
        "ingest": {
            "seconds": ingest_wall,
            "cpu_seconds": ingest_cpu,
            "papers_per_s": papers / ingest_wall,
            "papers_per_s_without_model_load": papers / steady_wall,
            "breakdown_seconds": {k: clock.wall.get(k, 0.0) for k in STEPS},
            "breakdown_cpu_seconds": {k: clock.cpu.get(k, 0.0) for k in STEPS},
        },
        "raw_encode": {
            "seconds": raw_wall,
            "cpu_seconds": raw_cpu,
            "model_load_seconds": load_wall,
            "papers_per_s": papers / raw_wall,
        },
        "ratio": {
            "steady": raw_wall / steady_wall,
            "steady_cpu": raw_cpu / steady_cpu,
            "with_load": (raw_wall + load_wall) / ingest_wall,
            "with_load_cpu": (raw_cpu + load_cpu) / ingest_cpu,
        },
        "padded_tokens": {
            "ingest": padded_tokens(model.tokenizer, embedded, batch_size, step),
            "raw": padded_tokens(model.tokenizer, embedded, batch_size, None),
        },
    }


def print_run(n: int, run: dict[str, Any]) -> None:
    ing, raw, ratio = run["ingest"], run["raw_encode"], run["ratio"]
    print(f"\nrun {n}: {run['papers']} papers, {run['chunks']} chunks, batch size {run['batch_size']}")
    print(f"  {'':32}{'wall s':>9}{'cpu s':>9}{'papers/s':>10}")
    print(f"  {'ingest (full run_ingest)':32}{ing['seconds']:9.2f}{ing['cpu_seconds']:9.2f}{ing['papers_per_s']:10.2f}")
    for step in STEPS:
        wall, cpu = ing["breakdown_seconds"][step], ing["breakdown_cpu_seconds"][step]
        print(f"    {step:30}{wall:9.2f}{cpu:9.2f}")
    steady = run["papers"] / ing["papers_per_s_without_model_load"]
    print(f"  {'ingest without model load':32}{steady:9.2f}{'':9}{ing['papers_per_s_without_model_load']:10.2f}")
    label = "raw SentenceTransformer.encode"
    print(f"  {label:32}{raw['seconds']:9.2f}{raw['cpu_seconds']:9.2f}{raw['papers_per_s']:10.2f}")
    print(f"  {'raw model load':32}{raw['model_load_seconds']:9.2f}")
    verdict = "ok" if ratio["steady"] >= TARGET else f"BELOW {TARGET}"
    print(
        f"  ratio ingest/raw throughput: steady {ratio['steady']:.3f} ({verdict}), cpu {ratio['steady_cpu']:.3f}; "
        f"with model load {ratio['with_load']:.3f}, cpu {ratio['with_load_cpu']:.3f}"
    )
    pad = run["padded_tokens"]
    print(f"  padded tokens encoded: ingest {pad['ingest']}, raw {pad['raw']} ({pad['ingest'] / pad['raw']:.3f}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of (ingest, raw encode); medians reported.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "ingest.json")
    args = parser.parse_args(argv)

    imports = time_imports()
    print("imports (not in either side of the ratio):")
    for label, seconds in imports.items():
        print(f"  {label:32}{seconds:9.2f}")
    runs = []
    for n in range(1, args.repeat + 1):
        runs.append(one_run(args.data))
        print_run(n, runs[-1])
    summary = {key: statistics.median(r["ratio"][key] for r in runs) for key in ["steady", "steady_cpu", "with_load"]}
    loadavg = os.getloadavg()
    print(f"\nmedian ratio (steady) {summary['steady']:.3f}, target >= {TARGET}; load average {loadavg[0]:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "target": TARGET,
                "cpus": os.cpu_count(),
                "load_average": loadavg,
                "imports_seconds": imports,
                "runs": runs,
                "median_ratio": summary,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
