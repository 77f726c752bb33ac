"""Rerank the fused top N with the shipped relevance cross-encoder, and measure it against fusion alone.

- ``--questions ../shared/benchmarks/scifact --split test``: nDCG@10 (and hit/recall) of the product's
  fused ranking and of the reranked one, on the BEIR index ``evals run`` builds in ``--out/index``
  (ingested there first if absent, as ``evals run`` does).
- ``--questions ../shared/questions/realistic.jsonl --split dev --index .papers``: hit@1/5 of single
  questions and recall@10 of multi ones, both ways. Only aggregates are printed and written.

Also the cost: milliseconds to score the top N pairs (median and p95 over the questions). The
cross-encoder alone orders the top N (``reranked``), or its rank and fusion's are fused again by
reciprocal rank, k = 60 (``rrf_fused_and_reranked``); papers below N keep fusion's order.

    .venv/bin/python benchmarks/rerank.py --questions ../shared/benchmarks/scifact --split test \
        --out /tmp/ce/scifact-test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

RRF_K = 60


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--split", default=None)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--top", type=int, default=20, help="fused papers handed to the cross-encoder")
    parser.add_argument("--max-length", type=int, default=0, help="override the model's pair length (0: keep)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", type=Path, default=None, help="folder of the model files (default: shipped)")
    args = parser.parse_args()
    if args.split == "test" and "realistic" in args.questions.name:
        print("realistic test: aggregates only", file=sys.stderr)

    from assistant.crossencoder import CrossEncoder, passage_text
    from evals import metrics
    from evals.run import RunConfig, prepare

    cfg = RunConfig(questions=args.questions, out=args.out, split=args.split, retrieval_only=True, index=args.index)
    prepared = prepare(cfg, ranking_only=True)
    chain = prepared.chain
    model = CrossEncoder.load("relevance", args.models, threads=args.threads)
    if args.max_length:
        model.tokenizer.enable_truncation(args.max_length, strategy="longest_first")
    papers = chain.retriever.index.manifest.papers
    fused_rows, reranked_rows, mixed_rows, kinds, costs = [], [], [], [], []
    for q in prepared.questions:
        gold = prepared.gold_of(q)
        retrieval = chain.retrieve(q.question, k=max(args.top, 10), evidence=False)
        ids = [s.paper_id for s in retrieval.sources]
        entries = papers.get_many(ids[: args.top])
        pairs = [(q.question, passage_text(entries[i].title, entries[i].abstract)) for i in ids[: args.top]]
        started = time.perf_counter()
        probs = model.score(pairs)
        costs.append((time.perf_counter() - started) * 1000)
        order = sorted(range(len(pairs)), key=lambda i: -float(probs[i]))
        reranked = [ids[i] for i in order] + ids[args.top :]
        ce_rank = {i: r for r, i in enumerate(order)}
        mixed = sorted(range(len(pairs)), key=lambda i: -(1 / (RRF_K + i + 1) + 1 / (RRF_K + ce_rank[i] + 1)))
        fused_rows.append(metrics.retrieval_scores(ids, gold))
        reranked_rows.append(metrics.retrieval_scores(reranked, gold))
        mixed_rows.append(metrics.retrieval_scores([ids[i] for i in mixed] + ids[args.top :], gold))
        kinds.append(q.kind)
    report: dict[str, object] = {
        "questions": str(args.questions),
        "split": args.split,
        "n": len(fused_rows),
        "top": args.top,
        "max_length": args.max_length or model.spec.max_length,
        "model_sha256": model.spec.sha256[:12],
        "fused": metrics.mean_scores(fused_rows),
        "reranked": metrics.mean_scores(reranked_rows),
        "rrf_fused_and_reranked": metrics.mean_scores(mixed_rows),
        "cost_ms_per_question": {
            "pairs": args.top,
            "p50": round(statistics.median(costs), 1),
            "p95": round(percentile(costs, 0.95), 1),
            "threads": args.threads,
        },
    }
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        report[f"by_kind:{kind}"] = {
            "n": len(idx),
            "fused": metrics.mean_scores([fused_rows[i] for i in idx]),
            "reranked": metrics.mean_scores([reranked_rows[i] for i in idx]),
            "rrf_fused_and_reranked": metrics.mean_scores([mixed_rows[i] for i in idx]),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rerank.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
