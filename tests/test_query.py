"""The question read once (assistant.query): intents, abbreviations both ways, relative dates, code,
authors and negation, each phrasing kind with the right reading asserted. Pure: no index, no model;
the abbreviation table is read from the bundled corpus's own abstracts."""

from __future__ import annotations

import pytest

from assistant.abbreviations import Abbreviations, find_pairs
from assistant.query import read_question, resolve_relative, strip_code
from tests.index_helpers import DATA

DAYS = ["2024-08-20", "2024-09-02", "2024-09-03", "2024-09-12"]


@pytest.fixture(scope="module")
def table() -> Abbreviations:
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(DATA.iterdir()) if p.is_file()]
    return Abbreviations.build(texts)


def test_schwartz_hearst_pairs() -> None:
    text = "Large language models (LLMs) and graph neural networks (GNNs) meet Monte Carlo Tree Search (MCTS)."
    assert find_pairs(text) == [
        ("LLM", "large language models"),
        ("GNN", "graph neural networks"),
        ("MCTS", "monte carlo tree search"),
    ]
    assert find_pairs("the results (see Table 2) and (p < 0.05)") == []


def test_abbreviations_both_ways_from_the_collection(table: Abbreviations) -> None:
    assert table.expand["LLM"][0] == "large language model"
    q = read_question("How can LLM inference be made faster?", abbreviations=table)
    assert "large language model" in q.search and q.expansions == ("large language model",)
    assert q.core == "How can LLM inference be made faster?"
    back = read_question("speculative decoding for large language models", abbreviations=table)
    assert "LLM" in back.expansions


@pytest.mark.parametrize(
    ("question", "intent", "flags"),
    [
        ("What is speculative decoding?", "topic", ()),
        ("Which papers use GPT-4 to search for neural architectures?", "list", ("list",)),
        ("How many papers are about speculative decoding?", "count", ("count", "list")),
        ("How many problems does the MBPP benchmark contain?", "topic", ()),  # a detail, not a count of papers
        ("Which paper reports the highest accuracy on GSM8K?", "superlative", ("list", "superlative")),
        ("Compare SpecTr and Draft & Verify", "comparison", ("comparison",)),
        ("Does NAS beat random search?", "yesno", ("yesno",)),
        ("Which papers did Yoshua Bengio write?", "author", ("list", "author")),
        ("What are the latest papers on diffusion?", "list", ("list", "recency")),
        ("Which papers do NOT use transformers?", "negation", ("list", "negation")),
    ],
)
def test_intent(question: str, intent: str, flags: tuple[str, ...]) -> None:
    q = read_question(question)
    assert q.intent == intent, q
    assert set(flags) <= set(q.flags), q.flags


def test_authors_and_their_words_leave_the_search() -> None:
    q = read_question("Which papers did Yoshua Bengio write on diffusion?")
    assert q.authors == ("Yoshua Bengio",)
    assert "Bengio" not in q.search and "diffusion" in q.search
    assert read_question("papers by A. Vaswani").authors == ("A. Vaswani",)


def test_negated_terms_are_read_and_left_out_of_the_search() -> None:
    q = read_question("Which diffusion papers do not use transformers?")
    assert q.negated == ("transformers",)
    assert "transformers" not in q.search and "diffusion" in q.search


def test_code_does_not_sink_the_search() -> None:
    question = (
        "Why is my BM25 ranking slow?\n```python\nimport bm25s\nretriever = bm25s.BM25()\nretriever.index(tokens)\n```"
    )
    q = read_question(question)
    assert q.code_removed and "import" not in q.search and "retriever" not in q.search
    assert "BM25" in q.search and "slow" in q.search
    assert "Code pasted in the question" in q.note
    text, removed = strip_code("plain words, no code")
    assert (text, removed) == ("plain words, no code", False)


@pytest.mark.parametrize(
    ("question", "first", "last", "count"),
    [
        ("papers from last week on diffusion", "2024-09-12", "2024-09-06", 7),
        ("what appeared in the past 3 days", "2024-09-12", "2024-09-10", 3),
        ("anything yesterday?", "2024-09-11", "2024-09-11", 1),
    ],
)
def test_relative_dates_count_back_from_the_newest_paper(question: str, first: str, last: str, count: int) -> None:
    dates, note = resolve_relative(question, DAYS)
    assert dates is not None and (dates[0], dates[-1], len(dates)) == (first, last, count)
    assert "counted back from the newest paper" in note
    q = read_question(question, collection_days=DAYS)
    assert q.dates == dates and q.dates_from == "relative" and "recency" in q.flags


def test_years_and_undated_collections() -> None:
    dates, note = resolve_relative("diffusion papers in 2024", DAYS)
    assert dates == [f"2024-{m:02d}" for m in range(1, 13)] and "2024" in note
    none, why = resolve_relative("papers from last week", ["--09-03"])
    assert none == [] and "no indexed paper carries a full date" in why
    q = read_question("diffusion papers in 2024", collection_days=DAYS)
    assert "2024" not in q.search and "diffusion" in q.search


def test_explicit_date_flag_wins() -> None:
    q = read_question("papers from last week", dates=["Sep 3"], collection_days=DAYS)
    assert q.dates == ["Sep 3"] and q.dates_from == "flag"


def test_the_collections_days_are_read_only_for_a_relative_date() -> None:
    """Reading every dated paper's row costs ~0.2 s at 100k papers: a question without a relative
    date must not pay it (the days come as a function, called only when one is named)."""
    asked: list[int] = []

    def days() -> list[str]:
        asked.append(1)
        return DAYS

    q = read_question("How can LLM inference be made faster?", collection_days=days)
    assert asked == [] and q.dates is None
    q = read_question("papers from last week on diffusion", collection_days=days)
    assert asked == [1] and q.dates is not None and q.dates[0] == "2024-09-12"
