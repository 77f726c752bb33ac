"""Rerank: the fused top ``rerank_depth`` papers read against the question by our relevance cross-encoder.

Fusion (``assistant.retrieve``) orders papers by how their vectors and words match the question;
a cross-encoder reads the question and the paper's title and abstract together (Nogueira & Cho,
2019, "Passage Re-ranking with BERT"). Ours is trained here (``training/``, docs/models.md) and
shipped as an int8 ONNX file, run by ``assistant.crossencoder``.

The final order of the top ``depth`` is a convex combination of the two, each z-normalised over
those ``depth`` papers (the way fusion combines dense and BM25)::

    combined = (1 - weight) * z(fused score) + weight * z(cross-encoder logit)

so ``weight`` 0 is fusion alone and 1 the cross-encoder alone; papers below ``depth`` keep
fusion's order after them. ``weight`` and ``depth`` were chosen on SciFact train and realistic dev
(docs/models.md, "Reranking"). Each reranked paper also gets its probability of relevance (the sigmoid of
the logit), which the coverage decision reads (``assistant.abstain.signals``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.crossencoder import CrossEncoder, passage_text

if TYPE_CHECKING:
    from assistant.settings import RetrievalSettings


def zscores(values: list[float]) -> list[float]:
    """``(v - mean) / std`` over ``values`` (population std; all zeros when they are all equal)."""
    if not values:
        return []
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / std if std > 0 else 0.0 for v in values]


def combine(fused: list[float], logits: list[float], weight: float) -> list[int]:
    """Positions ``0..n-1`` ordered best first by ``(1 - weight) * z(fused) + weight * z(logits)``
    (ties keep fusion's order). ``fused`` and ``logits`` have the same length ``n``."""
    if len(fused) != len(logits):
        raise ValueError(f"{len(fused)} fused scores but {len(logits)} logits")
    zf, zl = zscores(fused), zscores(logits)
    combined = [(1 - weight) * a + weight * b for a, b in zip(zf, zl, strict=True)]
    return sorted(range(len(fused)), key=lambda i: (-combined[i], i))


@dataclass(frozen=True)
class Reranked:
    """``order``: positions into the candidates, best first (length ``depth``, or fewer when fewer
    were given); ``relevance``: paper id -> probability in [0, 1]; ``ms``: time spent scoring."""

    order: list[int]
    relevance: dict[str, float]
    ms: float


class Reranker:
    """The relevance cross-encoder and the settings that say how deep and how much it reorders."""

    def __init__(self, settings: RetrievalSettings, model: CrossEncoder | None = None) -> None:
        self.depth = settings.rerank_depth
        self.weight = settings.rerank_weight
        self.model = model or CrossEncoder.load("relevance")

    def rerank(
        self, query: str, papers: list[tuple[str, str, str, float]], cache: dict[tuple[str, str], float] | None = None
    ) -> Reranked:
        """Rerank ``papers``: ``(paper id, title, abstract, fused score)`` best first; only the first
        ``depth`` are read. ``cache``: (query, paper id) -> logit, read and filled (calibration asks
        each pseudo-question twice, with its paper present and masked, over nearly the same papers)."""
        head = papers[: self.depth]
        started = time.perf_counter()
        cache = {} if cache is None else cache
        todo = [(pid, t, a) for pid, t, a, _ in head if (query, pid) not in cache]
        if todo:
            fresh = self.model.logits([(query, passage_text(t, a)) for _, t, a in todo])
            cache.update({(query, pid): float(x) for (pid, _, _), x in zip(todo, fresh, strict=True)})
        logits = [cache[(query, pid)] for pid, *_ in head]
        order = combine([f for *_, f in head], logits, self.weight)
        relevance = {
            pid: 1.0 / (1.0 + math.exp(-max(min(x, 50.0), -50.0))) for (pid, *_), x in zip(head, logits, strict=True)
        }
        return Reranked(order, relevance, (time.perf_counter() - started) * 1000)
