"""The ONNX query encoder (no torch on the query path) against sentence-transformers, which embeds
everything stored at ingest: the two must agree, or queries would search a different space."""

from __future__ import annotations

import numpy as np

from assistant.embedding import QueryEncoder, encode, load_model
from assistant.settings import Settings
from tests.index_helpers import synthetic_papers

LONG = " ".join(["Retrieval-augmented generation grounds a language model in retrieved passages."] * 40)
ODD = [
    "Über die Stabilität von Diffusionsmodellen für Bildsynthese",
    "基于图神经网络的分子性质预测",
    "Обучение с подкреплением для роботов",
    "GPT-4 scores 86.4% on MMLU (5-shot); Llama-2-70B scores 68.9%.",
    "emoji 🤖 and math ∑ ∀ ∃ ⊗ and accents naïve café",
    "a",
    LONG,
    LONG + " " + LONG,  # far past the 256-token limit: both truncate the same way
]


def test_onnx_query_encoder_matches_sentence_transformers() -> None:
    settings = Settings()
    texts = ODD + [f"{p['title']}. {p['abstract']}" for p in synthetic_papers(110, seed=5)]
    assert len(texts) >= 100
    reference = encode(load_model(settings.embedding.model, settings.cache), texts, 16)
    ours = QueryEncoder(settings.embedding.model, settings.cache).encode_many(texts)
    cosines = np.sum(reference * ours, axis=1) / (np.linalg.norm(reference, axis=1) * np.linalg.norm(ours, axis=1))
    assert cosines.min() > 0.9999, [(texts[i][:40], float(cosines[i])) for i in np.argsort(cosines)[:3]]


def test_int8_document_encoder_stays_close_and_its_parallel_sessions_change_nothing() -> None:
    """The default ingest backend (onnx-int8): close to sentence-transformers on every text (SciFact
    test nDCG@10 0.739 against 0.738 for torch, docs/evaluation.md: Ingest), and bit-identical whether its batches
    run on one session or several (a vector depends only on its batch)."""
    from assistant.embedding import DocumentEncoder

    settings = Settings()
    texts = ODD + [f"{p['title']}. {p['abstract']}" for p in synthetic_papers(150, seed=6)]
    reference = encode(load_model(settings.embedding.model, settings.cache), texts, 16)
    one = DocumentEncoder(settings.embedding.model, settings.cache, "onnx-int8", 16, workers=1).encode(texts)
    two = DocumentEncoder(settings.embedding.model, settings.cache, "onnx-int8", 16, workers=2).encode(texts)
    assert one.shape == reference.shape and np.array_equal(one, two)
    cosines = np.sum(reference * one, axis=1)
    assert cosines.min() > 0.97 and cosines.mean() > 0.99, float(cosines.min())
