"""Extract: the cited extractive answer, the fallback when no generated sentence survives the checks.

The answer is the evidence sentences themselves, best first, each cited to its paper, rewritten
from the authors' "we" into "the authors". It is also what ``auto`` mode answers when the model
fails (the error is still reported).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant.verify import AnswerSentence, evidence_text

if TYPE_CHECKING:
    from assistant.evidence import Evidence
    from assistant.support import SupportScorer


def third_person(sentence: str) -> str:
    """Abstract sentences speak as "we"; an answer quoting them reads better as "the authors"."""
    out = re.sub(r"^(In this (?:paper|work),?\s+)?[Ww]e\b", lambda m: (m.group(1) or "") + "the authors", sentence)
    out = re.sub(r"\b([Oo]ur)\b", "their", out)
    out = re.sub(r"(?<=[,;:] )we\b|(?<= and )we\b", "they", out)
    return out[0].upper() + out[1:] if out else out


def extract(evidence: list[Evidence], scorer: SupportScorer) -> list[AnswerSentence]:
    """The best two sentences of the first paper and the best one of each other paper, in that
    order, each cited to its paper and scored (heuristic support) against it."""
    sentences: list[AnswerSentence] = []
    for ev in evidence:
        ranked = sorted(zip(ev.scores, ev.sentences, strict=True), reverse=True)
        take = 2 if not sentences else 1
        for _, text in ranked[:take]:
            prose = third_person(text)
            support = scorer.score(prose, [evidence_text(ev.source.title, ev.source.abstract)])
            sentences.append(AnswerSentence(prose, [ev.source.n], support, False, "extracted"))
    return sentences
