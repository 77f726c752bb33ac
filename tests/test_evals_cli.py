"""`evals run | compare | scorer` in-process on the session's real bundled-corpus index (conftest ``corpus_index``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.answer import Answer, AnswerChain, AnswerSentence
from assistant.settings import load_settings
from evals.cli import main
from evals.metrics import RETRIEVAL_KEYS
from evals.run import RunConfig, run_eval

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "evals"
QUESTIONS = FIXTURES / "questions.jsonl"  # 6 dev questions, 1 unanswerable, and fx-missing: gold not in data/


@pytest.fixture(scope="module")
def tiny_index(corpus_index) -> Path:  # type: ignore[no-untyped-def]
    """The shared read-only index of data/ (built once per session by tests/conftest.py)."""
    return corpus_index[0].index.path


@pytest.fixture(scope="module")
def retrieval_run(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        main, ["run", "--questions", str(QUESTIONS), "--retrieval-only", "--index", str(tiny_index), "--out", str(out)]
    )
    return out, result


def test_run_retrieval_only_writes_report_results_markdown_and_chart(retrieval_run: tuple[Path, object]) -> None:
    out, result = retrieval_run
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["questions"] == 8
    assert list(report["retrieval"]) == list(RETRIEVAL_KEYS)
    assert {"citations", "faithfulness", "abstention", "config"} <= set(report)
    assert report["counts"] == {"retrieval_scored": 7, "no_gold_skipped": 1, "gold_not_in_index": 1}
    # fx-missing's gold paper is not in the corpus: 6 of the 7 scored questions can hit, and do
    assert report["retrieval"]["hit@10"] == pytest.approx(6 / 7, abs=1e-4)
    assert report["abstention"]["unanswerable"] == 1 and report["abstention"]["decided_by"] == "retrieval"
    cfg = report["config"]
    assert cfg["embedding_model"] == "all-MiniLM-L6-v2"
    assert cfg["fusion"]["dense_weight"] + cfg["fusion"]["bm25_weight"] == pytest.approx(1.0)
    assert (cfg["retrieval_only"], cfg["retrieval_k"], cfg["mode"]) == (True, 10, None)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows][-3:] == ["dev-040", "fx-missing", "dev-003"] and len(rows) == 8
    first = rows[0]
    assert first["retrieved"][0] == "Analyzing Transformers in Embedding Space"
    assert len(first["retrieved"]) == 10 and first["hit@1"] == 1.0
    assert rows[-1]["hit@1"] is None  # unanswerable: no retrieval score
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Misses (no gold paper in the top 10): 1" in (out / "report.md").read_text()


def test_run_check_fails_listing_each_metric_below_threshold(tiny_index: Path, tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"hit@5": 0.9, "recall@10": 0.9, "mrr@10": 0.1}))
    args = ["run", "--questions", str(QUESTIONS), "--retrieval-only", "--index", str(tiny_index)]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a"), "--check", str(thresholds), "--json"])
    assert result.exit_code == 1
    assert "hit@5: 0.8571 < threshold 0.900" in result.stderr
    assert "recall@10: " in result.stderr and "mrr@10" not in result.stderr
    assert json.loads(result.stdout)["questions"] == 8  # --json prints exactly the report
    thresholds.write_text(json.dumps({"hit@5": 0.8}))
    passed = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b"), "--check", str(thresholds)])
    assert passed.exit_code == 0, passed.output
    assert "check passed" in passed.stderr


def test_run_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", "--questions", str(QUESTIONS), "--retrieval-only", "--index", str(tmp_path / "none")]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no index at")


def test_beir_run_ingests_its_corpus_and_maps_gold_ids(tmp_path: Path) -> None:
    out = tmp_path / "beir"
    result = CliRunner().invoke(
        main, ["run", "--questions", str(FIXTURES / "beir"), "--retrieval-only", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["index"] == str(out / "index")
    assert report["beir"]["split"] == "test"
    assert (report["beir"]["docs_mapped"], report["beir"]["docs_merged_by_title"]) == (3, 0)
    assert report["counts"]["retrieval_scored"] == 2
    assert report["retrieval"]["hit@1"] == 1.0  # three docs, two unambiguous claims
    assert report["retrieval"]["recall@10"] == 1.0


def test_compare_prints_both_reports_with_deltas(retrieval_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = retrieval_run
    other = json.loads((out / "report.json").read_text())
    other["retrieval"]["hit@1"] = round(other["retrieval"]["hit@1"] - 0.25, 4)
    other["config"]["k"] = 3
    (tmp_path / "report.json").write_text(json.dumps(other))
    result = CliRunner().invoke(main, ["compare", str(out), str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("retrieval.hit@1 "))
    assert line.split()[-1] == "-0.2500"
    assert "k: 5 → 3" in result.stdout
    as_json = CliRunner().invoke(main, ["compare", str(out), str(tmp_path), "--json"])
    rows = {r["metric"]: r for r in json.loads(as_json.stdout)["metrics"]}
    assert rows["retrieval.hit@1"]["delta"] == pytest.approx(-0.25)
    missing = CliRunner().invoke(main, ["compare", str(out), str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "cannot read report" in missing.stderr


class FakeAnswerChain:
    """Fake answer step (no LLM): cites the top source with its own first sentence, or abstains.

    Retrieval and scoring are real; only the answer text is made up, to test how answers are scored.
    """

    def __init__(self, index: Path) -> None:
        self.stages = AnswerChain(load_settings(index=index))  # real retrieval; no model is ever called

    def answer(self, question: str, *, k: int | None = None, mode: str | None = None, model: str | None = None):
        r = self.stages.retrieve(question, k=k)
        if r.abstain:
            return Answer(question, "Not covered.", r.sources, [], True, "fake", "fake")
        top = r.sources[0]
        first = top.abstract.split(". ")[0] + "."
        sentences = [
            AnswerSentence(first, [top.n, top.n], 1.0, False),  # duplicate citation
            AnswerSentence("Bananas are the most popular fruit in Antarctica.", [2, 99], 0.0, True),
        ]
        return Answer(question, " ".join(s.text for s in sentences), r.sources, sentences, False, "fake", "fake")


def test_answer_scoring_with_the_real_support_scorer(tiny_index: Path, tmp_path: Path) -> None:
    cfg = RunConfig(QUESTIONS, tmp_path, index=tiny_index, k=3)
    result = run_eval(cfg, chain=FakeAnswerChain(tiny_index))
    answered = [r for r in result.rows if not r["abstained"]]
    assert answered, "the fake chain answers when retrieval does not abstain"
    for row in answered:
        assert row["citation_recall"] == 0.5  # the copied sentence is supported, the banana one is not
        assert row["citation_precision"] == pytest.approx(1 / 3)  # of [top], [2], [99]: only [top]
        assert row["faithfulness"] == 0.5
        assert (row["outside_citations"], row["duplicate_citations"]) == (1, 1)
        assert row["citations"][-1] == "[99]"
    c = result.report["citations"]
    assert c["measured"] and c["answers_scored"] == len(answered)
    assert c["abstained_excluded"] == len(result.rows) - len(answered)
    assert c["outside_retrieved"] == len(answered)
    assert result.report["config"]["scorer"].startswith("heuristic")
    assert result.report["abstention"]["decided_by"] == "answer"


def test_scorer_command_on_labelled_pairs(tiny_index: Path, tmp_path: Path) -> None:
    labelled = [json.loads(line) for line in (ROOT / "evals" / "support_pairs.jsonl").read_text().splitlines()]
    verbatim = next(p for p in labelled if p["kind"] == "verbatim")
    off_topic = next(p for p in labelled if p["kind"] == "off_topic")
    missing = {**verbatim, "id": "x", "source_title": "A paper that is not indexed"}
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(r) for r in (verbatim, off_topic, missing)) + "\n")
    out = tmp_path / "scorer.json"
    result = CliRunner().invoke(main, ["scorer", "--pairs", str(pairs), "--index", str(tiny_index), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["pairs"] == 2 and data["missing_sources"] == ["A paper that is not indexed"]
    scores = {r["kind"]: r["score"] for r in data["results"]}
    assert scores["verbatim"] > scores["off_topic"]
    assert set(data["supported"]) >= {"accuracy", "precision", "recall", "f1"}
    assert set(data["by_kind"]) == {"verbatim", "off_topic"}
    assert "'supported' precision" in result.stdout


# -- the realistic set's format: --split, style, coverage -----------------------------------------------

REALISTIC = FIXTURES / "realistic.jsonl"  # 6 questions with style and split: rx1-rx4 dev, rx5-rx6 test


def test_realistic_dev_split_reports_coverage_per_style_and_each_threshold(tiny_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev"
    args = ["run", "--questions", str(REALISTIC), "--split", "dev", "--retrieval-only", "--index", str(tiny_index)]
    result = CliRunner().invoke(
        main, [*args, "--out", str(out), "--check", str(ROOT / "evals" / "thresholds-realistic.json")]
    )
    report = json.loads((out / "report.json").read_text())
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["style"]) for r in rows] == [
        ("rx1", "paraphrase"),
        ("rx2", "list"),
        ("rx3", "off-topic"),
        ("rx4", "short"),
    ]
    assert report["config"]["split"] == "dev" and report["questions"] == 4
    assert list(report["by_style"]) == ["paraphrase", "short", "list", "off-topic"]  # grouped by kind
    cov = report["coverage"]
    assert (cov["answerable"], cov["unanswerable"], cov["off_topic"]) == (3, 1, 1)
    assert cov["cites_gold_from"] == "top-3 sources" and cov["decided_by"] == "retrieval"
    assert all((r["coverage"] == "answered") == (not r["abstained"]) for r in rows)  # abstained = not answered
    assert rows[2]["coverage"] == "none" and cov["off_topic_none"] == 1.0  # the sourdough question
    assert report["answers"] == {"measured": False, "reason": "--retrieval-only"}
    checks = report["checks"]
    assert [c["metric"] for c in checks["metrics"]][:2] == ["coverage.answerable_none", "coverage.answerable_answered"]
    assert result.exit_code == (0 if checks["passed"] else 1), result.output
    assert "thresholds (" in result.stdout and "coverage.off_topic_none" in result.stdout
    assert "single · paraphrase" in result.stdout  # the per-style table
    assert "## Thresholds" in (out / "report.md").read_text()


def test_a_test_split_report_lists_no_question(tiny_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "test"
    args = ["run", "--questions", str(REALISTIC), "--split", "test", "--retrieval-only", "--index", str(tiny_index)]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["questions"] == 2
    assert "passport" not in (out / "report.md").read_text() and "passport" not in result.output


def test_a_split_the_file_lacks_is_one_line_error_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", "--questions", str(QUESTIONS), "--split", "dev", "--retrieval-only", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no questions in split 'dev' in {QUESTIONS}: no question in it has a 'split' field\n"
    )


class ReferenceChain:
    """Fake answer step (no LLM) answering each answerable question with its reference answer, citing the
    top source; an unanswerable one gets a "closest" outcome, given only by ``as_dict()["coverage"]``."""

    def __init__(self, index: Path) -> None:
        self.stages = AnswerChain(load_settings(index=index))  # real retrieval; no model is ever called
        self.references = {json.loads(line)["question"]: json.loads(line)["answer"] for line in REALISTIC.open()}

    def answer(self, question: str, *, k: int | None = None, mode: str | None = None, model: str | None = None):
        r = self.stages.retrieve(question, k=k)
        text = self.references[question]
        if not text:
            return ClosestAnswer(question, "Perhaps not exactly this; the closest papers:", r.sources, [], True, "auto",
                                 "fake")  # fmt: skip
        sentences = [AnswerSentence(text, [r.sources[0].n], 1.0, False)]
        return Answer(question, text, r.sources, sentences, False, "auto", "fake")


class ClosestAnswer(Answer):
    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "coverage": "closest"}


def test_full_run_scores_reference_recall_modes_and_the_coverage_key(tiny_index: Path, tmp_path: Path) -> None:
    cfg = RunConfig(REALISTIC, tmp_path, split="dev", index=tiny_index, k=3)
    result = run_eval(cfg, chain=ReferenceChain(tiny_index))
    by_id = {r["id"]: r for r in result.rows}
    assert [by_id[i]["content_word_recall"] for i in ("rx1", "rx2", "rx4")] == [1.0, 1.0, 1.0]
    assert by_id["rx3"]["coverage"] == "closest" and by_id["rx3"]["abstained"] is True
    assert "content_word_recall" not in by_id["rx3"]  # unanswerable: no reference
    report = result.report
    assert report["answers"]["content_word_recall"] == 1.0
    assert (report["answers"]["prose"], report["answers"]["extract"], report["answers"]["answered"]) == (1.0, 0.0, 3)
    assert report["coverage"]["unanswerable_closest"] == 1.0 and report["coverage"]["off_topic_none"] == 0.0
    assert report["coverage"]["answerable_answered"] == 1.0 and report["coverage"]["cites_gold_from"] == "citations"
