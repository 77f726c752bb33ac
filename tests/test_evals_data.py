"""Question sets, the BEIR reader, the labelled support pairs and the CI thresholds file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import InputError
from evals.beir import BeirSet, is_beir_dir, load_beir, map_docs, read_qrels, write_corpus_jsonl
from evals.pairs import Pair, load_pairs, score_pairs
from evals.questions import load_questions
from evals.report import check_thresholds, load_thresholds
from ingest.identity import title_key
from ingest.readers import read_paths
from ingest.readers.jsonl import read as read_jsonl
from ingest.records import Paper

ROOT = Path(__file__).resolve().parents[1]
BEIR = ROOT / "tests" / "fixtures" / "evals" / "beir"


def test_dev_questions_load_and_every_gold_title_is_in_the_bundled_corpus() -> None:
    questions = load_questions(ROOT / "evals" / "questions" / "dev.jsonl")
    assert len(questions) == 104
    corpus = {p.title_key for p in read_paths([ROOT / "data"]) if isinstance(p, Paper)}
    missing = [(q.id, t) for q in questions for t in q.gold_titles if title_key(t) not in corpus]
    assert missing == []
    assert all(q.gold_titles for q in questions if q.answerable)
    assert not any(q.gold_titles for q in questions if not q.answerable)


def test_test_split_is_held_out_from_dev_and_meets_the_issue_counts() -> None:
    test = load_questions(ROOT / "evals" / "questions" / "test.jsonl")
    dev = load_questions(ROOT / "evals" / "questions" / "dev.jsonl")
    kinds = [q.kind for q in test]
    assert len(test) >= 60 and kinds.count("single") >= 30 and kinds.count("multi") >= 10
    assert kinds.count("unanswerable") >= 15
    corpus = {p.title_key for p in read_paths([ROOT / "data"]) if isinstance(p, Paper)}
    gold = {title_key(t) for q in test for t in q.gold_titles}
    assert gold <= corpus
    assert not gold & {title_key(t) for q in dev for t in q.gold_titles}, "test gold papers are unused by dev"


def test_question_loader_rejects_bad_lines_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "gold_titles": ["T"]}\n{"id": "a", "question": "again"}\n')
    with pytest.raises(InputError, match=r"q.jsonl:2: duplicate id 'a'"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Q?", "gold_titles": ["T"], "kind": "unanswerable"}\n')
    with pytest.raises(InputError, match="unanswerable question cannot have gold"):
        load_questions(path)
    path.write_text('{"id": "b", "question": "Q?"}\n')
    assert load_questions(path)[0].kind == "unanswerable"  # no gold and no kind


def test_beir_loader_reads_split_and_drops_zero_scores() -> None:
    assert is_beir_dir(BEIR)
    beir = load_beir(BEIR)
    assert set(beir.corpus) == {"101", "202", "303"}
    assert beir.queries == {
        "1": "Vitamin D supplements prevent fractures in elderly people.",
        "2": "Statins reduce cardiovascular events by lowering LDL cholesterol.",
    }
    assert beir.qrels == {"1": {"101": 1}, "2": {"202": 1, "303": 1}}  # '2 101 0' is judged irrelevant
    questions = {q.id: q for q in beir.questions()}
    assert questions["2"].gold_docs == ["202", "303"]
    assert questions["2"].kind == "multi"
    train = load_beir(BEIR, "train")
    assert list(train.queries) == ["3"]
    with pytest.raises(InputError, match=r"no qrels for split 'dev'.*have: test, train"):
        load_beir(BEIR, "dev")


def test_qrels_need_the_header(tmp_path: Path) -> None:
    bad = tmp_path / "test.tsv"
    bad.write_text("1\t101\t1\n")
    with pytest.raises(InputError, match="header"):
        read_qrels(bad)


def test_beir_corpus_goes_through_the_jsonl_reader(tmp_path: Path) -> None:
    beir = load_beir(BEIR)
    path = write_corpus_jsonl(beir, tmp_path / "corpus.jsonl")
    papers = [p for p in read_jsonl(path.read_text(), str(path)) if isinstance(p, Paper)]
    assert [p.title for p in papers] == [d["title"] for d in beir.corpus.values()]
    assert papers[0].abstract.startswith("In a randomized trial")


def test_docs_sharing_a_title_map_to_one_paper_and_are_counted() -> None:
    corpus = {
        "1": {"title": "Summary", "text": "first"},
        "2": {"title": "summary.", "text": "second"},
        "3": {"title": "Other", "text": "third"},
        "4": {"title": "Never indexed", "text": "fourth"},
    }
    beir = BeirSet(BEIR, "test", corpus, {"q": "?"}, {"q": {"1": 1, "2": 1}})
    mapping = map_docs(beir, {"summary": "arxiv:1", "other": "arxiv:3"})
    assert mapping.paper_of == {"1": "arxiv:1", "2": "arxiv:1", "3": "arxiv:3"}
    assert mapping.as_dict() == {"docs_mapped": 3, "docs_merged_by_title": 1, "docs_not_indexed": 1}


def test_support_pairs_file_is_well_formed() -> None:
    pairs = load_pairs(ROOT / "evals" / "support_pairs.jsonl")
    assert len(pairs) == 162
    assert {p.label for p in pairs} == {"supported", "unsupported"}


class FakeThresholdScorer:
    """Fake scorer: the score is fixed per sentence, so the summary can be computed by hand."""

    threshold = 0.5

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def score(self, sentence: str, evidence: list[str]) -> float:
        return self.scores[sentence]


def test_score_pairs_summary_per_kind_and_missing_sources() -> None:
    pairs = [
        Pair("1", "s1", "Paper A", "supported", "verbatim"),
        Pair("2", "s2", "Paper A", "unsupported", "negated"),
        Pair("3", "s3", "Paper A", "unsupported", "negated"),
        Pair("4", "s4", "Unknown paper", "supported", "verbatim"),
    ]
    scorer = FakeThresholdScorer({"s1": 0.9, "s2": 0.7, "s3": 0.1})
    result = score_pairs(pairs, {"paper a": "abstract"}, scorer)
    assert result["pairs"] == 3
    assert result["missing_sources"] == ["Unknown paper"]
    assert result["supported"]["accuracy"] == pytest.approx(2 / 3)
    assert result["supported"]["precision"] == pytest.approx(0.5)
    assert result["by_kind"]["negated"] == {"n": 2, "label": "unsupported", "accuracy": 0.5}
    assert result["best_threshold"] == {"threshold": 0.9, "f1": 1.0, "accuracy": 1.0}


def test_ci_thresholds_are_valid_and_can_fail() -> None:
    thresholds = load_thresholds(ROOT / "evals" / "thresholds.json")
    assert {"hit@5", "recall@10", "mrr@10", "max:abstention.wrongly_abstained"} <= set(thresholds)
    assert all(0.5 < v < 1.0 for k, v in thresholds.items() if not k.startswith("max:"))
    assert 0 < thresholds["max:abstention.wrongly_abstained"] <= 0.1
    report = {"retrieval": {"hit@5": 1.0, "recall@10": 1.0, "mrr@10": 1.0}}
    report["abstention"] = {"abstained_unanswerable": 0.95, "wrongly_abstained": 0.2}
    assert check_thresholds(report, thresholds) == ["abstention.wrongly_abstained: 0.2000 > maximum 0.100"]


def test_thresholds_reject_unknown_metrics(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"hit@3": 0.5}))
    with pytest.raises(InputError, match="unknown metric 'hit@3'"):
        load_thresholds(path)
