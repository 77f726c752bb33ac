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

    from assistant.catalog import PaperEntry
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


def chunk_texts(title: str, abstract: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    """The texts a paper's chunks embed, in order: the title line, then one piece of the abstract."""
    pieces = _splitter(chunk_size, chunk_overlap).split_text(abstract) or [abstract]
    return [f"{title}\n{piece}" for piece in pieces]


def chunk_paper(paper: Paper, paper_id: str, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Chunk ids carry the content hash, so a changed paper never reuses a stale chunk id."""
    prefix = f"{paper_id}#{paper.content_hash[:8]}"
    texts = chunk_texts(paper.title, paper.abstract, chunk_size, chunk_overlap)
    return [Chunk(f"{prefix}:{i}", paper_id, text) for i, text in enumerate(texts)]


def sentence_units(paper: Paper, paper_id: str) -> list[Chunk]:
    """The abstract's sentences, embedded at ingest for evidence selection at question time."""
    prefix = f"{paper_id}#{paper.content_hash[:8]}"
    return [Chunk(f"{prefix}:s{i}", paper_id, text) for i, text in enumerate(split_sentences(paper.abstract))]


def missing_units(
    paper_id: str, entry: PaperEntry, missing: set[str], chunk_size: int, chunk_overlap: int
) -> list[tuple[str, Chunk]]:
    """``("chunks" | "sentences", Chunk)`` for each of the paper's stored ids in ``missing``, rebuilt
    from the manifest's own title and abstract (no source file needed): ids are positional, so the
    i-th text gets the i-th id the manifest lists. Raises IndexError_ if the counts disagree."""
    from assistant.errors import IndexError_

    out: list[tuple[str, Chunk]] = []
    for kind, ids, texts in (
        ("chunks", entry.chunk_ids, chunk_texts(entry.title, entry.abstract, chunk_size, chunk_overlap)),
        ("sentences", entry.sentence_ids, split_sentences(entry.abstract) if entry.sentence_ids else []),
    ):
        lost = [i for i, cid in enumerate(ids) if cid in missing]
        if lost and len(texts) != len(ids):
            raise IndexError_(
                f"cannot rebuild the missing {kind} of {paper_id!r} from the manifest ({len(texts)} texts for "
                f"{len(ids)} ids): rebuild the index with `ingest --rebuild`"
            )
        out += [(kind, Chunk(ids[i], paper_id, texts[i])) for i in lost]
    return out
