"""Result: what one question produced, as the chain hands it to every door (CLI, UI, API, evals).

``Retrieved`` is the first stages' result (the question as read, ranked sources, evidence, the
coverage decision); ``Answer`` adds the checked sentences. Both serialise to the same keys
(``as_dict``), with ``coverage`` = "answered" | "closest" | "none" and ``abstained`` = coverage is
not "answered".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.abstain import Decision
from assistant.evidence import Evidence
from assistant.query import Query
from assistant.retrieve import Retrieval, Source
from assistant.verify import AnswerSentence

__all__ = ["Answer", "Retrieved", "render"]


@dataclass
class Retrieved:
    """The first stages for one question: the question as read, ranked sources, their evidence, the
    coverage decision. ``decision`` is None when evidence was not asked for (ranking-only benchmarks)."""

    retrieval: Retrieval
    evidence: list[Evidence]
    decision: Decision | None
    query: Query | None = None
    matching: int | None = None  # "how many papers": the papers holding every topic word, collection-wide

    @property
    def sources(self) -> list[Source]:
        return self.retrieval.sources

    @property
    def coverage(self) -> str | None:
        """ "answered" | "closest" | "none", or None when no decision was made (ranking only)."""
        return self.decision.coverage if self.decision else None

    @property
    def abstain(self) -> bool:
        return self.decision is not None and self.decision.abstain

    @property
    def relevance(self) -> float:
        return self.decision.relevance if self.decision else self.retrieval.top_similarity

    @property
    def timings(self) -> dict[str, float]:
        return self.retrieval.timings

    @property
    def dates(self) -> list[str] | None:
        return self.query.dates if self.query else None

    @property
    def note(self) -> str:
        return self.query.note if self.query else ""

    @property
    def translation(self) -> str | None:
        return self.query.translation if self.query else None

    @property
    def question(self) -> str:
        return self.query.asked if self.query else self.retrieval.query

    def as_dict(self) -> dict[str, Any]:
        """``ask --retrieve-only --json``: the same keys as ``Answer.as_dict``, with no answer."""
        return {
            "question": self.question,
            "answer": None,
            "coverage": self.coverage,
            "citations": [],
            "sources": [s.as_dict() for s in self.sources],
            "sentences": [],
            "abstained": self.abstain,
            "mode": "retrieve-only",
            "model": None,
            "timings": {**self.timings, "generate_ms": 0.0},
            "removed_citations": [],
            "error": None,
            "abstention": self.decision.as_dict() if self.decision else None,
            "dates": self.dates,
            "note": self.note,
            "translation": self.translation,
            "intent": self.query.intent if self.query else None,
            "preamble": "",
        }


@dataclass
class Answer:
    question: str
    answer: str
    sources: list[Source]
    sentences: list[AnswerSentence]
    abstained: bool
    mode: str
    model: str
    timings: dict[str, float] = field(default_factory=dict)
    removed_citations: list[int] = field(default_factory=list)
    evidence: dict[int, list[str]] = field(default_factory=dict)
    error: str | None = None
    decision: Decision | None = None
    dates: list[str] | None = None
    note: str = ""
    translation: str | None = None
    coverage: str = "answered"  # "answered" | "closest" | "none"
    intent: str = "topic"
    preamble: str = ""  # shown before the sentences: "The closest papers:", "3 papers match …"

    @property
    def citations(self) -> list[dict[str, Any]]:
        cited = sorted({n for s in self.sentences for n in s.citations})
        by_n = {s.n: s for s in self.sources}
        return [{"n": n, "title": by_n[n].title, "paper_id": by_n[n].paper_id} for n in cited if n in by_n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "coverage": self.coverage,
            "citations": self.citations,
            "sources": [s.as_dict() for s in self.sources],
            "sentences": [s.as_dict() for s in self.sentences],
            "abstained": self.abstained,
            "mode": self.mode,
            "model": self.model,
            "timings": {"generate_ms": 0.0, **self.timings},  # 0 when no model ran (abstain, extract)
            "removed_citations": self.removed_citations,
            "error": self.error,
            "abstention": self.decision.as_dict() if self.decision else None,
            "dates": self.dates,
            "note": self.note,
            "translation": self.translation,
            "intent": self.intent,
            "preamble": self.preamble,
        }


def render(sentence: AnswerSentence) -> str:
    """One checked sentence as text: its lead (a paper's name in a list), the text, its marks."""
    marks = "".join(f"[{n}]" for n in sentence.citations)
    text = sentence.text.rstrip()
    lead = f"{sentence.lead} — " if sentence.lead else ""
    if not marks:
        return lead + text
    end = text[-1] if text and text[-1] in ".!?" else "."
    body = text[:-1] if text and text[-1] in ".!?" else text
    return f"{lead}{body} {marks}{end}"
