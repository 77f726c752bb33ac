"""Synthetic collections of any size from a real corpus, and vectors derived from real ones.

How a collection of ``n`` papers is made (``make_papers``): paper ``i`` takes the first half of the
sentences of one real abstract and the second half of another's (both drawn at random with a seed),
and its title is the first paper's title joined to the second's with ``i`` appended, so every
title, id and abstract is unique while every sentence, word and length is real.

How the vectors are derived (``DerivedEncoder``): each unique source sentence is encoded once with
the real encoder (cached); a synthetic sentence's vector is its source sentence's vector plus
Gaussian noise of norm ``NOISE`` (cosine about 0.98 to the source, so no two stored vectors are
equal), renormalised; a chunk's vector is the normalised mean of the vectors of the source
sentences it contains, plus the same noise. Everything else in the ingest (reading, identity,
chunking, Chroma, BM25, manifest) is the product's own code.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

NOISE = 0.2  # norm of the noise added to a unit vector: cosine to the original ~ 1/sqrt(1 + 0.04)


def source_papers(corpus: Path) -> list[tuple[str, list[str]]]:
    """(title, sentences) of every real paper: a BEIR folder (corpus.jsonl) or any ingestible path."""
    from assistant.text import split_sentences

    out: list[tuple[str, list[str]]] = []
    if (corpus / "corpus.jsonl").is_file():
        for line in (corpus / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                doc = json.loads(line)
                out.append((" ".join(doc["title"].split()), split_sentences(doc["text"])))
    else:
        from ingest.readers import read_paths
        from ingest.records import Paper

        out = [(p.title, split_sentences(p.abstract)) for p in read_paths([corpus]) if isinstance(p, Paper)]
    return [(t, s) for t, s in out if t and len(s) >= 2]


def make_papers(sources: list[tuple[str, list[str]]], start: int, count: int, seed: int = 14) -> list[dict[str, str]]:
    """Papers ``start .. start+count-1`` of the synthetic sequence (the same ``i`` always gives the
    same paper), as JSONL records ``{id, title, abstract}``."""
    out = []
    for i in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + i)
        (ta, sa), (tb, sb) = rng.choice(sources), rng.choice(sources)
        sentences = sa[: max(1, len(sa) // 2)] + sb[len(sb) // 2 :]
        out.append({"id": f"scale-{i}", "title": f"{ta}: {tb.lower()} ({i})", "abstract": " ".join(sentences)})
    return out


def write_jsonl(papers: list[dict[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in papers), encoding="utf-8")
    return path


def sentence_vectors(sources: list[tuple[str, list[str]]], cache: Path, settings: Any) -> dict[str, np.ndarray]:
    """Each unique source sentence's real vector (encoded once, then read from ``cache``)."""
    from assistant.embedding import DocumentEncoder

    texts = sorted({s for _, sentences in sources for s in sentences})
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"sentence-vectors-{settings.embedding.model}-{digest}.npy"
    if path.is_file():
        vectors = np.load(path)
    else:
        encoder = DocumentEncoder(settings.embedding.model, settings.cache, settings.embedding.backend, 64)
        ordered = sorted(range(len(texts)), key=lambda k: -len(texts[k]))
        encoded = encoder.encode([texts[k] for k in ordered])
        vectors = np.empty_like(encoded)
        vectors[ordered] = encoded
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return dict(zip(texts, vectors, strict=True))


class DerivedEncoder:
    """Stands in for ``assistant.embedding.DocumentEncoder`` in the scale benchmark only: vectors
    derived from real ones (module docstring), so collections of 10^5 papers build in minutes."""

    def __init__(self, known: dict[str, np.ndarray], seed: int = 14) -> None:
        self.known = known
        self.rng = np.random.default_rng(seed)
        self.fallback = np.stack(list(known.values())[:1000])

    def encode(self, texts: list[str]) -> np.ndarray:
        from assistant.text import split_sentences

        rows = []
        for text in texts:
            hit = self.known.get(text)
            if hit is None:
                parts = [self.known[s] for s in split_sentences(text) if s in self.known]
                hit = np.mean(parts, axis=0) if parts else self.fallback[len(text) % len(self.fallback)]
                hit = hit / np.linalg.norm(hit)
            rows.append(hit)
        base = np.asarray(rows, dtype="float32")
        noise = self.rng.standard_normal(base.shape).astype("float32")
        noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
        out = base + noise
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype("float32")
