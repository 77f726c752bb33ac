"""The realistic question set's format (style, split), coverage outcomes, content-word recall and
the thresholds that gate them; hand-made inputs with exact expected values (no index needed)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import InputError
from evals.coverage import content_word_recall, coverage_of, group_table, shows_gold, summarise
from evals.questions import load_questions
from evals.report import check_table, check_thresholds, load_thresholds, threshold_checks

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "evals"
REALISTIC = FIXTURES / "realistic.jsonl"  # 6 questions: 4 dev, 2 test, with style and split
SHARED = ROOT.parent / "shared" / "questions" / "realistic.jsonl"  # the real set, beside the repo as ../shared


# -- loading -----------------------------------------------------------------------------------------


def test_questions_keep_style_and_split_and_a_split_filters_them() -> None:
    every = load_questions(REALISTIC)
    assert [(q.id, q.kind, q.style, q.split) for q in every] == [
        ("rx1", "single", "paraphrase", "dev"),
        ("rx2", "multi", "list", "dev"),
        ("rx3", "unanswerable", "off-topic", "dev"),
        ("rx4", "single", "short", "dev"),
        ("rx5", "single", "yesno", "test"),
        ("rx6", "unanswerable", "off-topic", "test"),
    ]
    assert [q.id for q in load_questions(REALISTIC, "dev")] == ["rx1", "rx2", "rx3", "rx4"]
    assert [q.id for q in load_questions(REALISTIC, "test")] == ["rx5", "rx6"]
    assert load_questions(REALISTIC, "dev")[2].answer == ""  # unanswerable: an empty reference
    old = load_questions(FIXTURES / "questions.jsonl")  # the old format: no style, no split
    assert {(q.style, q.split) for q in old} == {(None, None)}


def test_a_split_no_question_has_is_an_error_naming_the_file() -> None:
    with pytest.raises(InputError) as err:
        load_questions(REALISTIC, "train")
    assert str(err.value) == f"no questions in split 'train' in {REALISTIC}: its splits are dev, test"
    old = FIXTURES / "questions.jsonl"
    with pytest.raises(InputError) as err:
        load_questions(old, "dev")
    assert str(err.value) == f"no questions in split 'dev' in {old}: no question in it has a 'split' field"


def test_style_and_split_must_be_strings(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "gold_titles": ["T"], "style": 3}\n')
    with pytest.raises(InputError, match=r"q.jsonl:1: 'style' must be a non-empty string"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Q?", "gold_titles": ["T"], "split": ""}\n')
    with pytest.raises(InputError, match=r"q.jsonl:1: 'split' must be a non-empty string"):
        load_questions(path)


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/questions/realistic.jsonl is not beside the repo")
def test_the_shared_realistic_set_loads_with_its_documented_counts() -> None:
    every = load_questions(SHARED)  # only aggregate counts over test: it is for reporting only
    assert Counter(q.split for q in every) == {"dev": 60, "test": 60}
    dev = load_questions(SHARED, "dev")
    assert Counter((q.kind, q.style) for q in dev) == {
        **{("single", s): 5 for s in ("paraphrase", "detail", "conversational", "short", "yesno")},
        **{("multi", s): 5 for s in ("broad", "list", "compare")},
        ("unanswerable", "near-miss"): 13,
        ("unanswerable", "off-topic"): 7,
    }
    assert all(q.answer for q in dev if q.answerable) and not any(q.answer for q in dev if not q.answerable)


# -- coverage and content-word recall ------------------------------------------------------------------


def test_coverage_prefers_the_coverage_key_and_else_reads_abstained() -> None:
    assert coverage_of({"abstained": True, "coverage": "closest"}) == "closest"
    assert coverage_of({"abstained": False, "coverage": "answered"}) == "answered"
    assert coverage_of({"abstained": True}) == "none"
    assert coverage_of({"abstained": False}) == "answered"
    assert coverage_of({"abstained": True, "coverage": None}) == "none"
    with pytest.raises(ValueError, match="coverage must be one of answered, closest, none, not 'maybe'"):
        coverage_of({"abstained": False, "coverage": "maybe"})


def test_content_word_recall_hand_computed() -> None:
    reference = "Speculative decoding speeds up inference of large language models."
    # reference content words: specul decod speed up infer larg languag ("models" is a filler word)
    assert content_word_recall(reference, "Decoding is made faster by speculative drafts.") == pytest.approx(2 / 7)
    assert content_word_recall(reference, reference.upper()) == 1.0
    assert content_word_recall(reference, "") == 0.0
    assert content_word_recall(reference, None) == 0.0
    # "We propose a new method that improves accuracy by 12%": improv accuraci 12
    assert content_word_recall("We propose a new method that improves accuracy by 12%.", "Accuracy improved.") == (
        pytest.approx(2 / 3)
    )
    assert content_word_recall("", "anything") is None  # an unanswerable question's empty reference
    assert content_word_recall("We propose an approach.", "anything") is None  # only filler words


def test_shows_gold_counts_the_first_three_sources() -> None:
    assert shows_gold(["a", "b", "c", "g"], ["g"]) is False
    assert shows_gold(["a", "b", "g", "c"], ["g", "h"]) is True
    assert shows_gold(["a"], []) is None


def _row(kind: str, style: str, coverage: str, **values: Any) -> dict[str, Any]:
    return {"kind": kind, "style": style, "coverage": coverage, **values}


HIT = {"hit@1": 1.0, "hit@5": 1.0, "recall@10": 1.0}
ROWS = [
    _row("single", "paraphrase", "answered", cites_gold=True, content_word_recall=0.5, mode="auto", **HIT),
    _row("single", "paraphrase", "none", cites_gold=None, content_word_recall=0.0, mode="auto",
         **{**HIT, "hit@1": 0.0}),
    _row("single", "short", "closest", cites_gold=None, content_word_recall=0.25, mode="extract", **HIT),
    _row("multi", "list", "answered", cites_gold=False, content_word_recall=1.0, mode="auto:extract",
         **{**HIT, "recall@10": 0.5}),
    _row("unanswerable", "near-miss", "answered", mode="generate"),
    _row("unanswerable", "off-topic", "none", mode="auto"),
    _row("unanswerable", "off-topic", "closest", mode="auto"),
]  # fmt: skip


def test_summary_overall_per_kind_and_per_style_hand_computed() -> None:
    s = summarise(ROWS, answers=True, cites_gold_from="citations")
    assert s["coverage"] == {
        "answerable": 4,
        "unanswerable": 3,
        "answerable_answered": 0.5,
        "answerable_closest": 0.25,
        "answerable_none": 0.25,
        "unanswerable_answered": pytest.approx(1 / 3),
        "unanswerable_closest": pytest.approx(1 / 3),
        "unanswerable_none": pytest.approx(1 / 3),
        "off_topic": 2,
        "off_topic_none": 0.5,
        "answered_cites_gold": 0.5,  # of the two answered answerable questions, one cites gold
        "answered_scored": 2,
        "cites_gold_from": "citations",
    }
    assert s["answers"] == {
        "measured": True,
        "content_word_recall": 0.4375,  # (0.5 + 0 + 0.25 + 1) / 4: the refusal counts as 0
        "content_word_recall_answered": 0.75,  # (0.5 + 1) / 2
        "with_reference": 4,
        "prose": pytest.approx(2 / 3),  # answered: auto, auto:extract, generate
        "extract": pytest.approx(1 / 3),
        "answered": 3,
    }
    assert list(s["by_style"]) == ["paraphrase", "short", "list", "near-miss", "off-topic"]
    assert s["by_style"]["paraphrase"] == {
        "kind": "single",
        "questions": 2,
        "answered": 0.5,
        "closest": 0.0,
        "none": 0.5,
        "cites_gold": 1.0,
        "hit@1": 0.5,
        "hit@5": 1.0,
        "recall@10": None,
        "content_word_recall": 0.25,
        "prose": 1.0,
    }
    assert s["by_kind"]["multi"]["recall@10"] == 0.5 and s["by_kind"]["multi"]["hit@1"] is None
    assert s["by_kind"]["unanswerable"]["cites_gold"] is None and s["by_kind"]["unanswerable"]["prose"] == 1.0
    assert s["overall"]["questions"] == 7 and s["overall"]["answered"] == pytest.approx(3 / 7)
    retrieval_only = summarise(ROWS, answers=False, cites_gold_from="top-3 sources")
    assert retrieval_only["answers"] == {"measured": False, "reason": "--retrieval-only"}
    assert retrieval_only["coverage"]["cites_gold_from"] == "top-3 sources"


def test_group_table_has_a_line_per_kind_and_style() -> None:
    lines = group_table(summarise(ROWS, answers=True, cites_gold_from="citations"))
    assert lines[0].split() == ["group", "n", "answered", "closest", "none", "cites", "gold", "hit@1", "hit@5",
                                "R@10", "cw", "recall", "prose"]  # fmt: skip
    assert [line.split("  ")[0].strip() for line in lines[1:]] == [
        "single (all)",
        "multi (all)",
        "unanswerable (all)",
        "single · paraphrase",
        "single · short",
        "multi · list",
        "unanswerable · near-miss",
        "unanswerable · off-topic",
        "all",
    ]
    assert lines[4].split() == ["single", "·", "paraphrase", "2", "0.500", "0.000", "0.500", "1.000", "0.500",
                                "1.000", "–", "0.250", "1.000"]  # fmt: skip


# -- thresholds --------------------------------------------------------------------------------------


def test_realistic_thresholds_encode_the_issue_targets() -> None:
    assert load_thresholds(ROOT / "evals" / "thresholds-realistic.json") == {
        "max:coverage.answerable_none": 0.02,
        "coverage.answerable_answered": 0.85,
        "max:coverage.unanswerable_answered": 0.15,
        "coverage.off_topic_none": 0.95,
        "coverage.answered_cites_gold": 0.9,
        "by_kind.single.hit@5": 0.975,
        "by_kind.multi.recall@10": 0.95,
    }


def test_checks_list_every_metric_with_its_threshold_and_result() -> None:
    thresholds = load_thresholds(ROOT / "evals" / "thresholds-realistic.json")
    report = {
        "coverage": {"answerable_none": 0.16, "answerable_answered": 0.84, "unanswerable_answered": 0.4,
                     "off_topic_none": 1.0, "answered_cites_gold": 0.9},
        "by_kind": {"single": {"hit@5": 0.98}, "multi": {"recall@10": None}},
    }  # fmt: skip
    checks = threshold_checks(report, thresholds)
    assert [(c["metric"], c["value"], c["bound"], c["threshold"], c["passed"]) for c in checks] == [
        ("coverage.answerable_none", 0.16, "max", 0.02, False),
        ("coverage.answerable_answered", 0.84, "min", 0.85, False),
        ("coverage.unanswerable_answered", 0.4, "max", 0.15, False),
        ("coverage.off_topic_none", 1.0, "min", 0.95, True),
        ("coverage.answered_cites_gold", 0.9, "min", 0.9, True),  # the bound itself passes
        ("by_kind.single.hit@5", 0.98, "min", 0.975, True),
        ("by_kind.multi.recall@10", None, "min", 0.95, False),
    ]
    assert check_thresholds(report, thresholds) == [
        "coverage.answerable_none: 0.1600 > maximum 0.020",
        "coverage.answerable_answered: 0.8400 < threshold 0.850",
        "coverage.unanswerable_answered: 0.4000 > maximum 0.150",
        "by_kind.multi.recall@10: not measured, threshold 0.950",
    ]
    table = check_table({"metrics": checks})
    assert table[1].split() == ["coverage.answerable_none", "0.160", "≤", "0.020", "FAIL"]
    assert table[4].split() == ["coverage.off_topic_none", "1.000", "≥", "0.950", "pass"]
    markdown = check_table({"metrics": checks}, markdown=True)
    assert markdown[2] == "| coverage.answerable_none | 0.160 | ≤ | 0.020 | FAIL |"


def test_threshold_names_for_groups_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"by_style.short.none": 0.1, "max:retrieval_by_kind.multi.ndcg@10": 0.9}))
    assert load_thresholds(path) == {"by_style.short.none": 0.1, "max:retrieval_by_kind.multi.ndcg@10": 0.9}
    for bad in ("by_kind.single.hit@3", "coverage.nonsense", "by_style..none", "answers.faithfulness"):
        path.write_text(json.dumps({bad: 0.5}))
        with pytest.raises(InputError, match=f"unknown metric '{bad}'"):
            load_thresholds(path)
