"""Typed words read as the collection's words (assistant.spelling), and what must never be "corrected"."""

from __future__ import annotations

import pytest

from assistant.spelling import corrections, edits1
from assistant.text import stemmer

# a collection's BM25 terms (stems) and how many chunks hold each: the shape PaperIndex.chunks_with has
CHUNKS = {
    stemmer().stemWord(w): n
    for w, n in {
        "speculative": 9, "decoding": 30, "continual": 12, "prompts": 20, "retrieval": 40, "generation": 50,
        "models": 300, "quantization": 10, "quick": 3, "boost": 4, "fewer": 25, "strict": 6, "diffusion": 60,
    }.items()
}  # fmt: skip


def chunks_with(term: str) -> int:
    return CHUNKS.get(term, 0)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("speculativ decodng", {"speculativ": "speculative", "decodng": "decoding"}),
        ("contiual learning with promts", {"contiual": "continual", "promts": "prompts"}),
        ("retreival augmented generaton", {"retreival": "retrieval", "generaton": "generation"}),
        ("difusion modles", {"difusion": "diffusion", "modles": "models"}),  # a common word among one stem's
        ("quantisation of weights", {"quantisation": "quantization"}),  # British spelling
    ],
)
def test_a_slip_of_typing_is_read_as_the_collections_word(typed: str, read: dict[str, str]) -> None:
    assert corrections(typed, chunks_with) == read


@pytest.mark.parametrize(
    "typed",
    [
        "What is the quickest way?",  # an inflection the stemmer keeps whole, of a word the collection has
        "Are mRNA boosters effective?",
        "federated learning on a struct",  # absent words one *replaced* letter from others: never read so
        "sourdough bread starter",  # common English words the collection lacks
        "Provers for Coq and GPTQ",  # names: capitalised or acronyms
        "spec decod",  # too short to guess
    ],
)
def test_what_is_not_a_typo_stays_as_typed(typed: str) -> None:
    assert corrections(typed, chunks_with) == {}


def test_a_candidate_the_collection_never_writes_is_not_a_reading() -> None:
    """The second review's case: "logits" read as "logists", a stem only "logistic" gives."""
    chunks = {**CHUNKS, stemmer().stemWord("logists"): 7}

    def written(word: str) -> bool:  # the collection writes "logistic", never "logist" or "logists"
        return not word.startswith("logist")

    assert corrections("temperature scaling of logits", lambda t: chunks.get(t, 0), written) == {}
    assert corrections("speculativ decodng", chunks_with, written) == {
        "speculativ": "speculative",
        "decodng": "decoding",
    }


def test_edits_are_slips_of_typing() -> None:
    assert {"decoding", "speculative"} <= edits1("decodng") | edits1("speculativ")
    assert "speculative" in edits1("specualtive") and "speculative" in edits1("speculattive")
    assert "strict" not in edits1("struct")  # no replaced letter


def test_a_misspelt_question_is_answered_with_a_note(corpus_index) -> None:  # type: ignore[no-untyped-def]
    from assistant.answer import AnswerChain

    settings, _ = corpus_index
    retrieved = AnswerChain(settings).retrieve("speculativ decodng")
    assert retrieved.coverage == "answered", retrieved.decision
    assert "speculative" in retrieved.sources[0].title.lower() or "draft" in retrieved.sources[0].title.lower()
    assert "Read 'speculativ' as 'speculative', 'decodng' as 'decoding'." in retrieved.note
    for real in ("temperature scaling of logits", "tutorials for beginners on transformers"):
        assert "Read '" not in AnswerChain(settings).retrieve(real).note, real
