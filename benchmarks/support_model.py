"""Score a support cross-encoder (claim, evidence window -> supported) on the two external checks.

- ``evals/support_pairs.jsonl`` (read-only, never trained on): each sentence against the windows of
  three sentences of its source paper's abstract (bundled corpus, matched by title); the best window
  counts. Accuracy overall and by kind at ``--threshold``.
- SciFact claims train (``claims_train.csv``): each claim with a SUPPORT or CONTRADICT label against
  the windows of the abstract it cites; passed rates at the threshold and AUC SUPPORT vs CONTRADICT.
  ``--held-fold K`` restricts it to the claims of fold K (claim id modulo 5, as
  ``training.claims.fold_of``), which a model trained with ``--held-fold K`` never saw.

- ``--product``: the same fold's claims through the answer step's own check
  (``assistant.support.SupportScorer.judge`` against "title. abstract"), side by side: the heuristic
  at 0.65, the learned check (model x number, figure and name checks) at 0.5, and the heuristic with
  the learned veto (a sentence the model reads as contradicted, ``support.CONTRADICTED``, is dropped).

    .venv/bin/python benchmarks/support_model.py --held-fold 0 --product
    .venv/bin/python benchmarks/support_model.py --candidate /tmp/support.onnx --held-fold 0   # not shipped yet
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # training/ (not installed: it runs from the repo root)

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)

ROOT = Path(__file__).resolve().parent.parent


def windows(title: str, sentences: list[str]) -> list[str]:
    """Title plus each run of up to three consecutive sentences (the support model's evidence)."""
    head = f"{title.rstrip('.')}. "
    if len(sentences) <= 3:
        return [head + " ".join(sentences)]
    return [head + " ".join(sentences[i : i + 3]) for i in range(len(sentences) - 2)]


def best(model: object, claim: str, evidence: list[str]) -> float:
    return float(model.score([(claim, w) for w in evidence]).max())  # type: ignore[attr-defined]


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def operating_point(pos: list[float], neg: list[float], most_passed: float = 0.10) -> dict[str, float]:
    """The lowest threshold at which at most ``most_passed`` of ``neg`` (contradicted claims) pass,
    and the share of ``pos`` (supported claims) passed there: the issue's target reads it as
    contradicted <= 10% while supported >= 70%."""
    above_all = max(neg, default=0.0) + 1e-9  # passes none of them
    cut = next((t for t in sorted(neg) if sum(s >= t for s in neg) <= most_passed * len(neg)), above_all)
    return {
        "threshold": round(cut, 4),
        "contradicted_passed": round(sum(s >= cut for s in neg) / len(neg), 3),
        "supported_passed": round(sum(s >= cut for s in pos) / len(pos), 3),
    }


def product(model: object, claims: list[tuple[str, str, str]]) -> dict[str, dict[str, float]]:
    """Passed rates of SUPPORT and CONTRADICT claims under the answer step's checks (see the docstring)."""
    from assistant.embedding import QueryEncoder
    from assistant.settings import load_settings
    from assistant.support import SupportScorer

    settings = load_settings()
    scorer = SupportScorer(QueryEncoder(settings.embedding.model, settings.cache), 0.5, model)  # type: ignore[arg-type]
    passed: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for label, claim, text in claims:
        j = scorer.judge(claim, [text])
        passed["heuristic at 0.65"][label].append(j.heuristic >= 0.65)
        passed["learned x checks at 0.5"][label].append(j.score >= 0.5)
        passed["heuristic, learned veto"][label].append(j.heuristic >= 0.65 and not j.contradicted)
    return {
        check: {f"{label.lower()}_passed": round(sum(v) / len(v), 3) for label, v in sorted(by.items())}
        for check, by in passed.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=None, help="folder of the model files (default: shipped)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--claims", type=Path, default=ROOT.parent / "shared/benchmarks/scifact-claims")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--held-fold", type=int, default=None, help="only SciFact claims of this fold")
    parser.add_argument(
        "--candidate", type=Path, default=None, help="an int8 ONNX support model not shipped yet (no sha256 check)"
    )
    parser.add_argument("--product", action="store_true", help="also the answer step's checks, side by side")
    args = parser.parse_args()

    from assistant.crossencoder import MODELS_DIR, TOKENIZER, CrossEncoder, ModelFile, sha256_of
    from assistant.text import split_sentences
    from ingest.readers import read_paths
    from ingest.records import Paper
    from training.claims import fold_of

    if args.candidate is not None:  # a model being evaluated before it ships: its own digest, the shipped tokenizer
        tokenizer = args.candidate.parent / TOKENIZER[0]
        if not tokenizer.is_file():
            tokenizer.write_bytes((MODELS_DIR / TOKENIZER[0]).read_bytes())
        spec = ModelFile("support", args.candidate.name, sha256_of(args.candidate), 128)
        model = CrossEncoder(spec, args.candidate.parent, threads=2)
    else:
        model = CrossEncoder.load("support", args.models, threads=2)
    papers = {p.title: p for p in read_paths([ROOT / "data"]) if isinstance(p, Paper)}
    by_kind: dict[str, list[int]] = defaultdict(list)
    for line in (ROOT / "evals/support_pairs.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        paper = papers.get(row["source_title"])
        if paper is None:
            continue
        score = best(model, row["sentence"], windows(paper.title, split_sentences(paper.abstract)))
        by_kind[row["kind"]].append(int((score >= args.threshold) == (row["label"] == "supported")))
    total = [x for v in by_kind.values() for x in v]
    report: dict[str, object] = {
        "threshold": args.threshold,
        "support_pairs": {"n": len(total), "accuracy": round(sum(total) / len(total), 3)}
        | {k: round(sum(v) / len(v), 3) for k, v in sorted(by_kind.items())},
    }
    sentences = json.loads((args.claims / "corpus_sentences.json").read_text(encoding="utf-8"))
    scores: dict[str, list[float]] = {"SUPPORT": [], "CONTRADICT": []}
    claims: list[tuple[str, str, str]] = []  # (label, claim, "title. abstract")
    with (args.claims / "claims_train.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            doc = sentences.get(row["evidence_doc_id"])
            if args.held_fold is not None and fold_of(row["id"]) != args.held_fold:
                continue
            if row["evidence_label"] in scores and doc is not None:
                scores[row["evidence_label"]].append(best(model, row["claim"], windows(doc["title"], doc["sentences"])))
                text = f"{doc['title'].rstrip('.')}. " + " ".join(doc["sentences"])
                claims.append((row["evidence_label"], row["claim"], text))
    report["scifact_claims_train"] = {
        "held_fold": args.held_fold,
        "n": {k: len(v) for k, v in scores.items()},
        "passed": {k: round(sum(s >= args.threshold for s in v) / len(v), 3) for k, v in scores.items()},
        "auc_support_vs_contradict": round(auc(scores["SUPPORT"], scores["CONTRADICT"]), 3),
        "at_contradicted_10pct": operating_point(scores["SUPPORT"], scores["CONTRADICT"]),
    }
    if args.product:
        report["product_checks_on_the_fold"] = product(model, claims)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
