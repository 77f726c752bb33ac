"""One evaluation run: questions in, per-question rows and a report out.

Retrieval is always measured on the top 10 papers, whatever ``k`` the answer step uses, so runs
with different ``k`` stay comparable. Answers are scored with the same support judgement the
product uses (``answer.support``: the learned support cross-encoder with the number, figure and name
checks, or the heuristic; at the answer step's threshold, recorded in the report) unless ``--judge``
names an LLM; a paper's evidence is its title and abstract. Gold papers are
matched by paper id: titles are mapped through the index (case/punctuation-insensitive), BEIR
documents through their titles as ingest stored them (see evals/beir.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.errors import ConfigError, InputError
from assistant.settings import load_settings
from assistant.verify import evidence_text
from evals import metrics
from evals.beir import BeirSet, is_beir_dir, load_beir, map_docs, write_corpus_jsonl
from evals.coverage import content_word_recall, coverage_of, shows_gold
from evals.questions import Question, load_questions
from ingest.identity import title_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from assistant.answer import Answer, AnswerChain, Retrieved
    from assistant.retrieve import Retriever
    from assistant.settings import Settings

RETRIEVAL_K = 10


class Scorer(Protocol):
    threshold: float

    def score(self, sentence: str, evidence: list[str]) -> float: ...


class Chain(Protocol):
    def answer(
        self, question: str, *, k: int | None = None, mode: str | None = None, model: str | None = None
    ) -> Answer: ...


@dataclass
class RunConfig:
    questions: Path
    out: Path
    split: str | None = None  # a question file: keep this split's rows; a BEIR folder: its qrels (default test)
    retrieval_only: bool = False
    index: Path | None = None
    model: str | None = None
    mode: str | None = None
    k: int | None = None
    judge: str | None = None
    sample: int | None = None


def evenly_spaced(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over the list: deterministic, and a file grouped by kind keeps
    roughly its proportions of kinds (a cheaper answer eval than the whole set)."""
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


@dataclass
class RunResult:
    rows: list[dict[str, Any]]
    report: dict[str, Any]


@dataclass
class Prepared:
    settings: Settings
    questions: list[Question]
    gold_of: Callable[[Question], list[str]]
    chain: AnswerChain
    beir: BeirSet | None
    extra: dict[str, Any]


def prepare(cfg: RunConfig, *, ranking_only: bool = False, progress: bool = False) -> Prepared:
    """Load the questions (ingesting a BEIR corpus into its own index first) and map gold to papers.
    ``ranking_only`` with a BEIR set skips the sentence vectors (half the ingest)."""
    from assistant.answer import AnswerChain

    beir = load_beir(cfg.questions, cfg.split or "test") if is_beir_dir(cfg.questions) else None
    index_dir = cfg.index or (cfg.out / "index" if beir else None)
    overrides: dict[str, Any] = {"index": index_dir} if index_dir else {}
    if beir is not None and ranking_only:  # a ranking benchmark needs no evidence sentences
        overrides["embedding"] = {"sentence_vectors": False}
    settings = load_settings(**overrides)
    extra: dict[str, Any] = {}
    if beir is not None:
        from ingest.pipeline import progress_bar, run_ingest

        corpus = write_corpus_jsonl(beir, cfg.out / "beir-corpus.jsonl")
        ingested = run_ingest([corpus], settings, progress=progress_bar("ingest", "text") if progress else None)
        questions = beir.questions()
    elif cfg.questions.is_dir():
        raise InputError(f"{cfg.questions} is a directory but not a BEIR one (no corpus.jsonl)")
    else:
        questions = load_questions(cfg.questions, cfg.split)

    if cfg.sample and cfg.sample < len(questions):
        questions = evenly_spaced(questions, cfg.sample)
    chain = AnswerChain(settings)
    papers = chain.retriever.index.manifest.papers
    by_title = {title_key(entry.title): pid for pid, entry in papers.items()}
    if beir is not None:
        mapping = map_docs(beir, by_title)
        gold_docs = {d for q in questions for d in q.gold_docs}
        extra["beir"] = {
            "split": beir.split,
            **mapping.as_dict(),
            "ingest": {"papers": ingested.papers, "duplicates": ingested.duplicates, "skipped": len(ingested.skipped)},
            "gold_docs": len(gold_docs),
            "gold_docs_sharing_a_paper": len(gold_docs) - len({mapping.paper_of.get(d, d) for d in gold_docs}),
        }

        def gold_of(q: Question) -> list[str]:
            return list(dict.fromkeys(mapping.paper_of.get(d, f"unindexed:{d}") for d in q.gold_docs))
    else:

        def gold_of(q: Question) -> list[str]:
            return list(dict.fromkeys(by_title.get(title_key(t), f"missing:{t}") for t in q.gold_titles))

    return Prepared(settings, questions, gold_of, chain, beir, extra)


