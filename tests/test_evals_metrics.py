"""Metric functions on hand-computed examples, including the edge cases the report depends on."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

import pytest

from evals import metrics
from evals.report import build_report, check_thresholds, compare


def fake_support(sentence: str, evidence: list[str]) -> bool:
    """Fake support judgement for hand computation: every word of 4+ letters appears in the evidence."""
    pool = " ".join(evidence).lower().split()
    return all(word in pool for word in sentence.lower().split() if len(word) >= 4)


# -- retrieval -------------------------------------------------------------------------------------


def test_retrieval_scores_hand_computed() -> None:
    scores = metrics.retrieval_scores(["a", "b", "c", "d"], {"b", "d", "x"})
    assert scores is not None
    assert scores["hit@1"] == 0.0
    assert scores["hit@5"] == 1.0
    assert scores["hit@10"] == 1.0
    assert scores["recall@10"] == pytest.approx(2 / 3)
    assert scores["mrr@10"] == pytest.approx(0.5)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert scores["ndcg@10"] == pytest.approx(dcg / idcg)  # 0.4982


def test_retrieval_cutoffs_and_misses() -> None:
    ranked = [f"p{i}" for i in range(1, 13)]
    assert metrics.hit_at_k(ranked, {"p6"}, 5) == 0.0
    assert metrics.hit_at_k(ranked, {"p6"}, 10) == 1.0
    assert metrics.mrr_at_k(ranked, {"p11"}, 10) == 0.0  # beyond the cutoff
    assert metrics.recall_at_k(ranked, {"p2", "p11"}, 10) == 0.5
    assert metrics.retrieval_scores([], {"p1"}) == dict.fromkeys(metrics.RETRIEVAL_KEYS, 0.0)


def test_ndcg_ideal_is_cut_at_k_like_beir() -> None:
    gold = {f"g{i}" for i in range(12)}
    assert metrics.ndcg_at_k([f"g{i}" for i in range(10)], gold, 10) == pytest.approx(1.0)


def test_repeated_retrieved_ids_count_once() -> None:
    assert metrics.mrr_at_k(["a", "a", "b"], {"b"}) == 0.5
    assert metrics.ndcg_at_k(["b", "b"], {"b", "c"}) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_no_gold_is_skipped_and_counted() -> None:
    assert metrics.retrieval_scores(["a"], []) is None
    means = metrics.mean_scores(
        [None, {k: 1.0 for k in metrics.RETRIEVAL_KEYS}, {k: 0.0 for k in metrics.RETRIEVAL_KEYS}]
    )
    assert means["hit@5"] == 0.5
    assert metrics.mean_scores([None, None]) == dict.fromkeys(metrics.RETRIEVAL_KEYS)
    with pytest.raises(ValueError):
        metrics.recall_at_k(["a"], set(), 10)


def test_cutoff_below_one_is_refused() -> None:
    # pytrec_eval would abort the interpreter on a cutoff of 0, so the wrappers refuse it first.
    for fn in (metrics.hit_at_k, metrics.recall_at_k, metrics.mrr_at_k, metrics.ndcg_at_k):
        with pytest.raises(ValueError, match="cutoff"):
            fn(["a"], {"a"}, 0)


def test_benchmark_hand_computed_cases() -> None:
    """The cases benchmarks/embedding_choice.py checked its own nDCG with, at binary relevance."""
    gold = {"a", "b", "c"}  # a at rank 1, b at rank 3, c not retrieved
    dcg = 1 + 1 / 2  # log2(2) = 1, log2(4) = 2
    idcg = 1 + 1 / math.log2(3) + 1 / 2
    assert metrics.ndcg_at_k(["a", "x", "b", "y"], gold) == pytest.approx(dcg / idcg)
    assert metrics.ndcg_at_k(["a", "b", "c"], gold) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(["x", "y"], gold) == 0.0
    assert metrics.ndcg_at_k(["x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert metrics.ndcg_at_k([f"x{i}" for i in range(10)] + ["a"], {"a"}) == 0.0  # rank 11 is past the cut
    assert metrics.recall_at_k(["a", "x", "b"], gold, 10) == pytest.approx(2 / 3)


# -- differential: ir-measures against the previous hand-written implementation ----------------------
#
# The _reference_* functions are evals/metrics.py's retrieval metrics as they were before ir-measures
# computed them (commit e358e5b), copied verbatim apart from the names.


def _reference_unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _reference_hit_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    return 1.0 if any(r in gold for r in _reference_unique(retrieved)[:k]) else 0.0


def _reference_recall_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    if not gold:
        raise ValueError("recall is undefined without gold")
    return len(set(_reference_unique(retrieved)[:k]) & gold) / len(gold)


def _reference_mrr_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    for rank, r in enumerate(_reference_unique(retrieved)[:k], start=1):
        if r in gold:
            return 1.0 / rank
    return 0.0


def _reference_ndcg_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    if not gold:
        raise ValueError("nDCG is undefined without gold")
    dcg = sum(
        1.0 / math.log2(rank + 1) for rank, r in enumerate(_reference_unique(retrieved)[:k], start=1) if r in gold
    )
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / idcg


def _reference_retrieval_scores(retrieved: Sequence[str], gold: Iterable[str]) -> dict[str, float] | None:
    gold = set(gold)
    if not gold:
        return None
    return {
        "hit@1": _reference_hit_at_k(retrieved, gold, 1),
        "hit@5": _reference_hit_at_k(retrieved, gold, 5),
        "hit@10": _reference_hit_at_k(retrieved, gold, 10),
        "recall@10": _reference_recall_at_k(retrieved, gold, 10),
        "mrr@10": _reference_mrr_at_k(retrieved, gold, 10),
        "ndcg@10": _reference_ndcg_at_k(retrieved, gold, 10),
    }


def _generated_cases(n: int, seed: int) -> list[tuple[list[str], set[str]]]:
    """Seeded (ranking, gold) pairs: rankings of 0-25 ids from a pool of 30, with repeats; gold of
    0-8 ids, partly ids no ranking contains. Fixed corner cases come first."""
    fixed: list[tuple[list[str], set[str]]] = [
        ([], set()),
        ([], {"d1"}),
        (["d1", "d2"], set()),
        (["d1", "d1", "d1"], {"d1"}),
        (["d1", "d1", "d2"], {"d2"}),
        ([f"d{i}" for i in range(20)], {"d15", "d19"}),  # gold only beyond rank 10
        ([f"d{i}" for i in range(20)], {f"d{i}" for i in range(20)}),  # more gold than any cutoff
        (["d3"], {"unseen1", "unseen2"}),  # gold never retrieved
    ]
    rng = random.Random(seed)
    pool = [f"d{i}" for i in range(30)]
    unseen = [f"unseen{i}" for i in range(5)]
    generated = []
    for _ in range(n):
        ranked = [rng.choice(pool) for _ in range(rng.randint(0, 25))]  # repeats happen
        gold = set(rng.sample(pool + unseen, rng.randint(0, 8)))
        generated.append((ranked, gold))
    return fixed + generated


TOLERANCE = 1e-9  # absolute, with no relative slack (pytest.approx would add 1e-6 relative)


def _assert_close(got: float, expected: float, case: str) -> None:
    assert abs(got - expected) <= TOLERANCE, f"{case}: ir-measures {got!r} != reference {expected!r}"


def test_ir_measures_match_the_previous_implementation() -> None:
    cases = _generated_cases(1500, seed=20240501)
    cutoffs = (1, 2, 3, 5, 10, 20, 50)  # 20 and 50 exceed many rankings' length
    seen = {"empty gold": 0, "gold not retrieved": 0, "k beyond ranking": 0, "repeats": 0, "empty ranking": 0}
    for ranked, gold in cases:
        seen["empty gold"] += not gold
        seen["gold not retrieved"] += bool(gold) and not gold & set(ranked)
        seen["repeats"] += len(set(ranked)) < len(ranked)
        seen["empty ranking"] += not ranked
        for k in cutoffs:
            seen["k beyond ranking"] += k > len(set(ranked))
            case = f"ranked={ranked} gold={sorted(gold)} k={k}"
            _assert_close(metrics.hit_at_k(ranked, gold, k), _reference_hit_at_k(ranked, gold, k), f"hit {case}")
            _assert_close(metrics.mrr_at_k(ranked, gold, k), _reference_mrr_at_k(ranked, gold, k), f"mrr {case}")
            if gold:
                got, expected = metrics.recall_at_k(ranked, gold, k), _reference_recall_at_k(ranked, gold, k)
                _assert_close(got, expected, f"recall {case}")
                got, expected = metrics.ndcg_at_k(ranked, gold, k), _reference_ndcg_at_k(ranked, gold, k)
                _assert_close(got, expected, f"ndcg {case}")
            else:  # both undefined without gold, old and new
                with pytest.raises(ValueError):
                    metrics.recall_at_k(ranked, gold, k)
                with pytest.raises(ValueError):
                    metrics.ndcg_at_k(ranked, gold, k)
        scores = metrics.retrieval_scores(ranked, gold)
        reference = _reference_retrieval_scores(ranked, gold)
        if reference is None:
            assert scores is None
        else:
            assert scores is not None
            assert list(scores) == list(reference) == list(metrics.RETRIEVAL_KEYS)
            for key in reference:
                _assert_close(scores[key], reference[key], f"{key} ranked={ranked} gold={sorted(gold)}")
    assert all(count > 0 for count in seen.values()), seen  # every edge case was exercised


# -- citations ---------------------------------------------------------------------------------------

EVIDENCE = {1: "alpha beta", 2: "gamma delta", 3: "alpha gamma"}


def test_alce_citation_recall_and_precision() -> None:
    sentences = [
        ("alpha beta", [1]),  # supported, its one citation relevant
        ("alpha gamma", [1, 2]),  # needs both: both relevant
        ("alpha gamma", [3, 1]),  # [3] alone suffices and [1] adds nothing: [1] irrelevant
        ("delta", []),  # no citation: not supported, nothing counted
        ("gamma", [2, 2, 9]),  # duplicate [2] collapsed; [9] is not a retrieved source
    ]
    s = metrics.citation_scores(sentences, EVIDENCE, fake_support)
    assert s is not None
    assert (s.sentences, s.supported, s.citations, s.relevant) == (5, 4, 7, 5)
    assert s.recall == pytest.approx(4 / 5)
    assert s.precision == pytest.approx(5 / 7)
    assert (s.outside, s.duplicates) == (1, 1)


def test_unsupported_sentence_makes_its_citations_irrelevant() -> None:
    s = metrics.citation_scores([("omega", [1, 2])], EVIDENCE, fake_support)
    assert s is not None
    assert (s.recall, s.precision, s.citations) == (0.0, 0.0, 2)


def test_answer_without_citations_has_zero_precision_like_alce() -> None:
    s = metrics.citation_scores([("alpha", [])], EVIDENCE, fake_support)
    assert s is not None
    assert (s.recall, s.precision, s.citations) == (0.0, 0.0, 0)


def test_empty_answer_has_no_citation_or_faithfulness_score() -> None:
    assert metrics.citation_scores([], EVIDENCE, fake_support) is None
    assert metrics.faithfulness([], ["alpha"], fake_support) is None


def test_faithfulness_uses_all_sources_together() -> None:
    sources = ["alpha beta", "gamma delta"]
    assert metrics.faithfulness(["alpha gamma", "omega gamma"], sources, fake_support) == 0.5


def test_cites_gold() -> None:
    assert metrics.cites_gold(["p1", "p2"], ["p2"])
    assert not metrics.cites_gold([], ["p2"])


# -- abstention and classification ------------------------------------------------------------------


def test_abstention_shares() -> None:
    rows = [(False, True), (False, False), (True, False), (True, False), (True, True)]
    assert metrics.abstention(rows) == {
        "unanswerable": 2,
        "abstained_unanswerable": 0.5,
        "answerable": 3,
        "wrongly_abstained": pytest.approx(1 / 3),
    }
    assert metrics.abstention([(True, False)])["abstained_unanswerable"] is None


def test_classification_hand_computed() -> None:
    c = metrics.classification([(True, True), (True, False), (False, True), (False, False), (True, True)])
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (2, 1, 1, 1)
    assert c["accuracy"] == pytest.approx(0.6)
    assert c["precision"] == pytest.approx(2 / 3)
    assert c["recall"] == pytest.approx(2 / 3)
    assert c["f1"] == pytest.approx(2 / 3)
    never = metrics.classification([(True, False), (False, False)])
    assert (never["precision"], never["recall"], never["f1"]) == (None, 0.0, 0.0)


# -- report aggregation, gate and compare ------------------------------------------------------------


def _row(qid: str, kind: str, hit: float | None, abstained: bool, **answer: object) -> dict:
    row = {"id": qid, "question": qid, "kind": kind, "gold": [], "abstained": abstained, "retrieve_ms": 10.0}
    row.update({k: hit for k in metrics.RETRIEVAL_KEYS})
    row.update(answer)
    return row


def test_report_excludes_abstained_and_empty_answers_but_counts_them() -> None:
    answer = {"citation_recall": None, "citation_precision": None, "faithfulness": None, "cites_gold": None}
    rows = [
        _row("a", "single", 1.0, False, **{**answer, "citation_recall": 0.5, "citation_precision": 1.0,
                                          "faithfulness": 1.0, "cites_gold": True, "outside_citations": 1,
                                          "mode": "auto:extract"}),
        _row("b", "single", 0.0, True, **answer),  # abstained on an answerable question
        _row("c", "single", 1.0, False, **answer, empty=True),
        _row("u", "unanswerable", None, True, **answer),
    ]  # fmt: skip
    report = build_report(rows, {"retrieval_only": False})
    assert report["questions"] == 4
    assert report["counts"] == {
        "retrieval_scored": 3,
        "no_gold_skipped": 1,
        "gold_not_in_index": 0,
        "answer_errors": 0,
        "answered_by": {"auto:extract": 1},  # only the one answered question, by the extractive fallback
    }
    assert report["retrieval"]["hit@5"] == pytest.approx(0.6667)
    c = report["citations"]
    assert (c["recall"], c["precision"], c["cites_gold"], c["outside_retrieved"]) == (0.5, 1.0, 1.0, 1)
    assert (c["answers_scored"], c["abstained_excluded"], c["empty_excluded"]) == (1, 2, 1)
    assert report["faithfulness"]["score"] == 1.0
    a = report["abstention"]
    assert (a["abstained_unanswerable"], a["wrongly_abstained"], a["decided_by"]) == (
        1.0,
        pytest.approx(0.3333),
        "answer",
    )


def test_retrieval_only_report_marks_answer_metrics_unmeasured() -> None:
    report = build_report([_row("a", "multi", 1.0, False)], {"retrieval_only": True})
    assert report["citations"]["measured"] is False
    assert report["faithfulness"]["measured"] is False
    assert report["abstention"]["decided_by"] == "retrieval"


def test_check_thresholds_lists_each_failure() -> None:
    report = {"retrieval": {"hit@5": 0.9, "recall@10": 0.8, "mrr@10": None}}
    failures = check_thresholds(report, {"hit@5": 0.85, "recall@10": 0.85, "mrr@10": 0.5})
    assert len(failures) == 2
    assert failures[0].startswith("recall@10: 0.8000 < threshold 0.850")
    assert "not measured" in failures[1]
    assert check_thresholds(report, {"hit@5": 0.9}) == []


def test_compare_deltas() -> None:
    a = {"questions": 10, "retrieval": {"hit@5": 0.5}, "citations": {"measured": False}}
    b = {"questions": 10, "retrieval": {"hit@5": 0.75}, "citations": {"measured": True, "recall": 0.4}}
    rows = {r["metric"]: r for r in compare(a, b)}
    assert rows["retrieval.hit@5"]["delta"] == pytest.approx(0.25)
    assert rows["citations.recall"] == {"metric": "citations.recall", "a": None, "b": 0.4, "delta": None}
    assert "citations.measured" not in rows  # booleans are not metrics


def test_evenly_spaced_sample_is_deterministic_and_spread() -> None:
    from evals.run import evenly_spaced

    items = list(range(10))
    assert evenly_spaced(items, 5) == [0, 2, 4, 6, 8]
    assert evenly_spaced(items, 3) == [0, 3, 6]
    assert evenly_spaced(items, 10) == items
