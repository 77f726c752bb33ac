"""BM25: the sparse index over an index's chunks, one ``bm25-<generation>/`` folder per generation.

The writer builds it at each commit over every stored chunk's text, title line included
(:func:`build_bm25`: bm25s, English stopwords, Snowball stemming); a reader loads it memory-mapped
(:class:`Bm25`), so its start pages in only what its queries touch.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import IndexMissingError
from assistant.storage import write_atomic
from assistant.text import bm25_tokenize


class Bm25:
    """The BM25 folder of one generation, loaded at first use. ``required``: the generation lists
    chunks, so a missing folder is damage (else it is an index with nothing to rank)."""

    def __init__(self, folder: Path, *, required: bool) -> None:
        self.folder = folder
        self.required = required
        self._retriever: Any = None
        self._ids: list[str] | None = None

    def load(self) -> tuple[Any, list[str]]:
        """(the bm25s retriever or None, the chunk ids it ranks in its order)."""
        if self._ids is None:
            if not (self.folder / "ids.json").is_file():
                if not self.required:
                    return None, []
                raise IndexMissingError(
                    f"the BM25 index {self.folder} is missing: repair the index with `ingest --repair` (rebuilds it "
                    "from the stored chunks; nothing is embedded again)"
                )
            import bm25s

            ids = json.loads((self.folder / "ids.json").read_text())
            # memory-mapped: a reader's start pages in only what its queries touch
            self._retriever = bm25s.BM25.load(str(self.folder), mmap=True) if ids else None
            self._ids = ids
        return self._retriever, self._ids

    def rank(self, query: str, n: int, keep: Callable[[str], bool] | None = None) -> list[tuple[str, float]]:
        """(chunk id, score) of the ``n`` best chunks scoring above 0; ``keep(chunk id)`` False masks
        a chunk before ranking."""
        retriever, ids = self.load()
        if not ids:
            return []
        tokens = bm25_tokenize([query])
        if not tokens.vocab:
            return []
        mask = None
        if keep is not None:
            import numpy as np

            mask = np.fromiter((keep(cid) for cid in ids), dtype="float32", count=len(ids))
        docs, scores = retriever.retrieve(
            tokens, k=min(n, len(ids)), show_progress=False, n_threads=1, weight_mask=mask
        )
        return [(ids[int(doc)], float(score)) for doc, score in zip(docs[0], scores[0], strict=True) if score > 0]

    def chunks_with(self, term: str) -> int:
        """How many chunks hold ``term`` (a BM25 term: a stemmed word); 0 for an unknown term or no index."""
        retriever, _ = self.load()
        if retriever is None:
            return 0
        tid = retriever.vocab_dict.get(term)
        indptr = retriever.scores["indptr"]
        return int(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0

    def idf(self, terms: list[str], total: int, removed: dict[str, int]) -> list[tuple[str, float | None]]:
        """Each term's ``log(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's BM25 IDF) over ``total``
        chunks, its df less ``removed[term]``; None for a term no chunk has."""
        retriever, _ = self.load()
        vocab = retriever.vocab_dict
        indptr = retriever.scores["indptr"]
        out: list[tuple[str, float | None]] = []
        for term in terms:
            tid = vocab.get(term)
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0
            df = max(df - removed.get(term, 0), 0)
            out.append((term, math.log(1 + (total - df + 0.5) / (df + 0.5)) if df else None))
        return out


def build_bm25(folder: Path, ids: list[str], texts: list[str]) -> None:
    """bm25s over the chunk texts, English stopwords and Snowball stemming, saved with its ids."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG level
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    retriever = bm25s.BM25()
    tokenized = bm25_tokenize(texts) if texts else None
    if tokenized is None or not tokenized.vocab:  # no chunk has a single indexable word: nothing to rank
        ids = []
        tmp.mkdir(parents=True)
    else:
        retriever.index(tokenized, show_progress=False)
        retriever.save(str(tmp))
    write_atomic(tmp / "ids.json", json.dumps(ids))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
