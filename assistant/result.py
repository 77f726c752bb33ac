"""Result: what one question produced, as the chain hands it to every door (CLI, UI, API, evals).

``Retrieved`` is the first stages' result (the question as read, ranked sources, evidence, the
coverage decision); ``Answer`` adds the checked sentences. The fields of ``Answer`` are the one
definition of what a result says: ``Answer.as_dict`` is built from them (:func:`fields_json`), and
``Retrieved.as_dict`` is the same for its retrieve-only ``Answer`` (:meth:`Retrieved.as_answer`),
with ``coverage`` = "answered" | "closest" | "none" and ``abstained`` = coverage is not "answered".

:class:`AnswerStream` is the one reader of ``AnswerChain.stream`` (text pieces, then the Answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from assistant.abstain import Decision
from assistant.evidence import Evidence
from assistant.query import Query
from assistant.retrieve import Retrieval, Source
from assistant.verify import AnswerSentence

__all__ = ["Answer", "AnswerStream", "IncompleteStream", "Retrieved", "fields_json", "read_answer", "render"]

NOT_SHOWN: dict[str, Any] = {"json": None}  # field metadata: kept out of the JSON


def json_value(value: Any) -> Any:
    """``value`` as JSON data: an object by its ``as_dict``, lists and dicts item by item."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


def fields_json(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as JSON data, in declaration order: each under its name, or under the
    name its ``metadata["json"]`` gives (None: left out)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        key = f.metadata.get("json", f.name)
        if key is not None:
            out[key] = json_value(getattr(obj, f.name))
    return out


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

    def as_answer(self) -> Answer:
        """The retrieve-only result as an ``Answer``: no answer text, no sentences, no model, mode
        "retrieve-only"; its sources, decision, dates, note and translation."""
        return Answer(
            question=self.question,
            answer=None,
            sources=self.sources,
            sentences=[],
            abstained=self.abstain,
            mode="retrieve-only",
            model=None,
            timings=dict(self.timings),
            decision=self.decision,
            dates=self.dates,
            note=self.note,
            translation=self.translation,
            coverage=self.coverage,
            intent=self.query.intent if self.query else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """``ask --retrieve-only --json``: ``Answer.as_dict`` of :meth:`as_answer`."""
        return self.as_answer().as_dict()


@dataclass
class Answer:
    """One checked answer. Its fields are what ``ask --json`` prints (:meth:`as_dict`), in this order,
    ``decision`` as ``abstention`` and ``evidence`` left out, with ``citations`` (computed) after them.

    ``answer`` and ``model`` are None only for a retrieve-only result (``Retrieved.as_answer``), as
    ``coverage`` and ``intent`` are when no decision was made. ``timings`` holds times in ms only
    (``generate_ms`` is 0 when no model ran); ``diagnostics`` what else the chain measured:
    ``relevance`` (the calibrated coverage score), ``fallback`` (True: auto mode answered by
    extracting because no model sentence survived) and ``raw_answer_chars`` (the model's reply).
    """

    question: str
    answer: str | None
    sources: list[Source]
    sentences: list[AnswerSentence]
    abstained: bool
    mode: str
    model: str | None
    timings: dict[str, float] = field(default_factory=dict)
    removed_citations: list[int] = field(default_factory=list)
    evidence: dict[int, list[str]] = field(default_factory=dict, metadata=NOT_SHOWN)
    error: str | None = None
    decision: Decision | None = field(default=None, metadata={"json": "abstention"})
    dates: list[str] | None = None
    note: str = ""
    translation: str | None = None
    coverage: str | None = "answered"  # "answered" | "closest" | "none"
    intent: str | None = "topic"
    preamble: str = ""  # shown before the sentences: "The closest papers:", "3 papers match …"
    diagnostics: dict[str, float | int | bool] = field(default_factory=dict)

    @property
    def citations(self) -> list[dict[str, Any]]:
        cited = sorted({n for s in self.sentences for n in s.citations})
        by_n = {s.n: s for s in self.sources}
        return [{"n": n, "title": by_n[n].title, "paper_id": by_n[n].paper_id} for n in cited if n in by_n]

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON data (:func:`fields_json`) and ``citations``: [{"n", "title", "paper_id"}]."""
        payload = fields_json(self)
        payload["timings"] = {"generate_ms": 0.0, **self.timings}  # 0 when no model ran (abstain, extract)
        payload["citations"] = self.citations
        return payload


class IncompleteStream(RuntimeError):
    """An answer stream ended without its ``Answer`` (a bug in the chain, never the user's doing)."""


class AnswerStream:
    """``AnswerChain.stream`` read to its ``Answer``: the one loop over an answer stream.

    Iterating yields the text pieces (each verified piece as it is accepted, and "" for every token
    the model writes: a point where a consumer may stop) and stops at the ``Answer``, which is then
    :attr:`answer`; it raises IncompleteStream if the stream ends without one. :meth:`close` (for
    ``contextlib.closing``) closes the chain's generator, which closes the LLM stream."""

    def __init__(self, items: Iterator[str | Answer]) -> None:
        self._items = items
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for item in self._items:
            if isinstance(item, Answer):
                self._answer = item
                return
            yield item
        raise IncompleteStream("the answer stream ended without an Answer")

    @property
    def answer(self) -> Answer:
        """The Answer, once the stream has been read to it (IncompleteStream before)."""
        if self._answer is None:
            raise IncompleteStream("the answer stream has not been read to its Answer")
        return self._answer

    def close(self) -> None:
        """Close the stream (a generator's ``close``: its ``with`` blocks end, the LLM stream with them)."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


def read_answer(items: Iterator[str | Answer], on_piece: Callable[[str], object] | None = None) -> Answer:
    """The Answer a stream ends with (:class:`AnswerStream`). ``on_piece`` receives every piece
    before it: a verified piece of text, or "" for a token the model wrote; an exception it raises
    stops the reading and propagates. The stream is closed however the reading ends; one that ends
    without an Answer raises IncompleteStream."""
    stream = AnswerStream(items)
    try:
        for piece in stream:
            if on_piece is not None:
                on_piece(piece)
        return stream.answer
    finally:
        stream.close()


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
