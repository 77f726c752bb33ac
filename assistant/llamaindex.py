"""The seam for llama-index users: the papers index as a llama-index retriever and query engine.

``PapersRetriever``    a ``BaseRetriever``: ``retrieve(question)`` → ``list[NodeWithScore]``, one node
                       per retrieved paper, best first (the same ranking ``ask`` shows as sources)
``PapersQueryEngine``  a ``CustomQueryEngine``: ``query(question)`` → ``Response`` carrying the
                       checked answer (retrieve → evidence → abstain → generate → verify → extract),
                       its sources as nodes and the per-sentence checks in ``metadata``

Each node is one paper (not a chunk)::

    NodeWithScore(
        score=<fused retrieval score: higher is better, not bounded to [0, 1]>,
        node=TextNode(
            id_=<paper_id>,
            text=<the paper's whole abstract; the best-matching chunk is not used, so a node reads
                  the same whatever the question>,
            metadata={
                "title": str,            # the paper's title
                "paper_id": str,         # the index's id for the paper (also the node id)
                "date": str,             # the date the collection gives ("Sep 3", "2024-09-03T10:00"), or ""
                "url": str | None,       # link to the paper when the record had one
                "n": int,                # the source number, 1-based: what "[n]" in an answer cites
                "similarity": float,     # cosine similarity of the paper's best chunk to the question
            },
        ),
    )

Only ``title`` and ``date`` reach an LLM through ``node.get_content(MetadataMode.LLM)`` and only
``title`` reaches an embedder; the other keys are bookkeeping.

This is the only module of ``assistant`` that imports llama-index at module level; nothing on the
``ask`` path imports it, so the CLI's cold start does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

# imported at runtime, not under TYPE_CHECKING: pydantic resolves the ``chain`` field type
from assistant.answer import Answer, AnswerChain
from assistant.retrieve import Source

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["PapersQueryEngine", "PapersRetriever", "source_node", "source_nodes", "to_response"]

_LLM_HIDDEN = ["paper_id", "url", "n", "similarity"]
_EMBED_HIDDEN = ["paper_id", "date", "url", "n", "similarity"]


def source_node(source: Source) -> NodeWithScore:
    """One retrieved paper as a llama-index node (shape in the module docstring)."""
    node = TextNode(
        id_=source.paper_id,
        text=source.abstract,
        metadata={
            "title": source.title,
            "paper_id": source.paper_id,
            "date": source.date or "",
            "url": source.url,
            "n": source.n,
            "similarity": source.similarity,
        },
        excluded_llm_metadata_keys=list(_LLM_HIDDEN),
        excluded_embed_metadata_keys=list(_EMBED_HIDDEN),
    )
    return NodeWithScore(node=node, score=source.score)


def source_nodes(sources: list[Source]) -> list[NodeWithScore]:
    """Ranked sources as nodes, in the same order (best first)."""
    return [source_node(s) for s in sources]


class PapersRetriever(BaseRetriever):
    """The papers index as a llama-index retriever: one ``NodeWithScore`` per paper, best first.

    ``chain``    the ``AnswerChain`` to search with (it holds the open index and the encoder; share
                 one per process, e.g. with a ``PapersQueryEngine``)
    ``k``        papers to return; None means the settings' ``retrieval.k``
    ``dates``    only papers whose date starts with one of these prefixes ("2024", "2024-09"); None: all
    ``abstain``  False (default): always the top ``k`` papers, however far they are from the question.
                 True: an empty list when the answer chain would abstain (no paper close enough), so
                 a downstream synthesizer has nothing to answer from; costs the evidence selection.

    It is a plain (non-pydantic) class like llama-index's own retrievers: options are attributes,
    and ``callback_manager``/``verbose`` go to ``BaseRetriever.__init__``.
    """

    def __init__(
        self,
        chain: AnswerChain,
        k: int | None = None,
        dates: list[str] | None = None,
        abstain: bool = False,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self.chain = chain
        self.k = k
        self.dates = dates
        self.abstain = abstain
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PapersRetriever:
        """Open the index named by ``settings`` (loads the encoder); ``options`` as for ``__init__``."""
        return cls(AnswerChain(settings), **options)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        retrieved = self.chain.retrieve(query_bundle.query_str, k=self.k, dates=self.dates, evidence=self.abstain)
        if retrieved.abstain:
            return []
        return source_nodes(retrieved.sources)


class PapersQueryEngine(CustomQueryEngine):
    """The full checked answer chain as a llama-index query engine.

    ``query(question)`` returns a ``Response`` with

    ``response``      the checked answer text, each sentence ending in its citation marks "[n]";
                      the abstain message when no paper is close enough to the question. It is ""
                      when generation failed in mode "generate" (then ``metadata["error"]`` says why;
                      note that llama-index's ``str(response)`` renders "" as "None")
    ``source_nodes``  the retrieved papers, exactly as ``PapersRetriever`` returns them (also when the
                      answer abstained: then nothing cites them)
    ``metadata``      {"sentences": [{"lead", "text", "citations", "support", "flagged", "note"}, ...]  the
                       answer's checked sentences (``AnswerSentence.as_dict``), "citations": [{"n",
                       "title", "paper_id"}, ...]  the sources the answer cites, "abstained": bool,
                       "coverage": "answered" | "closest" | "none",
                       "mode": the mode that produced the answer ("generate", "extract", "auto:extract"
                       ...), "model": the LLM asked (named even in extract mode, where none runs),
                       "error": str | None  the provider or model failure, if any}

    Options (pydantic fields): ``mode`` ("generate", "extract", "auto"; None: settings' ``answer.mode``),
    ``model`` (None: settings' ``llm.model``), ``k`` and ``dates`` as for ``PapersRetriever``.
    Mode "extract" needs no LLM: the answer is the cited evidence sentences themselves.
    """

    chain: AnswerChain = Field(description="The answer chain (open index, encoder, support scorer).")
    mode: str | None = Field(default=None, description="Answer mode; None: the settings' answer.mode.")
    model: str | None = Field(default=None, description="LLM to generate with; None: the settings' llm.model.")
    k: int | None = Field(default=None, description="Papers to retrieve; None: the settings' retrieval.k.")
    dates: list[str] | None = Field(default=None, description="Date prefixes to restrict papers to; None: all.")

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PapersQueryEngine:
        """Open the index named by ``settings`` (loads the encoder); ``options`` are the fields above."""
        return cls(chain=AnswerChain(settings), **options)

    def retriever(self) -> PapersRetriever:
        """A retriever over the same chain and options (shares the open index)."""
        return PapersRetriever(self.chain, k=self.k, dates=self.dates, callback_manager=self.callback_manager)

    def custom_query(self, query_str: str) -> Response:
        answer = self.chain.answer(query_str, k=self.k, mode=self.mode, model=self.model, dates=self.dates)
        return to_response(answer)


def to_response(answer: Answer) -> Response:
    """An ``Answer`` as a llama-index ``Response`` (fields as in ``PapersQueryEngine``)."""
    return Response(
        response=answer.answer,
        source_nodes=source_nodes(answer.sources),
        metadata={
            "sentences": [s.as_dict() for s in answer.sentences],
            "citations": answer.citations,
            "abstained": answer.abstained,
            "coverage": answer.coverage,
            "mode": answer.mode,
            "model": answer.model,
            "error": answer.error,
        },
    )
