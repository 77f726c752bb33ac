"""Decide abstention: does the collection cover the question well enough to answer at all?

Decided from retrieval, never by the language model (small models answer off-topic sources
confidently). The signal is ``relevance``: the mean of the best shown chunk's cosine similarity
and the best evidence sentence's score among the top papers; sentence-level evidence separates
near-miss questions (same field, absent topic) far better than chunk similarity alone. Below
``retrieval.abstain_below`` (0.54, calibrated on the dev questions: README) the answer abstains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.evidence import Evidence


@dataclass(frozen=True)
class Decision:
    """``abstain``: refuse to answer; ``relevance`` in [0, ~1.3]; ``reason``: one line for the user."""

    abstain: bool
    relevance: float
    threshold: float
    reason: str


def relevance(top_similarity: float, evidence: list[Evidence], papers: int = 3) -> float:
    """0.5 x best chunk cosine similarity + 0.5 x best evidence-sentence score of the top ``papers``."""
    best_sentence = max((ev.best for ev in evidence[:papers]), default=0.0)
    return 0.5 * top_similarity + 0.5 * best_sentence


def decide(top_similarity: float, evidence: list[Evidence], threshold: float) -> Decision:
    """Abstain when nothing was retrieved or the relevance is below ``threshold``."""
    if not evidence:
        return Decision(True, 0.0, threshold, "no paper was retrieved")
    score = relevance(top_similarity, evidence)
    if score < threshold:
        return Decision(True, score, threshold, f"relevance {score:.3f} is below retrieval.abstain_below {threshold}")
    return Decision(False, score, threshold, "")
