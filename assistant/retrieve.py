"""Retrieve: dense (Chroma) and BM25 chunk rankings, fused per paper, ranked sources out.

The retrievers rank chunks (and, when weighted, sentences); each paper takes its best hit in each ranking, and the paper
rankings are fused (z-score by default, or weighted RRF). The result is one entry per paper with
its best chunk as the snippet. Picking evidence sentences (``assistant.evidence``) and deciding
whether to abstain (``assistant.abstain``) are the next steps, not this one's.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.rerank import Reranker
from assistant.store import Hit, PaperIndex

if TYPE_CHECKING:
    import numpy as np

    from assistant.embedding import QueryEncoder
    from assistant.settings import Settings


@dataclass
class Source:
    n: int
    paper_id: str
    title: str
    score: float
    similarity: float
    snippet: str
    abstract: str
    date: str | None = None
    url: str | None = None
    relevance: float | None = None  # the cross-encoder's probability of relevance (None: not reranked)

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "title": self.title,
            "paper_id": self.paper_id,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "snippet": self.snippet,
            "date": self.date,
            "url": self.url,
            "relevance": None if self.relevance is None else round(self.relevance, 4),
        }


@dataclass
class Retrieval:
    """Ranked sources for one query. ``top_similarity``: the best shown chunk's cosine similarity;
    ``query_vector``: the unit query embedding (reused by evidence selection)."""

    query: str
    sources: list[Source]
    top_similarity: float
    timings: dict[str, float] = field(default_factory=dict)
    query_vector: np.ndarray | None = None
    # "dense"/"bm25"/"sentence": paper -> best score; "relevance": paper -> cross-encoder probability
    lists: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Candidates:
    """What the three retrievers returned for one query, before fusion (``started``: perf_counter)."""

    query: str
    vector: np.ndarray
    dense: list[Hit]
    sparse: list[Hit]
    sentence: list[Hit]
    started: float


class Retriever:
    """Holds the open index, the query encoder and the reranker; build once per process and reuse."""

    def __init__(
        self,
        settings: Settings,
        index: PaperIndex | None = None,
        encoder: QueryEncoder | None = None,
        reranker: Reranker | None = None,
    ):
        self.settings = settings
        self.index = index or PaperIndex.open(settings)
        self.index.check_complete()  # a damaged store is one clear error here, not odd answers later
        if encoder is None:
            from assistant.embedding import QueryEncoder

            encoder = QueryEncoder(self.index.manifest.embedding_model, settings.cache)
        self.encoder = encoder
        if reranker is None and settings.retrieval.rerank_depth > 0:
            reranker = Reranker(settings.retrieval)
        self.reranker = reranker

    def search(
        self,
        query: str,
        k: int | None = None,
        dates: list[str] | None = None,
        exclude: Collection[str] = (),
        only: Collection[str] | None = None,
    ) -> Retrieval:
        """The ``k`` (default ``retrieval.k``) best papers for ``query``, best first.

        ``exclude``: paper ids treated as absent (self-calibration asks questions about a paper with
        that paper masked out: what a question about a paper the collection lacks meets);
        ``only``: search these papers alone (an author's papers), None for all.
        """
        return self.rank(self.candidates(query, dates, only), k, exclude)

    def candidates(self, query: str, dates: list[str] | None = None, only: Collection[str] | None = None) -> Candidates:
        """The three rankings' candidate hits for ``query`` (``dates`` and ``only`` filter before ranking)."""
        cfg = self.settings.retrieval
        started = time.perf_counter()
        vector = self.encoder.encode(query)
        allowed = self.index.papers_dated(dates) if dates else None
        if only is not None:
            allowed = set(only) if allowed is None else set(allowed) & set(only)
        dense = self.index.dense(vector, cfg.candidates, allowed)
        sparse = self.index.sparse(query, cfg.candidates, allowed)
        # a paper's best sentence: a ranking signal when weighted, and an abstention signal always.
        # Scored exactly over the abstract sentences of the papers the two lists found (stored vectors
        # read by id, assistant.sentsegments), not searched over every sentence: a paper neither list found
        # has no rank to gain (see docs/architecture.md, Sentence vectors).
        papers = dict.fromkeys(hit.paper_id for hit in (*dense, *sparse))
        sentence = self.index.sentence_hits(vector, papers, cfg.candidates)
        return Candidates(query, vector, dense, sparse, sentence, started)

    def rank(
        self,
        found: Candidates,
        k: int | None = None,
        exclude: Collection[str] = (),
        snippets: bool = True,
        rerank: bool = True,
        cache: dict[tuple[str, str], float] | None = None,
    ) -> Retrieval:
        """Fuse the candidates per paper into ranked sources, then rerank the top ``rerank_depth``
        by the cross-encoder (``snippets=False``: no chunk texts are read; each snippet is the
        abstract's start; ``rerank=False``: fusion's order, no cross-encoder; ``cache``: logits
        already computed, see :meth:`Reranker.rerank`)."""
        cfg = self.settings.retrieval
        k = k or cfg.k
        query, vector, started = found.query, found.vector, found.started
        dense = _keep(found.dense, exclude)
        lists = {
            "dense": _best_per_paper(dense),
            "bm25": _best_per_paper(_keep(found.sparse, exclude)),
            "sentence": _best_per_paper(_keep(found.sentence, exclude)),
        }
        weights = {
            "dense": (1 - cfg.sentence_weight) * cfg.dense_weight,
            "bm25": (1 - cfg.sentence_weight) * (1 - cfg.dense_weight),
            "sentence": cfg.sentence_weight,
        }
        fused = fuse_lists([(weights[name], best) for name, best in lists.items()], cfg.rrf_k, cfg.fusion)
        papers = self.index.manifest.papers
        timings: dict[str, float] = {}
        if self.reranker is not None and rerank and fused:
            head = fused[: self.reranker.depth]
            entries = papers.get_many([f.paper_id for f in head])
            done = self.reranker.rerank(
                query,
                [(f.paper_id, entries[f.paper_id].title, entries[f.paper_id].abstract, f.score) for f in head],
                cache,
            )
            fused = [head[i] for i in done.order] + fused[len(head) :]
            lists["relevance"] = done.relevance
            timings["rerank_ms"] = round(done.ms, 1)
        best_chunk: dict[str, Hit] = {}  # dense hits come best first
        for hit in dense:
            best_chunk.setdefault(hit.paper_id, hit)
        shown = [best_chunk[f.paper_id].chunk_id for f in fused[:k] if f.paper_id in best_chunk]
        texts = self.index.chunk_texts(shown) if snippets else {}
        sources = []
        for n, item in enumerate(fused[:k], start=1):
            entry = papers[item.paper_id]
            chunk = best_chunk.get(item.paper_id)
            text = texts.get(chunk.chunk_id) if chunk else None
            snippet = text.split("\n", 1)[-1] if text else entry.abstract[:400]
            sources.append(
                Source(
                    n=n,
                    paper_id=item.paper_id,
                    title=entry.title,
                    score=item.score,
                    similarity=chunk.score if chunk else 0.0,
                    snippet=snippet,
                    abstract=entry.abstract,
                    date=entry.date,
                    url=entry.url,
                    relevance=lists.get("relevance", {}).get(item.paper_id),
                )
            )
        top = max((s.similarity for s in sources), default=0.0)
        elapsed = (time.perf_counter() - started) * 1000
        return Retrieval(query, sources, top, {"retrieve_ms": round(elapsed, 1), **timings}, vector, lists)


@dataclass(frozen=True)
class Fused:
    paper_id: str
    score: float


def fuse_lists(lists: list[tuple[float, dict[str, float]]], rrf_k: int, method: str = "zscore") -> list[Fused]:
    """Combine weighted per-paper score lists into one ranking, best first (ties by paper id).

    ``zscore`` (default): a convex combination of z-normalised scores over the candidates, a paper
    missing from one list taking that list's minimum; it measured better than RRF on SciFact
    (docs/evaluation.md, Retrieval). ``rrf``: weighted reciprocal rank fusion (Cormack et al., SIGIR
    2009), constant ``rrf_k``.
    Lists that are empty or weighted 0 are skipped.
    """
    lists = [(w, best) for w, best in lists if w > 0 and best]
    scores: dict[str, float] = {}
    papers = {pid for _, best in lists for pid in best}
    for weight, best in lists:
        if method == "rrf":
            ranked = sorted(best, key=lambda pid: (-best[pid], pid))
            for rank, pid in enumerate(ranked, start=1):
                scores[pid] = scores.get(pid, 0.0) + weight / (rrf_k + rank)
            continue
        values = list(best.values())
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
        floor = min(values)
        for pid in papers:
            scores[pid] = scores.get(pid, 0.0) + weight * (best.get(pid, floor) - mean) / std
    return [Fused(pid, s) for pid, s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _keep(hits: list[Hit], exclude: Collection[str]) -> list[Hit]:
    return [h for h in hits if h.paper_id not in exclude] if exclude else hits


def _best_per_paper(hits: list[Hit]) -> dict[str, float]:
    best: dict[str, float] = {}
    for hit in hits:
        if hit.score > best.get(hit.paper_id, float("-inf")):
            best[hit.paper_id] = hit.score
    return best
