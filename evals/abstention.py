"""Abstention on questions nobody tuned on: answerable, unanswerable, and leave-out near misses.

A leave-out near miss is an answerable question asked with every one of its gold papers masked
out of retrieval (``AnswerChain.retrieve(exclude=...)``): the rest of the collection is exactly
what a question about a paper the collection lacks meets, so the right behaviour is to refuse.
Masking drops the papers from every ranking and from the term statistics the lexical signal uses;
the calibration stored with the index was fitted with them present (they are ~1% of it).

For a question file every answerable question is asked twice (present, then masked). For a BEIR
folder (issue: "calibrated per collection") the judged queries are split in two halves by a seeded
shuffle: the first half is asked with its relevant documents masked, the second as it is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from assistant.answer import AnswerChain
    from evals.questions import Question


@dataclass(frozen=True)
class Row:
    id: str
    kind: str  # "answerable" | "unanswerable" | "near_miss"
    abstained: bool
    score: float
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "abstained": self.abstained,
            "score": round(self.score, 4),
            "threshold": round(self.threshold, 4),
        }


def leave_out_rows(
    chain: AnswerChain,
    questions: list[Question],
    gold_of: Callable[[Question], list[str]],
    *,
    halves: bool = False,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[Row]:
    """Ask each question as the module docstring says; ``halves`` for BEIR sets. An answerable
    question none of whose gold papers is indexed is skipped."""
    masked_ids: set[str] = set()
    if halves:
        order = [q.id for q in questions if q.answerable]
        random.Random(seed).shuffle(order)
        masked_ids = set(order[: len(order) // 2])
    rows = []
    for q in questions:
        gold = [g for g in gold_of(q) if not g.startswith(("missing:", "unindexed:"))]
        if q.answerable and not gold:  # its papers are not in the index: neither answerable nor maskable
            continue
        plan: list[tuple[str, list[str]]] = []
        if not q.answerable:
            plan.append(("unanswerable", []))
        elif halves:
            plan.append(("near_miss", gold) if q.id in masked_ids else ("answerable", []))
        else:
            plan += [("answerable", []), ("near_miss", gold)]
        for kind, exclude in plan:
            decision = chain.retrieve(q.question, exclude=exclude).decision
            assert decision is not None
            rows.append(Row(q.id, kind, decision.abstain, decision.relevance, decision.threshold))
        if progress:
            progress(1)
    return rows


def summarise(rows: list[Row]) -> dict[str, Any]:
    """Refusal rate and count per kind: ``answerable`` is the error to keep low, the others high."""
    out: dict[str, Any] = {}
    for kind in ("answerable", "unanswerable", "near_miss"):
        group = [r for r in rows if r.kind == kind]
        out[kind] = {
            "questions": len(group),
            "refused": sum(r.abstained for r in group),
            "refused_rate": round(sum(r.abstained for r in group) / len(group), 4) if group else None,
        }
    return out
