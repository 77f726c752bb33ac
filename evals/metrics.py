"""Pure metric functions: retrieval (ir-measures / trec_eval, BEIR definitions), citations (ALCE), faithfulness.

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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import ir_measures
from ir_measures import RR, Measure, R, Success, nDCG

SupportFn = Callable[[str, list[str]], bool]
RETRIEVAL_KEYS = ("hit@1", "hit@5", "hit@10", "recall@10", "mrr@10", "ndcg@10")


# -- retrieval -------------------------------------------------------------------------------------
#
# Computed by ir-measures (https://ir-measur.es), not by hand. One ranking is one query of a TREC run:
# the deduplicated ids get descending scores n, n-1, ..., 1 (trec_eval ranks by score, breaking ties
# by doc id, so distinct scores keep the given order exactly) and every gold id is a qrel of
# relevance 1. Each measure is pinned to one provider so its definition cannot move with whatever
# else is installed:
#
# * hit@k = ``Success@k``, recall@k = ``R@k``, nDCG@k = ``nDCG@k`` from the pytrec_eval provider
#   (trec_eval 9 ``success_k``, ``recall_k``, ``ndcg_cut_k``; the BEIR definitions, BEIR scores with
#   pytrec_eval too);
# * MRR@k = ``RR@k`` from the msmarco provider (the MS MARCO ``MRR @k`` script): pytrec_eval's
#   ``recip_rank`` has no cutoff, and ir-measures' pytrec_eval provider silently drops one.

Run = dict[str, dict[str, float]]  # TREC run: query id -> doc id -> score
Qrels = dict[str, dict[str, int]]  # TREC qrels: query id -> doc id -> relevance

_QUERY = "q"  # the single query id of the one-ranking run
_PYTREC_EVAL = ir_measures.pytrec_eval
_MSMARCO = ir_measures.msmarco
_RETRIEVAL_MEASURES: dict[str, Measure] = dict(
    zip(RETRIEVAL_KEYS, (Success @ 1, Success @ 5, Success @ 10, R @ 10, RR @ 10, nDCG @ 10), strict=True)
)


def _unique(ids: Iterable[str]) -> list[str]:
    """The ids in order, each at its first position."""
    return list(dict.fromkeys(ids))


def _check_cutoff(k: int) -> None:
    # pytrec_eval aborts the whole process (a C assertion) on a cutoff below 1, so refuse it here.
    if k < 1:
        raise ValueError(f"cutoff k must be at least 1, got {k}")


def _scores(retrieved: Sequence[str], gold: Iterable[str], measures: Sequence[Measure]) -> dict[Measure, float]:
    """Per-query value of each measure for one ranking, computed by ir-measures.

    ``retrieved``: ranked ids, best first, repeats allowed (kept at their first rank). ``gold``: the
    relevant ids (binary relevance). Returns ``{measure: value}`` with every measure present; a
    measure the provider reports nothing for (no gold at all) is 0.0.
    """
    ranked = _unique(retrieved)
    run: Run = {_QUERY: {doc: float(len(ranked) - rank) for rank, doc in enumerate(ranked)}}
    qrels: Qrels = {_QUERY: dict.fromkeys(gold, 1)}
    values = dict.fromkeys(measures, 0.0)
    by_rr = [m for m in measures if m.NAME == "RR"]
    by_trec = [m for m in measures if m.NAME != "RR"]
    for provider, group in ((_MSMARCO, by_rr), (_PYTREC_EVAL, by_trec)):
        if group:
            for metric in provider.iter_calc(group, qrels, run):
                values[metric.measure] = float(metric.value)
    return values


def hit_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    """1.0 if any gold id is in the top k, else 0.0 (0.0 with no gold).

    ir-measures ``Success@k`` (trec_eval ``success_k``; llama-index HitRate, BEIR success@k).
    Raises ValueError for k < 1.
    """
    _check_cutoff(k)
    measure = Success @ k
    return _scores(retrieved, gold, [measure])[measure]


def recall_at_k(retrieved: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the gold ids found in the top k, in [0, 1].

    ir-measures ``R@k`` (trec_eval ``recall_k``; BEIR recall@k). Raises ValueError without gold
    (recall is undefined) or for k < 1.
    """
    if not gold:
        raise ValueError("recall is undefined without gold")
    _check_cutoff(k)
    measure = R @ k
    return _scores(retrieved, gold, [measure])[measure]


def mrr_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Reciprocal rank of the first gold id within the top k, else 0.0 (0.0 with no gold).

    ir-measures ``RR@k`` from its msmarco provider (the MS MARCO ``MRR @k`` script); the mean over
    questions is MRR@k. Raises ValueError for k < 1.
    """
    _check_cutoff(k)
    measure = RR @ k
    return _scores(retrieved, gold, [measure])[measure]


def ndcg_at_k(retrieved: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k in [0, 1]: gain 1 per gold id, discount log2(rank + 1), ideal DCG
    from min(|gold|, k) gold ids at the top.

    ir-measures ``nDCG@k`` (trec_eval ``ndcg_cut_k``; BEIR ndcg@k). Raises ValueError without gold
    (nDCG is undefined) or for k < 1.
    """
    if not gold:
        raise ValueError("nDCG is undefined without gold")
    _check_cutoff(k)
    measure = nDCG @ k
    return _scores(retrieved, gold, [measure])[measure]


def retrieval_scores(retrieved: Sequence[str], gold: Iterable[str]) -> dict[str, float] | None:
    """All report retrieval metrics for one question, or None when it has no gold.

    Returns ``{key: value}`` for each key of ``RETRIEVAL_KEYS`` (hit@1/5/10, recall@10, mrr@10,
    ndcg@10), the same values the single-metric functions give, computed in one ir-measures pass.
    """
    gold = set(gold)
    if not gold:
        return None
    values = _scores(retrieved, gold, list(_RETRIEVAL_MEASURES.values()))
    return {key: values[measure] for key, measure in _RETRIEVAL_MEASURES.items()}


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def mean_scores(
    rows: Iterable[Mapping[str, float] | None], keys: Sequence[str] = RETRIEVAL_KEYS
) -> dict[str, float | None]:
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
