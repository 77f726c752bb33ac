"""The learned support check: the shipped support cross-encoder with the number, figure and name
checks (assistant.support, answer.support = "learned"), on sentences written for this test against
real abstracts of the bundled corpus (never training pairs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.crossencoder import CrossEncoder
from assistant.embedding import QueryEncoder
from assistant.settings import load_settings
from assistant.support import SupportScorer, make_scorer, windows
from assistant.verify import check, evidence_text
from ingest.readers import read_paths
from ingest.records import Paper

ROOT = Path(__file__).resolve().parent.parent
TITLE = "Draft & Verify: Lossless Large Language Model Acceleration via Self-Speculative Decoding"


@pytest.fixture(scope="module")
def evidence() -> str:
    [paper] = [p for p in read_paths([ROOT / "data"]) if isinstance(p, Paper) and p.title == TITLE]
    return evidence_text(paper.title, paper.abstract)


@pytest.fixture(scope="module")
def scorer() -> SupportScorer:
    settings = load_settings(answer={"support": "learned"})
    return make_scorer(QueryEncoder(settings.embedding.model, settings.cache), settings.answer)


def test_windows_are_the_title_and_runs_of_three_sentences() -> None:
    text = "A title. One. Two. Three. Four. Five."
    assert windows(text) == ["A title. One. Two. Three.", "A title. Two. Three. Four.", "A title. Three. Four. Five."]
    assert windows("A title. One. Two.") == ["A title. One. Two."]
    assert windows("") == []


def test_learned_is_opt_in_and_names_itself(scorer: SupportScorer) -> None:
    # the heuristic stays the default: the shipped support model scored lower on the labelled pairs
    # and the held-out SciFact fold (docs/models.md)
    assert load_settings().answer.support == "heuristic"
    assert isinstance(scorer.model, CrossEncoder) and scorer.threshold == 0.5
    assert scorer.name.startswith("learned")


@pytest.mark.parametrize(
    "sentence",
    [
        "Self-speculative decoding accelerates large language models without the need for an auxiliary model.",
        "Draft & Verify drafts tokens by selectively skipping intermediate layers and then verifies the drafts "
        "with the original model in one forward pass.",
    ],
)
def test_what_the_paper_says_is_supported(scorer: SupportScorer, evidence: str, sentence: str) -> None:
    judgement = scorer.judge(sentence, [evidence])
    assert judgement.learned is not None and judgement.score >= scorer.threshold, judgement
    assert not judgement.contradicted


@pytest.mark.parametrize(
    "sentence",
    [
        "Self-speculative decoding slows down large language models and needs an auxiliary model.",
        "Draft & Verify does not verify the drafted tokens with the original model.",
    ],
)
def test_what_the_paper_contradicts_is_not_supported(scorer: SupportScorer, evidence: str, sentence: str) -> None:
    judgement = scorer.judge(sentence, [evidence])
    assert judgement.score < scorer.threshold, judgement


def test_a_contradicted_sentence_is_flagged_in_the_check(scorer: SupportScorer, evidence: str) -> None:
    answer = (
        "Self-speculative decoding accelerates large language models without an auxiliary model [1]. "
        "Draft & Verify does not verify the drafted tokens with the original model [1]."
    )
    result = check(answer, {1: evidence}, scorer, scorer.threshold)
    good, bad = result.sentences
    assert not good.flagged, good
    assert bad.flagged and bad.support < scorer.threshold, bad


def test_heuristic_is_still_available(evidence: str) -> None:
    settings = load_settings(answer={"support": "heuristic"})
    heuristic = make_scorer(QueryEncoder(settings.embedding.model, settings.cache), settings.answer)
    assert heuristic.model is None and heuristic.threshold == 0.65
    judgement = heuristic.judge("Self-speculative decoding needs no auxiliary model.", [evidence])
    assert judgement.learned is None and judgement.score == judgement.heuristic
