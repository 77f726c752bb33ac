"""What a person gets back: answered / closest / none, and whether the answer is useful.

The answer chain reports one of three outcomes per question (issue 22): ``answered``; ``closest``
(the collection may not answer exactly this, here are the closest papers); ``none`` (not covered).
``coverage_of`` reads it from a result's ``as_dict()``: the ``coverage`` key when the chain
provides it, else from ``abstained`` (answered / none; a chain without ``closest``).

Per question rows (evals/run.py) carry ``kind``, ``style``, ``coverage``, ``cites_gold`` and, for
full answer runs, ``content_word_recall`` and ``mode``. ``summarise`` turns them into the report's
``coverage`` and ``answers`` sections and the per-kind and per-style tables:

* answerable → none / answered share, unanswerable → answered share, off-topic → none share;
* answered questions citing a gold paper: over answerable questions whose coverage is
  ``answered`` (retrieval-only runs count the top ``SHOWN_SOURCES`` sources as what is shown);
* reference-answer content-word recall: the share of the reference answer's distinct content
  words (``assistant.text.content_words``: stemmed, stopwords and the field's filler words out)
  found in the produced answer text; a ``none`` outcome produced nothing, so it scores 0;
* prose vs extract: the ``mode`` of answered questions ("generate"/"auto" are model prose,
  "extract"/"auto:extract" the cited extract).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assistant.text import content_words
from evals.metrics import mean

COVERAGES = ("answered", "closest", "none")
SHOWN_SOURCES = 3  # retrieval-only runs: the sources a reply shows, for "cites a gold paper"
OFF_TOPIC = "off-topic"
PROSE_MODES = ("generate", "auto")
EXTRACT_MODES = ("extract", "auto:extract")
# threshold names under "coverage." and "answers." (evals.report.load_thresholds accepts these)
COVERAGE_KEYS = (
    "answerable_none",
    "answerable_closest",
    "answerable_answered",
    "unanswerable_answered",
    "unanswerable_closest",
    "unanswerable_none",
    "off_topic_none",
    "answered_cites_gold",
)
ANSWER_KEYS = ("content_word_recall", "content_word_recall_answered", "prose", "extract")
# columns of the per-kind and per-style tables (also usable as thresholds: "by_style.short.none")
GROUP_KEYS = (
    "answered",
    "closest",
    "none",
    "cites_gold",
    "hit@1",
    "hit@5",
    "recall@10",
    "content_word_recall",
    "prose",
)


def coverage_of(result: Mapping[str, Any]) -> str:
    """The outcome of one result dict (``Answer.as_dict()`` / ``Retrieved.as_dict()`` or a row).

    Prefers the ``coverage`` key when present; otherwise ``abstained`` gives "none", else "answered".
    Raises ValueError for a ``coverage`` value outside ``COVERAGES``.
    """
    value = result.get("coverage")
    if value is None:
        return "none" if result.get("abstained") else "answered"
    if value not in COVERAGES:
        raise ValueError(f"coverage must be one of {', '.join(COVERAGES)}, not {value!r}")
    return str(value)


def content_word_recall(reference: str | None, produced: str | None) -> float | None:
    """Share of the reference's distinct content words that appear in ``produced``, in [0, 1].

    None when the reference has no content word (an unanswerable question's empty answer).
    """
    wanted = set(content_words(reference or ""))
    if not wanted:
        return None
    found = set(content_words(produced or ""))
    return len(wanted & found) / len(wanted)


def shows_gold(retrieved_ids: Sequence[str], gold: Iterable[str], shown: int = SHOWN_SOURCES) -> bool | None:
    """Whether a gold paper is among the first ``shown`` sources; None without gold."""
    gold = set(gold)
    if not gold:
        return None
    return bool(gold & set(retrieved_ids[:shown]))


def _share(rows: Sequence[Mapping[str, Any]], test: Any) -> float | None:
    return mean(float(bool(test(r))) for r in rows) if rows else None


def _cites_gold(answered: Sequence[Mapping[str, Any]]) -> float | None:
    """Over answered answerable rows; an answered row whose ``cites_gold`` is None cited nothing."""
    return _share(answered, lambda r: r.get("cites_gold"))


def group_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One line of the per-kind / per-style table: ``questions`` and each of ``GROUP_KEYS``."""
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    answered = [r for r in rows if r["coverage"] == "answered"]
    recalls = [r["content_word_recall"] for r in rows if r.get("content_word_recall") is not None]
    moded = [r for r in answered if r.get("mode") is not None and r.get("mode") != "retrieve-only"]
    return {
        "kind": "/".join(dict.fromkeys(r["kind"] for r in rows)),
        "questions": len(rows),
        **{c: _share(rows, lambda r, c=c: r["coverage"] == c) for c in COVERAGES},
        "cites_gold": _cites_gold([r for r in answered if r["kind"] != "unanswerable"]),
        "hit@1": mean(r["hit@1"] for r in answerable if r["kind"] == "single" and r.get("hit@1") is not None),
        "hit@5": mean(r["hit@5"] for r in answerable if r["kind"] == "single" and r.get("hit@5") is not None),
        "recall@10": mean(
            r["recall@10"] for r in answerable if r["kind"] == "multi" and r.get("recall@10") is not None
        ),
        "content_word_recall": mean(recalls),
        "prose": _share(moded, lambda r: r["mode"] in PROSE_MODES),
    }


def summarise(rows: Sequence[Mapping[str, Any]], *, answers: bool, cites_gold_from: str) -> dict[str, Any]:
    """The report's ``coverage``, ``answers``, ``by_kind``, ``by_style`` and ``overall`` sections.

    ``answers``: a full answer run (content-word recall and modes are measured), else retrieval-only.
    """
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    off_topic = [r for r in rows if r.get("style") == OFF_TOPIC]
    answered = [r for r in answerable if r["coverage"] == "answered"]
    coverage: dict[str, Any] = {"answerable": len(answerable), "unanswerable": len(unanswerable)}
    for name, group in (("answerable", answerable), ("unanswerable", unanswerable)):
        for outcome in COVERAGES:
            coverage[f"{name}_{outcome}"] = _share(group, lambda r, o=outcome: r["coverage"] == o)
    coverage["off_topic"] = len(off_topic)
    coverage["off_topic_none"] = _share(off_topic, lambda r: r["coverage"] == "none")
    coverage["answered_cites_gold"] = _cites_gold(answered)
    coverage["answered_scored"] = len(answered)
    coverage["cites_gold_from"] = cites_gold_from
    section: dict[str, Any] = {"measured": False, "reason": "--retrieval-only"}
    if answers:
        all_answered = [r for r in rows if r["coverage"] == "answered"]
        with_reference = [r for r in answerable if r.get("content_word_recall") is not None]
        modes = [str(r.get("mode")) for r in all_answered]
        section = {
            "measured": True,
            "content_word_recall": mean(r["content_word_recall"] for r in with_reference),
            "content_word_recall_answered": mean(
                r["content_word_recall"] for r in with_reference if r["coverage"] == "answered"
            ),
            "with_reference": len(with_reference),
            "prose": mean(float(m in PROSE_MODES) for m in modes),
            "extract": mean(float(m in EXTRACT_MODES) for m in modes),
            "answered": len(all_answered),
        }
    by_kind: dict[str, Any] = {}
    by_style: dict[str, Any] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        group = [r for r in rows if r["kind"] == kind]
        by_kind[kind] = group_summary(group)
        for style in dict.fromkeys(r.get("style") for r in group):
            if style is not None:
                by_style[style] = group_summary([r for r in rows if r.get("style") == style])
    overall = group_summary(rows) if rows else {}
    return {"coverage": coverage, "answers": section, "by_kind": by_kind, "by_style": by_style, "overall": overall}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


TABLE_COLUMNS = ("questions", *GROUP_KEYS)
TABLE_NOTE = (
    "answered/closest/none: share of the group's questions; cites gold: of its answered answerable ones; "
    "hit@1, hit@5: its single questions; R@10: its multi ones; cw recall: reference content-word recall of "
    "its answerable ones (a 'none' counts 0); prose: model prose among its answered ones"
)
_HEADERS = ("n", "answered", "closest", "none", "cites gold", "hit@1", "hit@5", "R@10", "cw recall", "prose")


def group_table(report: Mapping[str, Any], *, markdown: bool = False) -> list[str]:
    """Per-kind then per-style lines (all questions last) as aligned text or a markdown table."""
    lines_of: list[tuple[str, Mapping[str, Any]]] = [(f"{k} (all)", v) for k, v in report["by_kind"].items()]
    lines_of += [(f"{v['kind']} · {s}", v) for s, v in report["by_style"].items()]
    total = report.get("overall")
    if total:
        lines_of.append(("all", total))
    if markdown:
        out = ["| group | " + " | ".join(_HEADERS) + " |", "|---" * (len(_HEADERS) + 1) + "|"]
        out += ["| " + " | ".join([name, *(_cell(v.get(c)) for c in TABLE_COLUMNS)]) + " |" for name, v in lines_of]
        return out
    width = max([len(name) for name, _ in lines_of] + [5])
    out = [f"{'group':<{width}}  " + "  ".join(f"{h:>10}" for h in _HEADERS)]
    out += [f"{name:<{width}}  " + "  ".join(f"{_cell(v.get(c)):>10}" for c in TABLE_COLUMNS) for name, v in lines_of]
    return out
