"""Claims rewritten by the embedded model: a paraphrase (label 1) and a reversal (label 0) per sentence.

The support model learned surface negation ("not" inserted) from the synthetic pairs, but a claim
that reverses a finding in other words ("t-related Lagrange interpolation is optimal" where the paper
says "suboptimal"; SciFact's CONTRADICT claims, written by annotators as negations of claims, Wadden
et al., 2020) passes it (docs/models.md). This writes the missing kind of pair with the embedded
Qwen2.5-Coder-0.5B (the model that writes answers, so its wording is the wording to check): for each
source sentence a paraphrase (same finding, other words) and a reversal (the opposite finding, other
words), both against the same evidence window, so that "written by a model" never tells the two apart.

Sources, sampled with ``--seed``: SciFact train SUPPORT claims (folds other than ``--held-fold``,
against their rationale) and sentences of the bundled and SciFact corpus abstracts (test-gold
abstracts left out), in that order of priority. The run is resumable: rows are appended to ``--out``
one at a time and a rerun skips the ids already there, so the job can be spread over several
sessions (about 20 rows a minute, a paraphrase and a reversal each, on the 2-core machine alone). Never read:
``evals/support_pairs.jsonl``, SciFact validation/test claims.

    python -m training.rewrites --out /tmp/papers-models/rewrites.jsonl --max-minutes 40
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path
from typing import Any

from assistant.text import split_sentences
from training.claims import CLAIMS, scifact_claims
from training.relevance_data import SCIFACT, load_bundled, load_scifact, window

PROMPTS = {
    "paraphrase": (
        "Rewrite the statement in different words. Keep exactly the same meaning and every number. "
        "Answer with the rewritten statement only.\n\nStatement: {claim}\nRewritten:"
    ),
    "reversal": (
        "Rewrite the statement so that it claims the opposite finding, in different words. Do not just "
        "add the word 'not'. Keep the same topic. Answer with the rewritten statement only.\n\n"
        "Statement: {claim}\nOpposite:"
    ),
}


def sources(seed: int, data: Path, scifact: Path, claims: Path, held_fold: int | None) -> list[dict[str, Any]]:
    """(id, claim, evidence, source) rows in the order they are rewritten."""
    rng = random.Random(seed)
    sentences = json.loads((claims.parent / "corpus_sentences.json").read_text(encoding="utf-8"))
    rows = [
        {"id": p["group"], "claim": p["claim"], "evidence": p["evidence"], "source": "scifact-claims"}
        for p in scifact_claims(claims, sentences, held_fold)
        if p["label"] == 1
    ]
    rng.shuffle(rows)
    docs = load_bundled(data)
    sci_docs, _, test_gold = load_scifact(scifact)
    docs += [d for d in sci_docs if d.id not in test_gold]
    picked = []
    for doc in rng.sample(docs, len(docs)):
        sents = split_sentences(doc.abstract)
        if len(sents) < 2:
            continue
        i = rng.randrange(len(sents))
        if 8 <= len(sents[i].split()) <= 45:
            picked.append(
                {
                    "id": f"{doc.corpus}:{doc.id}:{i}",
                    "claim": sents[i],
                    "evidence": window(doc, sents, i),
                    "source": doc.corpus,
                }
            )
    return rows + picked


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows written so far; a last line cut short by a killed run is skipped (and redone)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def clean(text: str, claim: str) -> str | None:
    """The model's first line as one sentence, or None when it is empty, a copy, or not a sentence."""
    line = text.strip().split("\n")[0].strip().strip('"').strip()
    line = re.sub(r"^(Rewritten|Opposite|Statement)\s*:\s*", "", line, flags=re.I)
    if not line or line.lower().rstrip(".") == claim.lower().rstrip(".") or len(line.split()) < 4:
        return None
    if line.endswith(":") or re.match(r"(the )?(opposite|rewritten|paraphrase)\b", line, re.I):
        return None  # a preamble, not the statement
    if len(line.split()) > 2 * len(claim.split()) + 10:
        return None
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--scifact-claims", type=Path, default=CLAIMS)
    parser.add_argument("--held-fold", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--limit", type=int, default=0, help="stop after this many source rows (0: all)")
    args = parser.parse_args()

    import httpx

    from assistant.embedded import get_server
    from assistant.settings import load_settings

    settings = load_settings()
    done = {row["id"] for row in read_rows(args.out)}
    todo = [
        r
        for r in sources(args.seed, args.data, args.scifact, args.scifact_claims, args.held_fold)
        if r["id"] not in done
    ]
    if args.limit:
        todo = todo[: args.limit]
    server = get_server("qwen2.5-0.5b", settings.cache, settings.llm.threads, 2048)
    started, written = time.perf_counter(), 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.is_file() and not args.out.read_text(encoding="utf-8").endswith("\n"):
        with args.out.open("a", encoding="utf-8") as fh:
            fh.write("\n")  # end a line cut short, so the next row starts on its own
    with httpx.Client(base_url=server.api_base, timeout=120.0) as client, args.out.open("a", encoding="utf-8") as fh:
        for row in todo:
            if time.perf_counter() - started > args.max_minutes * 60:
                break
            made = {}
            for kind, prompt in PROMPTS.items():
                reply = client.post(
                    "/chat/completions",
                    json={
                        "model": "qwen2.5-0.5b",
                        "messages": [{"role": "user", "content": prompt.format(claim=row["claim"])}],
                        "max_tokens": 96,
                        "temperature": 0.7,
                        "seed": args.seed,
                    },
                )
                reply.raise_for_status()
                made[kind] = clean(reply.json()["choices"][0]["message"]["content"], row["claim"])
            fh.write(json.dumps({**row, **made}, ensure_ascii=False) + "\n")
            fh.flush()
            written += 1
    rate = written / max(time.perf_counter() - started, 1e-9) * 60
    print(json.dumps({"written": written, "already": len(done), "per_minute": round(rate, 1), "out": str(args.out)}))


if __name__ == "__main__":
    main()