def run_eval(
    cfg: RunConfig,
    *,
    chain: Chain | None = None,
    scorer: Scorer | None = None,
    progress: bool = False,
) -> RunResult:
    """Run every question; ``chain``/``scorer`` default to the product's own (tests may pass others)."""
    started = time.perf_counter()
    prepared = prepare(cfg, ranking_only=cfg.retrieval_only, progress=progress)
    settings, questions, gold_of, extra = prepared.settings, prepared.questions, prepared.gold_of, prepared.extra
    ranking_only = prepared.beir is not None and cfg.retrieval_only
    pipeline = prepared.chain  # retrieval, evidence and abstention as the product runs them
    retriever = pipeline.retriever
    papers = retriever.index.manifest.papers

    k = cfg.k or settings.retrieval.k
    supports = None
    scorer_name = None
    if not cfg.retrieval_only:
        if scorer is None:
            scorer = _default_scorer(cfg, settings, retriever)
        scorer_name = getattr(scorer, "name", "heuristic")
        supports = cached_supports(scorer)
        if chain is None:
            chain = pipeline

    rows = []
    iterator: Any = questions
    if progress:
        from tqdm import tqdm

        iterator = tqdm(questions, desc="questions", unit="q", file=sys.stderr)
    for q in iterator:
        gold = gold_of(q)
        retrieval = pipeline.retrieve(q.question, k=max(RETRIEVAL_K, k), evidence=not ranking_only)
        row = retrieval_row(q, gold, retrieval, k)
        if chain is not None and supports is not None:
            row.update(answer_row(chain.answer(q.question, k=k, mode=cfg.mode, model=cfg.model), gold, supports))
            if q.answerable:  # a "none" outcome produced no answer, whatever its refusal text says
                produced = row["answer"] if row["coverage"] != "none" else ""
                row["content_word_recall"] = content_word_recall(q.answer, produced)
        rows.append(row)

    from evals.report import build_report

    manifest = retriever.index.manifest
    config = {
        "questions_file": str(cfg.questions),
        "split": cfg.split,
        "index": str(settings.index.path),
        "embedding_model": manifest.embedding_model,
        "chunking": {"chunk_size": manifest.chunk_size, "chunk_overlap": manifest.chunk_overlap},
        "fusion": {
            "dense_weight": settings.retrieval.dense_weight,
            "bm25_weight": round(1.0 - settings.retrieval.dense_weight, 6),
            "rrf_k": settings.retrieval.rrf_k,
            "candidates": settings.retrieval.candidates,
        },
        "abstention": settings.abstention.model_dump(),
        "k": k,
        "retrieval_k": RETRIEVAL_K,
        "retrieval_only": cfg.retrieval_only,
        "mode": None if cfg.retrieval_only else cfg.mode or settings.answer.mode,
        "model": None if cfg.retrieval_only else cfg.model or settings.llm.model,
        "scorer": scorer_name,
        "scorer_threshold": None if scorer is None or cfg.retrieval_only else float(scorer.threshold),
        "papers_indexed": len(papers),
    }
    report = build_report(rows, config, extra, seconds=time.perf_counter() - started)
    return RunResult(rows, report)


