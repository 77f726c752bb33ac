"""``papers similar`` (``assistant.similar``) over a small crafted real index: the paper itself is
excluded, ``--k`` is respected, a near-duplicate topic ranks first, titles and ids resolve, and an
unknown title is one clear error with "did you mean" suggestions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import papers
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings, load_settings
from assistant.similar import PaperNotFound, resolve, similar
from assistant.store import PaperIndex

MOE = "Sparse Mixture-of-Experts Routing for Efficient Language Model Inference"
MOE_TWIN = "Load-Balanced Expert Routing in Sparse Mixture-of-Experts Transformers"
TRAFFIC = "Graph Neural Networks for Traffic Forecasting"
PAPERS = [
    {
        "title": MOE,
        "abstract": "Sparse mixture-of-experts layers activate only a few expert networks per token. "
        "We propose a load-balanced top-2 router that keeps every expert busy and cuts inference latency.",
        "arxiv_id": "2409.00001v2",
    },
    {
        "title": MOE_TWIN,
        "abstract": "Mixture-of-experts transformers route each token to a small subset of expert feed-forward "
        "networks. A balancing loss spreads tokens evenly over the experts, so sparse models infer faster.",
        "doi": "10.1234/MoE.2024.7",
        "date": "2024-09-24T12:00:00Z",
    },
    {
        "title": "Contrastive Pretraining of Protein Structure Encoders",
        "abstract": "We pretrain a geometric graph encoder of protein structures with a contrastive objective; "
        "it improves enzyme function prediction and fold classification.",
    },
    {
        "title": "Diffusion Models for Low-Light Image Enhancement",
        "abstract": "A conditional diffusion model maps dark, noisy night photographs to well-exposed images "
        "and outperforms prior enhancement networks on low-light benchmarks.",
    },
    {
        "title": TRAFFIC,
        "abstract": "Road sensors form a graph; a spatio-temporal graph neural network forecasts traffic speed "
        "an hour ahead more accurately than recurrent baselines.",
    },
    {
        "title": TRAFFIC,  # the same title, another paper: identity gives it an id of its own
        "abstract": "We forecast bicycle traffic counts at city docking stations with a graph network over the "
        "station network, weather and holidays.",
    },
    {
        "title": "A Recipe for Sourdough Bread Fermentation Kinetics",
        "abstract": "Wild yeast and lactic acid bacteria ferment sourdough; we model dough rise over time "
        "as a function of temperature and hydration.",
    },
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("similar")
    corpus = root / "papers.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n", encoding="utf-8")
    s = load_settings(index=root / "index", embedding=EmbeddingSettings(), chunking=ChunkSettings())
    assert run_ingest([corpus], s).papers == len(PAPERS)
    return s


@pytest.fixture(scope="module")
def index(settings: Settings) -> Iterator[PaperIndex]:
    opened = PaperIndex.open(settings)
    yield opened
    opened.close()


def test_near_duplicate_topic_ranks_first_and_itself_is_excluded(index: PaperIndex) -> None:
    moe, twin = resolve(index, MOE), resolve(index, MOE_TWIN)
    found = similar(index, moe, 3)
    assert found[0].paper_id == twin
    assert similar(index, twin, 1)[0].paper_id == moe
    assert moe not in {s.paper_id for s in found}
    scores = [s.score for s in found]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= x <= 1.0 for x in scores)


def test_k_is_respected(index: PaperIndex) -> None:
    moe = resolve(index, MOE)
    for k in (1, 2, 4):
        assert len(similar(index, moe, k)) == k
    everyone = similar(index, moe, 50)  # more than there are: every other paper, once
    assert len(everyone) == len(PAPERS) - 1 == len({s.paper_id for s in everyone})
    assert moe not in {s.paper_id for s in everyone}


def test_titles_and_ids_resolve(index: PaperIndex) -> None:
    moe = resolve(index, MOE)
    assert moe == "arxiv:2409.00001"
    for given in (
        "sparse mixture of experts routing, for efficient LANGUAGE model inference!",
        "  Sparse  Mixture-of-Experts Routing for Efficient Language Model Inference. ",
        "2409.00001",
        "arXiv:2409.00001v2",
        "https://arxiv.org/abs/2409.00001v1",
        "arxiv:2409.00001",
    ):
        assert resolve(index, given) == moe, given
    twin = resolve(index, MOE_TWIN)
    assert resolve(index, "https://doi.org/10.1234/moe.2024.7") == twin == resolve(index, "10.1234/MoE.2024.7")
    with pytest.raises(PaperNotFound, match="2 papers have the title"):
        resolve(index, TRAFFIC.lower())


def test_unknown_title_is_one_error_with_suggestions(index: PaperIndex) -> None:
    with pytest.raises(PaperNotFound) as typo:
        resolve(index, "Sparse Mixture of Expert Routing for Eficient Langauge Model Inference")
    message = str(typo.value)
    assert "no paper titled or identified" in message and "\n" not in message
    assert f"did you mean '{MOE}'" in message
    with pytest.raises(PaperNotFound) as words:  # a few words of a long title find it first
        resolve(index, "sparse inference")
    assert f"did you mean '{MOE}'" in str(words.value)
    with pytest.raises(PaperNotFound) as nothing:
        resolve(index, "zzzz qqqq")
    assert "did you mean" not in str(nothing.value)


def test_the_command(settings: Settings) -> None:
    runner = CliRunner()
    listed = runner.invoke(papers, ["--help"])
    assert "  similar " in listed.output  # plugged in through the papers.commands entry points
    where = ["--index", str(settings.index.path)]
    result = runner.invoke(papers, ["similar", MOE.upper(), "--k", "2", "--json", *where])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["paper_id"] == "arxiv:2409.00001" and len(payload["similar"]) == 2
    assert payload["similar"][0]["title"] == MOE_TWIN
    text = runner.invoke(papers, ["similar", "2409.00001", *where])
    assert text.exit_code == 0 and text.stdout.startswith(f"Papers similar to: {MOE}")
    assert len([line for line in text.stdout.splitlines() if line.startswith("  ")]) == 5  # --k defaults to 5
    missing = runner.invoke(papers, ["similar", "A Paper Nobody Wrote About Zebras", *where])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no paper titled or identified")
    assert runner.invoke(papers, ["similar", MOE, "--k", "0", *where]).exit_code == 2
    gone = runner.invoke(papers, ["similar", MOE, "--index", str(Path(settings.index.path) / "none")])
    assert gone.exit_code == 1 and "no index at" in gone.stderr


def test_empty_input_is_a_usage_error_and_json_formats_say_so_in_json(settings: Settings) -> None:
    runner = CliRunner()
    where = ["--index", str(settings.index.path)]
    for args in (["similar", "  ", *where], ["similar", "", "--json", *where]):
        result = runner.invoke(papers, args)
        assert result.exit_code == 2 and result.stderr == "error: give a paper title or id\n", args
        assert result.stdout == ('{"error": "give a paper title or id"}\n' if "--json" in args else "")
    for fmt in (["--json"], ["--format", "bundle"], ["--format", "json"]):
        asked = runner.invoke(papers, ["ask", "", *fmt, *where])
        assert asked.exit_code == 2 and json.loads(asked.stdout)["error"].startswith("the question is empty"), fmt
    assert runner.invoke(papers, ["ask", "", "--format", "markdown", *where]).stdout == ""


def test_the_list_shows_each_paper_id_and_its_day(settings: Settings) -> None:
    text = CliRunner().invoke(papers, ["similar", "2409.00001", "--index", str(settings.index.path)]).stdout
    lines = [line for line in text.splitlines() if line.startswith("  ")]
    assert all(re.search(r"\((arxiv|doi|title):[^)]+\)", line) for line in lines), lines
    assert not re.search(r"\d{4}-\d\d-\d\dT\d", text) and f"{MOE_TWIN} (doi:10.1234/moe.2024.7) — 2024-09-24" in text
