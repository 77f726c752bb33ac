"""Question sets: the project's JSONL format, one question per line.

``{"id", "question", "gold_titles": [...], "answer", "kind": single|multi|unanswerable}``, optionally
with ``"style"`` (how the question is phrased: paraphrase, short, near-miss, off-topic, ...) and
``"split"`` (dev | test: one file may hold both halves, ``load_questions(split=...)`` picks one). Gold
is given by title because titles are what a person writing questions sees; the run maps them to
paper ids through the index. BEIR sets (evals/beir.py) give gold as document ids instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputError

KINDS = ("single", "multi", "unanswerable")


@dataclass
class Question:
    id: str
    question: str
    gold_titles: list[str] = field(default_factory=list)
    gold_docs: list[str] = field(default_factory=list)  # BEIR document ids
    answer: str | None = None
    kind: str = "single"
    style: str | None = None  # phrasing group of the realistic set; None when the file has none
    split: str | None = None  # dev | test when the file carries both halves

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


def load_questions(path: Path, split: str | None = None) -> list[Question]:
    """Read and validate a question file; any bad line is an InputError naming file and line.

    With ``split``, only the questions whose ``split`` field equals it are returned; a split no
    question has is an InputError naming the file and the splits it does have.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read questions {path}: {exc.strerror or exc}") from exc
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: malformed JSON: {exc.msg}") from exc
        if not isinstance(record, dict):
            raise InputError(f"{where}: a question must be a JSON object")
        qid, text_, gold = record.get("id"), record.get("question"), record.get("gold_titles", [])
        kind = record.get("kind") or ("unanswerable" if not gold else "multi" if len(gold) > 1 else "single")
        if not isinstance(qid, str) or not qid:
            raise InputError(f"{where}: missing string 'id'")
        if qid in seen:
            raise InputError(f"{where}: duplicate id {qid!r}")
        if not isinstance(text_, str) or not text_.strip():
            raise InputError(f"{where}: missing 'question' text")
        if not isinstance(gold, list) or not all(isinstance(t, str) for t in gold):
            raise InputError(f"{where}: 'gold_titles' must be a list of strings")
        if kind not in KINDS:
            raise InputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
        if kind == "unanswerable" and gold:
            raise InputError(f"{where}: an unanswerable question cannot have gold titles")
        style, split_ = record.get("style"), record.get("split")
        for name, value in (("style", style), ("split", split_)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError(f"{where}: {name!r} must be a non-empty string")
        seen.add(qid)
        questions.append(Question(qid, text_.strip(), list(gold), [], record.get("answer"), kind, style, split_))
    if not questions:
        raise InputError(f"no questions in {path}")
    if split is None:
        return questions
    chosen = [q for q in questions if q.split == split]
    if not chosen:
        present = sorted({q.split for q in questions if q.split})
        has = f"its splits are {', '.join(present)}" if present else "no question in it has a 'split' field"
        raise InputError(f"no questions in split {split!r} in {path}: {has}")
    return chosen
