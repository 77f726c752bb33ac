"""Chunk: split a paper into chunks with llama-index's SentenceSplitter (sentence-aware, token-sized),
splitting sentences with the project's one splitter (``assistant.text``).

Each chunk's text starts with the paper's title: the title is the most informative line for both
BM25 and the embedding, and abstracts split in two would otherwise lose it in the second half.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from assistant.text import sentence_spans, split_sentences

if TYPE_CHECKING:
    from llama_index.core.node_parser import SentenceSplitter

    from ingest.records import Paper


@dataclass(frozen=True)
class Chunk:
    id: str
    paper_id: str
    text: str


@lru_cache(maxsize=4)
def _splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    from llama_index.core.node_parser import SentenceSplitter

    # our sentence splitter, not llama-index's NLTK default (which can call nltk.download)
    return SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        chunking_tokenizer_fn=sentence_spans,
    )


def chunk_paper(paper: Paper, paper_id: str, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Chunk ids carry the content hash, so a changed paper never reuses a stale chunk id."""
    pieces = _splitter(chunk_size, chunk_overlap).split_text(paper.abstract) or [paper.abstract]
    prefix = f"{paper_id}#{paper.content_hash[:8]}"
    return [Chunk(f"{prefix}:{i}", paper_id, f"{paper.title}\n{piece}") for i, piece in enumerate(pieces)]


def sentence_units(paper: Paper, paper_id: str) -> list[Chunk]:
    """The abstract's sentences, embedded at ingest for evidence selection at question time."""
    prefix = f"{paper_id}#{paper.content_hash[:8]}"
    return [Chunk(f"{prefix}:s{i}", paper_id, text) for i, text in enumerate(split_sentences(paper.abstract))]
