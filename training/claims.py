"""SciFact claims (train split) as labelled support pairs, and their cross-validation folds.

``claims_train.csv`` (``../shared/benchmarks/scifact-claims``, CC BY 4.0; read its README): each row
a claim, the abstract the annotators cited and its rationale sentence numbers, labelled SUPPORT or
CONTRADICT (no-evidence rows are skipped). ``corpus_sentences.json`` beside it holds the abstracts
split into the annotators' sentences.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

CLAIMS = Path("../shared/benchmarks/scifact-claims/claims_train.csv")
FOLDS = 5


def fold_of(claim_id: str) -> int:
    """A SciFact claim's cross-validation fold (claim id modulo ``FOLDS``)."""
    return int(claim_id) % FOLDS


def scifact_claims(path: Path, sentences: dict[str, Any], held_fold: int | None = None) -> list[dict[str, Any]]:
    """SUPPORT (1) and CONTRADICT (0) rows of the train claims against their rationale sentences
    (``held_fold``: claims of that fold are left out, for a held-out evaluation)."""
    pairs = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            label = {"SUPPORT": 1, "CONTRADICT": 0}.get(row["evidence_label"])
            doc = sentences.get(row["evidence_doc_id"])
            if label is None or doc is None or (held_fold is not None and fold_of(row["id"]) == held_fold):
                continue
            idx = [int(n) for n in re.findall(r"\d+", row["evidence_sentences"])]
            sents = [doc["sentences"][n] for n in idx if n < len(doc["sentences"])][:3]
            evidence = f"{doc['title'].rstrip('.')}. " + " ".join(sents)
            pairs.append(
                {
                    "claim": row["claim"],
                    "evidence": evidence,
                    "label": label,
                    "kind": "scifact",
                    "group": f"claim:{row['id']}",
                    "source": "scifact-claims",
                }
            )
    return pairs