def retrieval_row(q: Question, gold: list[str], retrieval: Retrieved, k: int) -> dict[str, Any]:
    """Ranked titles and retrieval scores; ``abstained`` and ``coverage`` are retrieval's own decision
    (as in the product); ``cites_gold`` is whether a gold paper is among the sources a reply shows."""
    top = retrieval.sources[:RETRIEVAL_K]
    top_ids = [s.paper_id for s in top]
    scores = metrics.retrieval_scores(top_ids, gold)
    best = max((s.similarity for s in retrieval.sources[:k]), default=0.0)
    coverage = coverage_of(retrieval.as_dict())
    real_gold = [g for g in gold if not g.startswith(("missing:", "unindexed:"))]
    return {
        "id": q.id,
        "question": q.question,
        "kind": q.kind,
        "style": q.style,
        "gold": q.gold_titles or q.gold_docs,
        "gold_ids": gold,
        "gold_not_in_index": sum(g.startswith(("missing:", "unindexed:")) for g in gold),
        "retrieved": [s.title for s in top],
        "retrieved_ids": [s.paper_id for s in top],
        "top_similarity": round(best, 4),
        "answer": None,
        "citations": [],
        "relevance": round(retrieval.relevance, 4),
        "abstained": retrieval.abstain,
        "coverage": coverage,
        "abstained_by": "retrieval",
        "retrieval_abstained": retrieval.abstain,
        "retrieval_coverage": coverage,
        "cites_gold": shows_gold(top_ids, real_gold) if coverage == "answered" else None,
        **{key: (scores[key] if scores else None) for key in metrics.RETRIEVAL_KEYS},
        "retrieve_ms": retrieval.timings.get("retrieve_ms"),
    }


def answer_row(answer: Answer, gold: list[str], supports: metrics.SupportFn) -> dict[str, Any]:
    """Citation and faithfulness scores for one answer; abstained and empty answers get None."""
    by_n = {s.n: s for s in answer.sources}
    cited_n = list(
        dict.fromkeys([int(c["n"]) for c in answer.citations] + [n for s in answer.sentences for n in s.citations])
    )
    titles = {int(c["n"]): c.get("title") for c in answer.citations}
    row: dict[str, Any] = {
        "answer": answer.answer,
        "citations": [by_n[n].title if n in by_n else titles.get(n) or f"[{n}]" for n in cited_n],
        "abstained": answer.abstained,
        "coverage": coverage_of(answer.as_dict()),
        "abstained_by": "answer",
        "mode": answer.mode,
        "error": answer.error,
        "removed_citations": len(answer.removed_citations),
        "sentences": len(answer.sentences),
        "citation_recall": None,
        "citation_precision": None,
        "faithfulness": None,
        "cites_gold": None,
        "outside_citations": sum(n not in by_n for n in cited_n),
        "duplicate_citations": 0,
        "empty": False,
    }
    if answer.abstained:
        return row
    sentences = [(s.text, list(s.citations)) for s in answer.sentences if s.text.strip()]
    evidence = {n: evidence_text(s.title, s.abstract) for n, s in by_n.items()}
    scores = metrics.citation_scores(sentences, evidence, supports)
    if scores is None:
        row["empty"] = True
        return row
    cited_ids = [by_n[n].paper_id for n in cited_n if n in by_n]
    real_gold = [g for g in gold if not g.startswith(("missing:", "unindexed:"))]
    row.update(
        citation_recall=scores.recall,
        citation_precision=scores.precision,
        faithfulness=metrics.faithfulness([t for t, _ in sentences], list(evidence.values()), supports),
        cites_gold=metrics.cites_gold(cited_ids, real_gold) if gold else None,
        duplicate_citations=scores.duplicates,
    )
    return row


def cached_supports(scorer: Scorer) -> metrics.SupportFn:
    """Bind a scorer to its threshold; ALCE asks the same (sentence, evidence) question repeatedly."""
    cache: dict[tuple[str, tuple[str, ...]], bool] = {}

    def supports(sentence: str, evidence: list[str]) -> bool:
        key = (sentence, tuple(evidence))
        if key not in cache:
            cache[key] = scorer.score(sentence, evidence) >= scorer.threshold
        return cache[key]

    return supports


def _default_scorer(cfg: RunConfig, settings: Settings, retriever: Retriever) -> Scorer:
    if cfg.judge:
        from evals.judge import JudgeScorer

        return JudgeScorer(cfg.judge, settings)
    return product_scorer(retriever.encoder, settings)


def product_scorer(encoder: Any, settings: Settings) -> Scorer:
    """The answer step's own support check (``answer.support``: learned or heuristic) at its threshold."""
    try:
        from assistant.support import make_scorer
    except ImportError as exc:
        raise ConfigError(f"the support scorer (assistant/support.py) is not available: {exc}") from exc
    return make_scorer(encoder, settings.answer)
