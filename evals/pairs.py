"""How well the support scorer separates supported from unsupported sentences (``evals scorer``).

evals/support_pairs.jsonl holds hand-labelled ``(sentence, source_title, label, kind)`` pairs; the
kinds (verbatim, paraphrase, numbers_swapped, negated, ...) show *which* mistakes a scorer makes,
which one accuracy figure hides. The evidence is the source's "title. abstract", as the answer
step and ``evals run`` give it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import InputError
from evals import metrics
from ingest.identity import title_key

if TYPE_CHECKING:
    from assistant.settings import Settings
    from evals.run import Scorer

LABELS = ("supported", "unsupported")


@dataclass(frozen=True)
class Pair:
    id: str
    sentence: str
    source_title: str
    label: str
    kind: str

    @property
    def supported(self) -> bool:
        return self.label == "supported"


def load_pairs(path: Path) -> list[Pair]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read pairs {path}: {exc.strerror or exc}") from exc
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            pair = Pair(str(rec["id"]), rec["sentence"], rec["source_title"], rec["label"], rec.get("kind", "-"))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: expected {{id, sentence, source_title, label, kind}}: {exc}") from exc
        if pair.label not in LABELS:
            raise InputError(f"{path}:{number}: label must be 'supported' or 'unsupported', not {pair.label!r}")
        pairs.append(pair)
    if not pairs:
        raise InputError(f"no pairs in {path}")
    return pairs


def evidence_by_title(settings: Settings) -> dict[str, str]:
    """title_key -> evidence text, from the index manifest if there is one, else by reading settings.data."""
    from assistant.verify import evidence_text

    manifest = settings.index.path / "manifest.json"
    if manifest.is_file():
        from assistant.store import PaperIndex

        index = PaperIndex.open(settings)
        try:
            return {title_key(e.title): evidence_text(e.title, e.abstract) for e in index.manifest.papers.values()}
        finally:
            index.close()
    from ingest.readers import read_paths
    from ingest.records import Paper

    longest: dict[str, Paper] = {}
    for item in read_paths([settings.data]):
        if isinstance(item, Paper):
            kept = longest.get(item.title_key)
            if kept is None or len(item.abstract) > len(kept.abstract):  # as ingest's de-duplication does
                longest[item.title_key] = item
    return {key: evidence_text(p.title, p.abstract) for key, p in longest.items()}


def score_pairs(pairs: list[Pair], evidence: dict[str, str], scorer: Scorer) -> dict[str, Any]:
    results = []
    missing = []
    for pair in pairs:
        text = evidence.get(title_key(pair.source_title))
        if text is None:
            missing.append(pair.source_title)
            continue
        judge = getattr(scorer, "judge", None)
        judgement = judge(pair.sentence, [text]) if judge else None
        score = float(judgement.score if judgement else scorer.score(pair.sentence, [text]))
        row = {"id": pair.id, "kind": pair.kind, "label": pair.label, "score": round(score, 4)}
        if judgement is not None and judgement.learned is not None:  # the parts, side by side
            row |= {"heuristic": judgement.heuristic, "learned": round(judgement.learned, 4)}
            row["contradicted"] = judgement.contradicted
        results.append(row | {"supported": pair.supported})
    if not results:
        raise InputError("none of the pairs' source titles were found (index manifest or data/)")
    threshold = float(scorer.threshold)
    for r in results:
        r["predicted"] = r["score"] >= threshold
    summary = metrics.classification((r["supported"], r["predicted"]) for r in results)
    by_kind = {}
    for kind in sorted({r["kind"] for r in results}):
        group = [r for r in results if r["kind"] == kind]
        by_kind[kind] = {
            "n": len(group),
            "label": group[0]["label"] if len({g["label"] for g in group}) == 1 else "mixed",
            "accuracy": sum(g["supported"] == g["predicted"] for g in group) / len(group),
        }
    sides = {}
    if all("learned" in r for r in results):
        # each part at its own cut: the heuristic at its fitted 0.65, the learned probability at 0.5
        for part, cut in (("heuristic", HEURISTIC_THRESHOLD), ("learned", 0.5), ("score", threshold)):
            name = "combined" if part == "score" else part
            sides[name] = {"threshold": cut, "accuracy": _accuracy(results, part, cut)} | {
                kind: _accuracy([r for r in results if r["kind"] == kind], part, cut)
                for kind in sorted({r["kind"] for r in results})
            }
    return {
        "scorer": getattr(scorer, "name", "heuristic"),
        "side_by_side": sides,
        "threshold": threshold,
        "pairs": len(results),
        "missing_sources": sorted(set(missing)),
        "supported": summary,
        "by_kind": by_kind,
        "best_threshold": best_threshold(results),
        "results": results,
    }


HEURISTIC_THRESHOLD = 0.65  # answer.min_support's heuristic default (best F1 on half of these pairs)


def _accuracy(rows: list[dict[str, Any]], part: str, cut: float) -> float:
    return round(sum((r[part] >= cut) == r["supported"] for r in rows) / len(rows), 3)


def best_threshold(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The cut on these very pairs with the best F1: a tuning hint, optimistic by construction."""
    best: dict[str, Any] = {}
    for cut in sorted({r["score"] for r in results}):
        scores = metrics.classification((r["supported"], r["score"] >= cut) for r in results)
        if not best or (scores["f1"], scores["accuracy"]) > (best["f1"], best["accuracy"]):
            best = {"threshold": cut, "f1": scores["f1"], "accuracy": scores["accuracy"]}
    return best
