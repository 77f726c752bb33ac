"""Rerank the fused top N with the shipped relevance cross-encoder, over a grid of depth and weight.

For each question the product's fused ranking (reranking off) is taken to the deepest ``--depths``,
the cross-encoder scores those papers once, and ``assistant.rerank.combine`` orders each depth's
head at each ``--weights`` (0: fusion alone, 1: the cross-encoder alone). Printed and written:

- ranking: nDCG@10, hit@1/5/10, recall@10, by question kind too (single / multi);
- coverage signal, AUC of the cross-encoder's best probability over the top N against the best dense
  similarity: on BEIR sets (SciFact) each answerable question is asked twice, its gold papers present
  and masked out of the candidates (leave-out: what a question about an absent paper meets); on a
  question file, answerable against unanswerable questions;
- cost: milliseconds to score N pairs (median and p95 over the questions, ``--threads`` threads).

Realistic ``test`` prints aggregates only (its README: reporting only), like every figure here.

    .venv/bin/python benchmarks/rerank.py --questions ../shared/benchmarks/scifact --split train \
        --index /tmp/ce/scifact-test/index --out /tmp/rerank/scifact-train
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--split", default=None)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--depths", default="5,10,20", help="fused papers handed to the cross-encoder")
    parser.add_argument("--weights", default="0,0.25,0.4,0.5,0.6,0.75,1")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", type=Path, default=None, help="folder of the model files (default: shipped)")
    parser.add_argument("--no-masked", action="store_true", help="skip the leave-out AUC (BEIR sets)")
    args = parser.parse_args()
    depths = sorted(int(d) for d in args.depths.split(","))
    weights = [float(w) for w in args.weights.split(",")]

    from assistant.crossencoder import CrossEncoder, passage_text
    from assistant.rerank import combine
    from evals import metrics
    from evals.run import RunConfig, prepare

    cfg = RunConfig(questions=args.questions, out=args.out, split=args.split, retrieval_only=True, index=args.index)
    prepared = prepare(cfg, ranking_only=True)
    retriever = prepared.chain.retriever
    model = CrossEncoder.load("relevance", args.models, threads=args.threads)
    retriever.reranker = None  # fusion's own order; the grid below reranks it
    rows: dict[tuple[int, float], list] = {(d, w): [] for d in depths for w in weights}
    kinds: list[str] = []
    costs: dict[int, list[float]] = {d: [] for d in depths}
    present: dict[int, list[float]] = {d: [] for d in depths}
    absent: dict[int, list[float]] = {d: [] for d in depths}
    dense_present: list[float] = []
    dense_absent: list[float] = []

    def best_probs(query: str, exclude: tuple[str, ...] = ()) -> tuple[list, list[float], float]:
        """Fusion's head (to the deepest depth), the cross-encoder's logits for it, the best dense score."""
        found = retriever.rank(retriever.candidates(query), k=max(depths), exclude=exclude, snippets=False)
        head = [(s.paper_id, s.title, s.abstract, s.score) for s in found.sources]
        pairs = [(query, passage_text(t, a)) for _, t, a, _ in head]
        logits: list[float] = []
        for d in depths:  # each depth timed on its own; the deepest one's logits are kept
            started = time.perf_counter()
            logits = [float(x) for x in model.logits(pairs[:d])]
            if not exclude:
                costs[d].append((time.perf_counter() - started) * 1000)
        return head, logits, max(found.lists.get("dense", {}).values(), default=0.0)

    for q in prepared.questions:
        gold = prepared.gold_of(q)
        head, logits, dense = best_probs(q.question)
        ids = [pid for pid, *_ in head]
        probs = [1 / (1 + math.exp(-x)) for x in logits]
        for d in depths:
            for w in weights:
                order = combine([f for *_, f in head[:d]], logits[:d], w)
                ranked = [ids[i] for i in order] + ids[d:]
                rows[(d, w)].append(metrics.retrieval_scores(ranked, gold) if q.answerable else None)
        kinds.append(q.kind)
        if prepared.beir is not None and not args.no_masked and gold:
            _, masked_logits, masked_dense = best_probs(q.question, tuple(gold))
            for d in depths:
                present[d].append(max(probs[:d], default=0.0))
                absent[d].append(max((1 / (1 + math.exp(-x)) for x in masked_logits[:d]), default=0.0))
            dense_present.append(dense)
            dense_absent.append(masked_dense)
        elif prepared.beir is None:
            for d in depths:
                (present if q.answerable else absent)[d].append(max(probs[:d], default=0.0))
            (dense_present if q.answerable else dense_absent).append(dense)

    grid = {f"depth {d} weight {w}": metrics.mean_scores(rows[(d, w)]) for d in depths for w in weights}
    report: dict[str, object] = {
        "questions": str(args.questions),
        "split": args.split,
        "n": len(kinds),
        "model_sha256": model.spec.sha256[:12],
        "grid": grid,
        "by_kind": {
            kind: {
                f"depth {d} weight {w}": metrics.mean_scores(
                    [rows[(d, w)][i] for i, k in enumerate(kinds) if k == kind]
                )
                for d in depths
                for w in weights
            }
            for kind in sorted(set(kinds))
            if kind != "unanswerable"
        },
        "coverage_auc": {
            "what": "gold present vs masked" if prepared.beir is not None else "answerable vs unanswerable",
            "dense": auc(dense_present, dense_absent),
            **{f"cross-encoder top {d}": auc(present[d], absent[d]) for d in depths},
        },
        "cost_ms": {
            f"{d} pairs": {"p50": round(statistics.median(c), 1), "p95": round(percentile(c, 0.95), 1)}
            for d, c in costs.items()
            if c
        },
        "threads": args.threads,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rerank.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    best = max(grid.items(), key=lambda kv: kv[1]["ndcg@10"] or 0)
    print(json.dumps({k: v for k, v in report.items() if k not in ("by_kind",)}, indent=1))
    print("best nDCG@10:", best[0], round(best[1]["ndcg@10"] or 0, 4))


if __name__ == "__main__":
    main()
