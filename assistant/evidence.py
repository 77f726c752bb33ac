"""Pick the few sentences of each retrieved paper that bear on the question.

Small models copy or ignore long abstracts; a handful of relevant sentences per paper keeps the
prompt short on a CPU and gives the citation check something precise to check against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.support import content_words, split_sentences

if TYPE_CHECKING:
    from assistant.embedding import QueryEncoder
    from assistant.retrieve import Source


@dataclass
class Evidence:
    source: Source
    sentences: list[str]  # in abstract order
    scores: list[float]  # relevance of each sentence to the question, same order

    @property
    def best(self) -> float:
        return max(self.scores, default=0.0)


def select_evidence(question: str, sources: list[Source], encoder: QueryEncoder, per_paper: int) -> list[Evidence]:
    """Score every abstract sentence by embedding similarity plus word overlap with the question."""
    import numpy as np

    split = [split_sentences(s.abstract) or [s.abstract] for s in sources]
    flat = [sent for sents in split for sent in sents]
    if not flat:
        return []
    vectors = encoder.encode_many([question, *flat])
    sims = vectors[1:] @ vectors[0]
    q_words = set(content_words(question))
    chosen: list[Evidence] = []
    offset = 0
    for source, sents in zip(sources, split, strict=True):
        scores = []
        for i, sent in enumerate(sents):
            overlap = len(q_words & set(content_words(sent))) / max(len(q_words), 1)
            scores.append(float(sims[offset + i]) + 0.3 * overlap)
        offset += len(sents)
        keep = sorted(np.argsort(scores)[::-1][:per_paper].tolist())
        chosen.append(Evidence(source, [sents[i] for i in keep], [scores[i] for i in keep]))
    return chosen
