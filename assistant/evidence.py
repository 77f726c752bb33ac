"""Pick the few sentences of each retrieved paper that bear on the question.

Small models copy or ignore long abstracts; a handful of relevant sentences per paper keeps the
prompt short on a CPU and gives the citation check something precise to check against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.injection import addresses_the_model
from assistant.text import content_words, split_sentences

if TYPE_CHECKING:
    import numpy as np

    from assistant.embedding import QueryEncoder
    from assistant.retrieve import Source


@dataclass
class Evidence:
    source: Source
    sentences: list[str]  # in abstract order
    scores: list[float]  # relevance of each sentence to the question, same order
    candidates: list[tuple[float, str]] = field(default_factory=list)  # every sentence, best first

    @property
    def best(self) -> float:
        return max(self.scores, default=0.0)


def select_evidence(
    question: str,
    sources: list[Source],
    encoder: QueryEncoder,
    per_paper: int,
    stored: dict[str, tuple[list[str], np.ndarray]] | None = None,
    query_vector: np.ndarray | None = None,
) -> list[Evidence]:
    """Score every abstract sentence by embedding similarity plus word overlap with the question.

    ``stored`` holds sentence vectors embedded at ingest (``PaperIndex.sentence_vectors``); papers
    missing from it (an index built before sentences were stored) are encoded here instead.
    """
    import numpy as np

    stored = stored or {}
    query = query_vector if query_vector is not None else encoder.encode(question)
    missing = [s for s in sources if s.paper_id not in stored]
    if missing:
        texts = [split_sentences(s.abstract) or [s.abstract] for s in missing]
        vectors = encoder.encode_many([t for sents in texts for t in sents])
        offset = 0
        for source, sents in zip(missing, texts, strict=True):
            stored[source.paper_id] = (sents, vectors[offset : offset + len(sents)])
            offset += len(sents)
    q_words = set(content_words(question))
    chosen: list[Evidence] = []
    for source in sources:
        sents, vectors = stored[source.paper_id]
        usable = [i for i, sent in enumerate(sents) if not addresses_the_model(sent)]
        if len(usable) < len(sents):  # a paper made only of such sentences offers no evidence at all
            sents, vectors = [sents[i] for i in usable], vectors[usable]
        if not sents:
            continue
        sims = vectors @ query
        scores = []
        for i, sent in enumerate(sents):
            overlap = len(q_words & set(content_words(sent))) / max(len(q_words), 1)
            scores.append(float(sims[i]) + 0.3 * overlap)
        keep = sorted(np.argsort(scores)[::-1][:per_paper].tolist())
        ranked = sorted(zip(scores, sents, strict=True), key=lambda p: -p[0])
        chosen.append(Evidence(source, [sents[i] for i in keep], [scores[i] for i in keep], ranked))
    return chosen


def data_sentences(abstract: str) -> str:
    """The abstract without its sentences addressed to an AI reader (``addresses_the_model``): what an
    answer sentence may be supported by ("" when every sentence is one)."""
    sentences = split_sentences(abstract)
    kept = [s for s in sentences if not addresses_the_model(s)]
    return " ".join(kept) if len(kept) < len(sentences) else abstract


# How far (in the fused ranking's units: summed z-scores, ``retrieval.fusion = "zscore"``) a paper may
# trail the best retrieved one and still be drawn on. Chosen on the dev questions (realistic dev and the
# old dev split): of the papers after the first that the sentence margin kept, 40 of 58 on single-paper
# questions were not gold and trailed by more than 3; on multi-paper questions 4 of 59 gold papers did.
SCORE_GAP = 3.0


def prompt_papers(
    evidence: list[Evidence], limit: int, margin: float = 0.15, score_gap: float | None = SCORE_GAP
) -> list[Evidence]:
    """The papers worth showing: retrieval order, capped, and only those whose best evidence
    sentence is nearly as relevant as the best paper's (within ``margin``) and whose fused retrieval
    score trails the best by at most ``score_gap`` (None: any; the rest would be padding to the model)."""
    if not evidence:
        return []
    top = max(ev.best for ev in evidence)
    best_score = max(ev.source.score for ev in evidence)
    gap = float("inf") if score_gap is None else score_gap
    near = [ev for ev in evidence if ev.best >= top - margin and ev.source.score >= best_score - gap]
    return near[:limit]


_LIST_QUESTION = re.compile(
    r"^\s*(?:which|what)\s+(?:\w+\s+){0,2}(?:papers|works|studies|methods|approaches|articles|models|benchmarks)\b"
    r"|^\s*(?:list|name)\b",
    re.I,
)


def lists_papers(question: str) -> bool:
    """A "which papers …" question: its answer is one sentence per relevant paper."""
    return bool(_LIST_QUESTION.search(question))


def short_name(title: str) -> str | None:
    """The name a paper goes by: a title's head before ":" when it is at most three words
    ("Happy: A Debiased …" → "Happy"), else None."""
    head, sep, _ = title.partition(":")
    head = head.strip()
    return head if sep and 0 < len(head.split()) <= 3 and len(head) >= 3 else None


def named_papers(question: str, evidence: list[Evidence]) -> list[Evidence]:
    """Retrieved papers the question names by their short name (whole word, case as written)."""
    out = []
    for ev in evidence:
        name = short_name(ev.source.title)
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", question):
            out.append(ev)
    return out


def answer_papers(question: str, evidence: list[Evidence], limit: int, *, comparing: bool = False) -> list[Evidence]:
    """The papers an answer draws on: those the question names by their short name when it names
    any (a question about CHECK-MAT is about CHECK-MAT, not its neighbours), else
    :func:`prompt_papers` (``comparing``: a comparison question, whose second paper may trail the
    first by any fused score, so no :data:`SCORE_GAP`)."""
    return named_papers(question, evidence) or prompt_papers(
        evidence, limit, score_gap=None if comparing else SCORE_GAP
    )
