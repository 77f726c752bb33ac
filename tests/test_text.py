"""The one sentence splitter and the one tokenizer (assistant.text), against their references."""

from __future__ import annotations

import bm25s
import pytest

from assistant.errors import EmptyQuestion
from assistant.text import (
    MAX_QUESTION_CHARS,
    bm25_tokenize,
    clean_question,
    content_words,
    index_terms,
    sentence_spans,
    split_sentences,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The U.S. Census Bureau released data. It was large.", 2),
        ("We use methods, e.g. dropout, to regularise. It works.", 2),
        ("As shown in Fig. 3, accuracy rises. The gain is 3.5% overall.", 2),
        ("Smith et al. propose a model. We extend it.", 2),
        ("Accuracy improves by 3.5%. See Sec. 4 for details.", 2),
        ("我们提出了一种新方法。实验表明它有效。", 2),
        ("The loss is given in Eq. 2 of the paper. It converges.", 2),
        ("We train on approx. 1M tokens. Results follow.", 2),
        ("Accuracy rises (cf. Tab. 4). We ablate it.", 2),
        ("One sentence without a final stop", 1),
        ("", 0),
    ],
)
def test_sentences(text: str, expected: int) -> None:
    sentences = split_sentences(text)
    assert len(sentences) == expected
    assert " ".join(sentences).replace(" ", "") == text.replace(" ", "")  # nothing lost or invented


def test_spans_rejoin_to_the_text() -> None:
    text = "We study RAG. It helps, e.g. on QA.  Results: 3.5% better."
    assert "".join(sentence_spans(text)) == text


TEXTS = [
    "Retrieval-augmented generation (RAG) improves GPT-4's answers by 3.5% on HotpotQA.",
    "The authors propose a new mixture-of-experts model; it is faster than dense baselines.",
    "Über die Stabilität von Diffusionsmodellen",
    "∑ ∀ ∃",
]


def test_bm25_indexes_exactly_index_terms() -> None:
    """Differential: our index_terms against bm25s's own tokenizer output for the same texts."""
    tokenized = bm25_tokenize(TEXTS)
    inverse = {i: t for t, i in tokenized.vocab.items()}
    for text, ids in zip(TEXTS, tokenized.ids, strict=True):
        assert [inverse[i] for i in ids] == index_terms(text)
    # and bm25s's defaults agree with what we pass explicitly
    default = bm25s.tokenize(
        TEXTS[:2], stopwords="en", stemmer=__import__("Stemmer").Stemmer("english"), show_progress=False
    )
    assert default.vocab.keys() == bm25_tokenize(TEXTS[:2]).vocab.keys()


def test_content_words_are_index_terms_without_filler() -> None:
    terms = index_terms(TEXTS[1])
    words = content_words(TEXTS[1])
    assert set(words) < set(terms)
    assert "propos" in terms and "propos" not in words  # "propose" carries no topic in an abstract
    assert "expert" in words and "faster" in words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  What is   RAG?\n", "What is RAG?"),
        ("What\x00 is\x1b[2J RAG?\x1b]0;title\x07", "What is RAG?"),
        ("zero\u200bwidth \u202ereversed\u202c", "zerowidth reversed"),
        ("tab\tand\r\nnewline", "tab and newline"),
        ("naïve Bayes 日本語 Ω", "naïve Bayes 日本語 Ω"),
    ],
)
def test_clean_question_removes_control_and_format_characters(raw: str, expected: str) -> None:
    assert clean_question(raw) == (expected, "")


def test_clean_question_cuts_at_a_word_boundary_with_a_note() -> None:
    question, note = clean_question("word " * 1000)
    assert len(question) <= MAX_QUESTION_CHARS and question.endswith("word")
    assert note == f"The question was cut to its first {len(question):,} characters (at most 2,000 are read)."
    assert clean_question("x" * 2500)[0] == "x" * 2000  # no space to cut at
    assert clean_question("word " * 1000, limit=None)[1] == ""


@pytest.mark.parametrize("blank", ["", "   ", "\x00\x01", "\u200b\u200d\ufeff", "\ud800"])
def test_blank_questions_are_empty_question_errors(blank: str) -> None:
    with pytest.raises(EmptyQuestion, match="the question is empty"):
        clean_question(blank)
