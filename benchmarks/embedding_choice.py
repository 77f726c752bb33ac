"""Embedding choice: all-MiniLM-L6-v2 vs all-mpnet-base-v2 on SciFact retrieval quality and CPU cost.

Measures, for each packaged model loaded the project's way (``assistant.embedding.load_model`` /
``encode``, unit-normalised vectors, cosine = dot product):

* dense nDCG@10 and recall@10 over the 300 SciFact test queries, scored by ``evals.metrics``
  (ir-measures over pytrec_eval, i.e. trec_eval ``ndcg_cut_10`` / ``recall_10``, the BEIR
  definitions) at binary relevance: every qrel scored above 0 is relevant with gain 1 (all
  SciFact test qrels are scored 1, so this equals graded nDCG there);
* document encode wall seconds, CPU seconds (``time.process_time``) and docs per CPU second;
* median single-query encode latency in milliseconds.

Why a sub-corpus: a full all-mpnet-base-v2 encode of SciFact's 5,183 abstracts costs about two
CPU-hours on the reference machine, so both models are scored on the same fixed sub-corpus: every
document relevant to any test query plus random distractors (seed 0) up to ``--docs`` (default 1000).
Absolute scores are therefore higher than full-corpus BEIR numbers (fewer distractors); the
comparison between the two models is what this measures. SciFact is read by ``evals.beir.load_beir``
(the reader ``evals run`` uses); document text is ``title + " " + text``, a common BEIR convention.
Torch runs on one thread so CPU seconds compare like with like.

Run: ``nice -n 10 .venv/bin/python benchmarks/embedding_choice.py``
(writes benchmarks/out/embedding_choice.json and prints a markdown table).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from assistant import environment  # importing assistant sets the process environment

environment.configure(threads=1)  # and one thread per encoder, fairly compared (torch loads later)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.errors import InputError  # noqa: E402
from evals import metrics  # noqa: E402
from evals.beir import load_beir  # noqa: E402

MODEL_NAMES = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]
K = 10

Qrels = dict[str, dict[str, int]]


def load_scifact(folder: Path) -> tuple[dict[str, str], dict[str, str], Qrels]:
    """Corpus id -> title + " " + text, test query id -> text, test qrels (query -> relevant doc -> score).

    Read by ``evals.beir.load_beir`` (split ``test``): qrels rows scored 0 are dropped, and only
    queries with a relevant document are kept.
    """
    try:
        beir = load_beir(folder, "test")
    except InputError as exc:
        raise SystemExit(str(exc)) from exc
    corpus = {did: (doc["title"] + " " + doc["text"]).strip() for did, doc in beir.corpus.items()}
    return corpus, beir.queries, beir.qrels


def build_subcorpus(corpus: dict[str, str], qrels: Qrels, size: int, seed: int) -> list[str]:
    """All docs relevant to a test query plus seeded random distractors, in corpus-file order."""
    relevant = {did for judged in qrels.values() for did, grade in judged.items() if grade > 0}
    missing = relevant - set(corpus)
    if missing:
        raise SystemExit(f"{len(missing)} relevant docs missing from corpus.jsonl")
    pool = [did for did in corpus if did not in relevant]
    extra = max(0, min(size - len(relevant), len(pool)))
    chosen = relevant | set(random.Random(seed).sample(pool, extra))
    return [did for did in corpus if did in chosen]


def evaluate(
    name: str,
    doc_ids: list[str],
    doc_texts: list[str],
    queries: dict[str, str],
    qrels: Qrels,
    cache: Path,
    batch_size: int,
) -> dict[str, Any]:
    import numpy as np

    from assistant.embedding import encode, load_model

    start = time.perf_counter()
    model = load_model(name, cache)
    load_seconds = time.perf_counter() - start
    encode(model, ["warm-up sentence so lazy initialisation is not timed."] * 4, batch_size)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    doc_vecs = encode(model, doc_texts, batch_size)
    doc_wall, doc_cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    qids = list(queries)
    query_ms: list[float] = []
    query_vecs = []
    for qid in qids:  # one at a time: the latency an interactive `ask` pays
        t0 = time.perf_counter()
        query_vecs.append(encode(model, [queries[qid]], 1)[0])
        query_ms.append((time.perf_counter() - t0) * 1000)
    scores = np.stack(query_vecs) @ doc_vecs.T
    ndcgs, recalls = [], []
    for row, qid in enumerate(qids):
        top = np.argsort(-scores[row], kind="stable")[:K]
        ranked = [doc_ids[i] for i in top]
        gold = set(qrels[qid])  # load_beir keeps relevant documents only, never an empty set
        ndcgs.append(metrics.ndcg_at_k(ranked, gold, K))
        recalls.append(metrics.recall_at_k(ranked, gold, K))
    return {
        "ndcg@10": round(statistics.fmean(ndcgs), 4),
        "recall@10": round(statistics.fmean(recalls), 4),
        "doc_encode_seconds": round(doc_wall, 2),
        "doc_encode_cpu_seconds": round(doc_cpu, 2),
        "docs_per_cpu_second": round(len(doc_texts) / doc_cpu, 2),
        "query_ms_median": round(statistics.median(query_ms), 2),
        "dim": int(doc_vecs.shape[1]),
        "max_seq_length": int(model.max_seq_length),
        "load_seconds": round(load_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared/benchmarks/scifact")
    parser.add_argument("--docs", type=int, default=1000, help="Sub-corpus size (relevant docs + distractors).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64, help="Encode batch size (project default 64).")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "papers-assistant")
    parser.add_argument("--models", nargs="+", default=MODEL_NAMES, choices=MODEL_NAMES)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/out/embedding_choice.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)

    corpus, queries, qrels = load_scifact(args.scifact)
    doc_ids = build_subcorpus(corpus, qrels, args.docs, args.seed)
    doc_texts = [corpus[did] for did in doc_ids]
    relevant = {did for judged in qrels.values() for did in judged}
    print(f"sub-corpus: {len(doc_ids)} docs ({len(relevant)} relevant), {len(queries)} test queries", flush=True)

    results: dict[str, dict[str, Any]] = {}
    for name in args.models:
        print(f"encoding with {name} ...", flush=True)
        results[name] = evaluate(name, doc_ids, doc_texts, queries, qrels, args.cache, args.batch_size)
        print(f"  {results[name]}", flush=True)

    report: dict[str, Any] = {
        "dataset": "BEIR SciFact test (qrels/test.tsv)",
        "sub_corpus_docs": len(doc_ids),
        "full_corpus_docs": len(corpus),
        "relevant_docs": len(relevant),
        "queries": len(queries),
        "seed": args.seed,
        "doc_text": 'title + " " + text',
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "models": results,
    }
    small, large = MODEL_NAMES
    if small in results and large in results:
        a, b = results[small], results[large]
        report["ratios_mpnet_over_minilm"] = {
            "ndcg@10": round(b["ndcg@10"] / a["ndcg@10"], 3),
            "recall@10": round(b["recall@10"] / a["recall@10"], 3),
            "doc_encode_cpu_seconds": round(b["doc_encode_cpu_seconds"] / a["doc_encode_cpu_seconds"], 2),
            "query_ms_median": round(b["query_ms_median"] / a["query_ms_median"], 2),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"\nSciFact test, {len(queries)} queries, sub-corpus {len(doc_ids)} docs (seed {args.seed}), 1 thread\n")
    print("| model | nDCG@10 | recall@10 | doc encode s (wall / CPU) | docs/CPU-s | query ms (median) | dim |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['doc_encode_seconds']:.1f} / "
            f"{r['doc_encode_cpu_seconds']:.1f} | {r['docs_per_cpu_second']:.2f} | {r['query_ms_median']:.1f} "
            f"| {r['dim']} |"
        )
    if "ratios_mpnet_over_minilm" in report:
        ratio = report["ratios_mpnet_over_minilm"]
        print(
            f"\nmpnet / MiniLM: nDCG@10 x{ratio['ndcg@10']}, recall@10 x{ratio['recall@10']}, "
            f"doc CPU x{ratio['doc_encode_cpu_seconds']}, query ms x{ratio['query_ms_median']}"
        )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
