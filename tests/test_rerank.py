"""Reranking the fused papers with the shipped relevance cross-encoder (assistant.rerank), and its
place in retrieval: the order it gives, the probabilities it hands to the coverage decision."""

from __future__ import annotations

import math

import pytest

from assistant.rerank import Reranker, combine, zscores
from assistant.settings import load_settings


def test_zscores_are_standardised_and_flat_input_gives_zeros() -> None:
    z = zscores([1.0, 2.0, 3.0])
    assert math.isclose(sum(z), 0.0, abs_tol=1e-12)
    assert math.isclose(sum(v * v for v in z) / 3, 1.0)
    assert zscores([4.0, 4.0]) == [0.0, 0.0]
    assert zscores([]) == []


def test_combine_weights_move_from_fusion_to_the_cross_encoder() -> None:
    fused = [3.0, 2.0, 1.0]
    logits = [-2.0, 0.0, 5.0]
    assert combine(fused, logits, 0.0) == [0, 1, 2]
    assert combine(fused, logits, 1.0) == [2, 1, 0]
    # halfway: z(fused) = (1.22, 0, -1.22), z(logits) = (-0.98, -0.39, 1.37) -> 0.12, -0.20, 0.07
    assert combine(fused, logits, 0.5) == [0, 2, 1]


def test_combine_keeps_fusion_order_on_ties_and_rejects_mismatched_lengths() -> None:
    assert combine([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], 0.5) == [0, 1, 2]
    with pytest.raises(ValueError, match="2 fused scores but 3 logits"):
        combine([1.0, 2.0], [0.0, 0.0, 0.0], 0.5)


PAPERS = [
    # (id, title, abstract, fused score): fusion puts the off-topic paper first
    (
        "off",
        "Contrastive Learning for Sentence Embeddings",
        "We learn sentence embeddings with a contrastive objective over augmented pairs of sentences.",
        2.0,
    ),
    (
        "on",
        "Speculative Decoding for Faster LLM Inference",
        "A small draft model proposes several tokens that the large language model verifies in one forward "
        "pass, which speeds up inference two to three times without changing the output distribution.",
        1.0,
    ),
]


def test_the_real_model_lifts_the_paper_that_answers() -> None:
    settings = load_settings(retrieval={"rerank_depth": 20, "rerank_weight": 1.0})
    reranker = Reranker(settings.retrieval)
    done = reranker.rerank("How can inference of large language models be made faster?", PAPERS)
    assert done.order == [1, 0]
    assert done.relevance["on"] > done.relevance["off"]
    assert all(0.0 <= p <= 1.0 for p in done.relevance.values())


def test_cache_is_read_and_filled_and_depth_bounds_the_work() -> None:
    settings = load_settings(retrieval={"rerank_depth": 1, "rerank_weight": 1.0})
    reranker = Reranker(settings.retrieval)
    cache: dict[tuple[str, str], float] = {}
    done = reranker.rerank("speeding up LLM inference", PAPERS, cache)
    assert list(done.relevance) == ["off"] and list(cache) == [("speeding up LLM inference", "off")]
    cache[("speeding up LLM inference", "off")] = 9.0  # a cached logit is used as it is
    again = reranker.rerank("speeding up LLM inference", PAPERS, cache)
    assert again.relevance["off"] == pytest.approx(1 / (1 + math.exp(-9.0)))
