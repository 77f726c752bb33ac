"""Pure metric functions: retrieval (BEIR / llama-index definitions), citations (ALCE), faithfulness.

Retrieval uses binary relevance against a set of gold paper ids. ``retrieved`` is a ranked list;
repeated ids count once, at their first rank (a paper cannot be relevant twice). A question with
no gold papers has no retrieval score (``retrieval_scores`` returns None) and the caller counts it.

Citation metrics follow ALCE (Gao et al., 2023): a sentence's citation *recall* is 1 when its cited
papers together support it; a citation is *irrelevant* when it alone does not support the
sentence and the sentence's other citations still do without it; precision is the share of
citations not irrelevant, per answer. Two choices ALCE's code leaves open are made explicitly:
a paper cited twice in one sentence is one citation (the repeat is counted, not scored), and a
citation naming no retrieved source contributes no evidence and always counts as irrelevant
(ALCE drops it from the denominator, which would hide it). Support is whatever ``supports`` says
(the SupportScorer with its threshold, or an LLM judge); these functions never decide it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

SupportFn = Callable[[str, list[str]], bool]
RETRIEVAL_KEYS = ("hit@1", "hit@5", "hit@10", "recall@10", "mrr@10", "ndcg@10")


# -- retrieval -------------------------------------------------------------------------------------


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def hit_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    """1 if any gold paper is in the top k (llama-index HitRate, BEIR success@k)."""
    return 1.0 if any(r in gold for r in _unique(retrieved)[:k]) else 0.0


def recall_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold papers found in the top k (BEIR recall@k)."""
    if not gold:
        raise ValueError("recall is undefined without gold")
    return len(set(_unique(retrieved)[:k]) & gold) / len(gold)


def mrr_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold paper within the top k, else 0."""
    for rank, r in enumerate(_unique(retrieved)[:k], start=1):
        if r in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k; the ideal ranking puts min(|gold|, k) gold papers first (BEIR)."""
    if not gold:
        raise ValueError("nDCG is undefined without gold")
    dcg = sum(1.0 / math.log2(rank + 1) for rank, r in enumerate(_unique(retrieved)[:k], start=1) if r in gold)
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / idcg


def retrieval_scores(retrieved: Sequence[str], gold: Iterable[str]) -> dict[str, float] | None:
    """All report retrieval metrics for one question, or None when it has no gold."""
    gold = set(gold)
    if not gold:
        return None
    return {
        "hit@1": hit_at_k(retrieved, gold, 1),
        "hit@5": hit_at_k(retrieved, gold, 5),
        "hit@10": hit_at_k(retrieved, gold, 10),
        "recall@10": recall_at_k(retrieved, gold, 10),
        "mrr@10": mrr_at_k(retrieved, gold, 10),
        "ndcg@10": ndcg_at_k(retrieved, gold, 10),
    }


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def mean_scores(rows: Iterable[Mapping[str, float] | None], keys: Sequence[str] = RETRIEVAL_KEYS) -> dict:
    """Mean of each key over the rows that have scores; None rows (no gold) are left out."""
    scored = [r for r in rows if r is not None]
    return {key: mean(r[key] for r in scored) for key in keys}


# -- citations and faithfulness ----------------------------------------------------------------------


@dataclass(frozen=True)
class CitationScores:
    recall: float  # share of sentences whose cited papers together support them
    precision: float  # share of citations that are needed (ALCE); 0 with no citations
    sentences: int
    citations: int  # distinct (sentence, paper) citations, outside ones included
    supported: int  # sentences fully supported by their citations
    relevant: int  # citations judged relevant
    outside: int  # citations naming no retrieved source
    duplicates: int  # repeats of a paper within one sentence, not scored


def citation_scores(
    sentences: Sequence[tuple[str, Sequence[int]]], evidence: Mapping[int, str], supports: SupportFn
) -> CitationScores | None:
    """ALCE citation recall and precision for one answer; None for an answer with no sentences."""
    if not sentences:
        return None
    supported = relevant = total = outside = duplicates = 0
    for text, cited in sentences:
        refs = list(dict.fromkeys(cited))
        duplicates += len(cited) - len(refs)
        valid = [r for r in refs if r in evidence]
        outside += len(refs) - len(valid)
        total += len(refs)
        joint = bool(valid) and supports(text, [evidence[r] for r in valid])
        supported += joint
        if not joint:
            continue
        if len(valid) == 1:
            relevant += 1
            continue
        for r in valid:
            if supports(text, [evidence[r]]):
                relevant += 1
            elif not supports(text, [evidence[o] for o in valid if o != r]):
                relevant += 1  # the others cannot carry the sentence without it
    return CitationScores(
        recall=supported / len(sentences),
        precision=relevant / total if total else 0.0,
        sentences=len(sentences),
        citations=total,
        supported=supported,
        relevant=relevant,
        outside=outside,
        duplicates=duplicates,
    )


def faithfulness(sentences: Sequence[str], sources: Sequence[str], supports: SupportFn) -> float | None:
    """RAGAS-like: share of sentences supported by all retrieved sources together; None if empty."""
    if not sentences:
        return None
    return sum(bool(supports(s, list(sources))) for s in sentences) / len(sentences)


def cites_gold(cited: Iterable[str], gold: Iterable[str]) -> bool:
    return bool(set(cited) & set(gold))


# -- abstention --------------------------------------------------------------------------------------


def abstention(rows: Iterable[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """From (answerable, abstained) pairs: share of unanswerable abstained, answerable wrongly abstained."""
    rows = list(rows)
    unanswerable = [abstained for answerable, abstained in rows if not answerable]
    answerable = [abstained for answerable, abstained in rows if answerable]
    return {
        "unanswerable": len(unanswerable),
        "abstained_unanswerable": mean(map(float, unanswerable)),
        "answerable": len(answerable),
        "wrongly_abstained": mean(map(float, answerable)),
    }


# -- binary classification (the support scorer against labelled pairs) --------------------------------


def classification(pairs: Iterable[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """Accuracy and precision/recall/F1 of the positive class from (truth, predicted) pairs."""
    pairs = list(pairs)
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    correct = sum(t == p for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0 if pairs else None
    return {
        "n": len(pairs),
        "accuracy": correct / len(pairs) if pairs else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": len(pairs) - tp - fp - fn,
    }
