"""The llama-index seam (``assistant.llamaindex``), driven through llama-index's own API.

A private index of four short papers is built once for the module (real ingest: Chroma, BM25,
all-MiniLM-L6-v2); answers use mode "extract", so no LLM runs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from assistant.answer import ABSTAIN_TEXT, AnswerChain
from assistant.llamaindex import PapersQueryEngine, PapersRetriever
from assistant.settings import AnswerSettings, ChunkSettings, EmbeddingSettings, RetrievalSettings, Settings
from tests.index_helpers import REPO, subprocess_env, write_jsonl

MOE_TITLE = "Sparse Mixture-of-Experts Routing for Efficient Language Model Inference"
PAPERS = [
    {
        "title": MOE_TITLE,
        "abstract": "Sparse mixture-of-experts layers activate only a few expert networks per token. "
        "We propose a load-balanced top-2 routing scheme that keeps every expert busy during training. "
        "Our router reduces inference latency by 35% compared with dense transformers of equal quality.",
        "date": "2024-09-03",
        "url": "https://arxiv.org/abs/2409.00001",
    },
    {
        "title": "Contrastive Pretraining of Protein Structure Encoders",
        "abstract": "Protein structure encoders learn from few labelled structures. "
        "We pretrain a geometric graph encoder with a contrastive objective over substructures of the same protein. "
        "The pretrained encoder improves enzyme function prediction and fold classification accuracy.",
        "date": "2024-09-04",
        "url": "https://arxiv.org/abs/2409.00002",
    },
    {
        "title": "Diffusion Models for Low-Light Image Enhancement",
        "abstract": "Photographs taken at night are dark and noisy. "
        "We train a conditional diffusion model that maps low-light images to well-exposed ones. "
        "The method outperforms prior enhancement networks on three low-light benchmarks.",
        "date": "2024-09-05",
        "url": "https://arxiv.org/abs/2409.00003",
    },
    {
        "title": "Graph Neural Networks for Traffic Forecasting on Road Sensor Networks",
        "abstract": "Traffic speed depends on the road network around each sensor. "
        "We forecast traffic speed with a spatio-temporal graph neural network over road sensors. "
        "Forecasts an hour ahead are more accurate than recurrent baselines on two city datasets.",
        "date": "2024-09-07",
        "url": "https://arxiv.org/abs/2409.00005",
    },
]
MOE_Q = "How does sparse mixture-of-experts routing reduce inference latency?"
OFF_TOPIC_Q = "What is a good recipe for banana bread with walnuts?"
METADATA_KEYS = {"title", "paper_id", "date", "url", "n", "similarity"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> AnswerChain:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("llamaindex")
    settings = Settings(  # explicit sections: a config.toml or PAPERS_* cannot change what is built or asked
        index=root / "index",
        embedding=EmbeddingSettings(),
        chunking=ChunkSettings(),
        retrieval=RetrievalSettings(),
        answer=AnswerSettings(),
    )
    report = run_ingest([write_jsonl(root / "corpus" / "papers.jsonl", PAPERS)], settings)
    assert report.papers == len(PAPERS)
    return AnswerChain(settings)


def node_summary(nodes: list[NodeWithScore]) -> list[tuple[str, float | None, str, dict[str, object]]]:
    return [(n.node.node_id, n.score, n.node.get_content(), dict(n.node.metadata)) for n in nodes]


def test_retriever_returns_one_node_per_paper_best_first(chain: AnswerChain) -> None:
    retriever = PapersRetriever(chain, k=3)
    assert isinstance(retriever, BaseRetriever)

    nodes = retriever.retrieve(MOE_Q)

    sources = chain.retrieve(MOE_Q, k=3, evidence=False).sources
    assert len(nodes) == len(sources) == 3
    assert all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    first = nodes[0].node
    assert first.metadata["title"] == MOE_TITLE
    for rank, (node, source) in enumerate(zip(nodes, sources, strict=True), start=1):
        assert set(node.node.metadata) == METADATA_KEYS
        assert node.node.node_id == node.node.metadata["paper_id"] == source.paper_id
        assert node.node.metadata["n"] == rank == source.n
        assert node.score == pytest.approx(source.score)  # the fused score, not the cosine
        assert node.node.metadata["similarity"] == pytest.approx(source.similarity)
        assert node.node.get_content() == source.abstract  # the whole abstract, not the best chunk
    assert first.metadata["date"] == "2024-09-03"
    assert first.metadata["url"] == "https://arxiv.org/abs/2409.00001"
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    # what an LLM synthesizer would see: title and date with the abstract, no bookkeeping keys
    llm_view = first.get_content(MetadataMode.LLM)
    assert MOE_TITLE in llm_view and "2024-09-03" in llm_view and "similarity" not in llm_view

    # a QueryBundle and the async path give the same nodes
    assert node_summary(retriever.retrieve(QueryBundle(MOE_Q))) == node_summary(nodes)
    assert node_summary(asyncio.run(retriever.aretrieve(MOE_Q))) == node_summary(nodes)


def test_retriever_from_settings_and_abstain_option(chain: AnswerChain) -> None:
    retriever = PapersRetriever.from_settings(chain.settings, k=2)
    assert [n.node.metadata["title"] for n in retriever.retrieve(MOE_Q)][:1] == [MOE_TITLE]
    assert len(retriever.retrieve(OFF_TOPIC_Q)) == 2  # by default: the top k, however far off

    gated = PapersRetriever(chain, abstain=True)
    assert gated.retrieve(OFF_TOPIC_Q) == []
    assert gated.retrieve(MOE_Q)[0].node.metadata["title"] == MOE_TITLE


def test_query_engine_extract_answer_is_checked_and_cited(chain: AnswerChain) -> None:
    engine = PapersQueryEngine(chain=chain, mode="extract", k=3)
    assert isinstance(engine, CustomQueryEngine)

    response = engine.query(MOE_Q)

    assert isinstance(response, Response)
    expected = chain.answer(MOE_Q, k=3, mode="extract")
    assert response.response == expected.answer
    assert str(response) == expected.answer and expected.answer
    assert node_summary(response.source_nodes) == node_summary(PapersRetriever(chain, k=3).retrieve(MOE_Q))
    assert node_summary(engine.retriever().retrieve(MOE_Q)) == node_summary(response.source_nodes)

    meta = response.metadata
    assert meta is not None
    assert set(meta) == {"sentences", "citations", "abstained", "coverage", "mode", "model", "error"}
    assert meta["abstained"] is False and meta["mode"] == "extract" and meta["error"] is None
    assert meta["model"] == chain.settings.llm.model
    numbers = {n.node.metadata["n"] for n in response.source_nodes}
    assert meta["sentences"], "an on-topic question must get an extractive answer"
    for sentence in meta["sentences"]:
        assert set(sentence) == {"lead", "text", "citations", "support", "flagged", "note"}
        assert sentence["citations"] and set(sentence["citations"]) <= numbers
        assert f"[{sentence['citations'][0]}]" in response.response
    assert meta["sentences"] == [s.as_dict() for s in expected.sentences]
    assert meta["citations"] == expected.citations
    assert meta["citations"][0] == {"n": 1, "title": MOE_TITLE, "paper_id": response.source_nodes[0].node.node_id}
    assert response.get_formatted_sources()  # llama-index's own rendering of the nodes works

    assert str(asyncio.run(engine.aquery(MOE_Q))) == expected.answer


def test_query_engine_abstains_far_off_topic(chain: AnswerChain) -> None:
    response = PapersQueryEngine.from_settings(chain.settings, mode="extract").query(OFF_TOPIC_Q)

    assert isinstance(response, Response)
    assert response.metadata is not None
    assert response.metadata["abstained"] is True
    assert response.metadata["citations"] == [] and response.metadata["sentences"] == []
    assert str(response) == ABSTAIN_TEXT
    assert "[" not in str(response)


def test_cli_import_does_not_load_llama_index() -> None:
    code = "import assistant.cli, sys; assert not any(m.startswith('llama_index') for m in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(REPO), env=subprocess_env(), timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
