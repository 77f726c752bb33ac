"""The support model's SciFact-claim pairs: folds left out, and SUPPORT claims reversed into
contradictions (``training.claims``, ``training.support_data.reversed_claims``). No torch."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from training.claims import fold_of, scifact_claims
from training.support_data import reversed_claims

SENTENCES = {
    "11": {
        "title": "Klf4 in myeloid cells.",
        "sentences": ["Klf4 is required for monocyte differentiation.", "Mice lacked it."],
    },
    "12": {"title": "Statins.", "sentences": ["Statin use increased the risk of diabetes."]},
}
ROWS = [
    ("5", "Klf4 is important for myeloid cell differentiation.", "SUPPORT", "11", "[0]"),
    ("7", "Statin use increases the risk of diabetes.", "SUPPORT", "12", "[0]"),
    ("8", "Statin use decreases the risk of diabetes.", "CONTRADICT", "12", "[0]"),
    ("9", "Klf4 has no role in anything.", "NOT_ENOUGH_INFO", "11", "[]"),
]


def _claims(tmp_path: Path) -> Path:
    path = tmp_path / "claims_train.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "claim", "evidence_label", "evidence_doc_id", "evidence_sentences"])
        writer.writerows(ROWS)
    return path


def test_claims_become_labelled_pairs_and_a_held_fold_is_left_out(tmp_path: Path) -> None:
    pairs = scifact_claims(_claims(tmp_path), SENTENCES)
    assert [(p["group"], p["label"]) for p in pairs] == [("claim:5", 1), ("claim:7", 1), ("claim:8", 0)]
    assert pairs[0]["evidence"] == "Klf4 in myeloid cells. Klf4 is required for monocyte differentiation."
    held = scifact_claims(_claims(tmp_path), SENTENCES, held_fold=fold_of("7"))
    assert fold_of("7") == 2 and [p["group"] for p in held] == ["claim:5", "claim:8"]


def test_support_claims_are_reversed_into_contradictions_with_the_same_evidence(tmp_path: Path) -> None:
    pairs = scifact_claims(_claims(tmp_path), SENTENCES)
    made = reversed_claims(random.Random(13), pairs)
    assert len(made) == 2  # the two SUPPORT claims; the CONTRADICT one is not reversed again
    by_group = {p["group"]: p for p in made}
    assert by_group["claim:5"]["claim"] == "Klf4 is not important for myeloid cell differentiation."
    assert by_group["claim:7"]["claim"] in {
        "Statin use decreases the risk of diabetes.",
        "Statin use does not increase the risk of diabetes.",
    }
    for pair in made:
        original = next(p for p in pairs if p["group"] == pair["group"])
        assert pair["label"] == 0 and pair["evidence"] == original["evidence"]
        assert pair["claim"] != original["claim"] and pair["kind"] in {"scifact-negation", "scifact-antonym"}
    assert reversed_claims(random.Random(13), pairs) == made  # seeded


def test_model_rewrites_become_a_minimal_pair_and_preambles_or_copies_are_dropped(tmp_path: Path) -> None:
    """``training.rewrites.clean`` is our handling of the embedded model's output (fed here by hand)."""
    from training.rewrites import clean
    from training.support_data import rewritten

    claim = "Sympathetic nerve activity is elevated throughout normal pregnancy."
    assert clean("The opposite statement would be:", claim) is None
    assert clean(f'"{claim}"', claim) is None
    assert clean("Opposite: Sympathetic nerve activity falls during pregnancy.\nNote: ...", claim) == (
        "Sympathetic nerve activity falls during pregnancy."
    )
    rows = [
        {
            "id": "claim:3",
            "claim": claim,
            "evidence": "E1",
            "source": "scifact-claims",
            "paraphrase": "P",
            "reversal": "R",
        },
        {
            "id": "claim:4",
            "claim": "C",
            "evidence": "E2",
            "source": "scifact-claims",
            "paraphrase": "P",
            "reversal": None,
        },
    ]
    path = tmp_path / "rewrites.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pairs = rewritten(path)
    assert [(p["claim"], p["label"], p["kind"]) for p in pairs] == [
        (claim, 1, "llm-source"),
        ("R", 0, "llm-reversal"),
        ("P", 1, "llm-paraphrase"),
    ]
    assert {p["evidence"] for p in pairs} == {"E1"} and {p["group"] for p in pairs} == {"rewrite:claim:3"}
