"""Readers for the five input formats, over small fixtures in tests/fixtures/ingest/ (no model, no index)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.identity import deduplicate
from ingest.readers import read_file, read_paths
from ingest.records import Paper, Skipped, normalise_arxiv_id
from tests.index_helpers import BAD_FIXTURE_SKIPS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"


def _read(name: str) -> tuple[list[Paper], list[Skipped]]:
    items = list(read_file(FIXTURES / name))
    return [i for i in items if isinstance(i, Paper)], [i for i in items if isinstance(i, Skipped)]


# -- Hugging Face Daily Papers page dumps --------------------------------------------------------


def test_daily_papers_with_blank_lines_skips_chrome_and_keeps_page_dates() -> None:
    papers, _ = _read("daily_blank.txt")
    assert [p.title for p in papers] == [
        "Sparse Mixture Routing for Efficient Long-Context Language Models",
        "Graph Neural Networks Meet Optimal Transport for Molecule Property Prediction",
        "Calibrated Uncertainty for Retrieval-Augmented Question Answering",
    ]
    # the date line above a paper is its page date, until the next date line
    assert [p.date for p in papers] == ["Sep 3", "Sep 3", "Sep 4"]
    # chrome ("new", "Subscribe", "Daily Papers", "byAK ...") never becomes a title or an abstract
    chrome = {"new", "subscribe", "daily papers", "byak and the research community"}
    assert not any(p.title.lower() in chrome or p.title.startswith("Get trending") for p in papers)
    # each paper points at its title line
    assert [p.line for p in papers] == [13, 19, 25]
    assert papers[1].abstract.startswith("Predicting molecular properties")


def test_daily_papers_title_without_abstract_is_reported_with_its_line() -> None:
    papers, skipped = _read("daily_blank.txt")
    assert len(skipped) == 1
    assert skipped[0].source.endswith("daily_blank.txt")
    assert skipped[0].line == 17
    assert "Orphan Title With No Abstract Below It" in skipped[0].reason
    assert "no abstract" in skipped[0].reason
    # the orphan does not swallow the next paper
    assert "Graph Neural Networks Meet Optimal Transport for Molecule Property Prediction" in {p.title for p in papers}


def test_daily_papers_github_url_is_kept_as_link_metadata() -> None:
    papers, _ = _read("daily_blank.txt")
    assert papers[0].links == ["https://github.com/example-lab/sparse-routing"]  # trailing full stop dropped
    assert papers[1].links == []


def test_daily_papers_without_blank_lines_and_with_glued_subscribe() -> None:
    papers, skipped = _read("daily_compact.txt")
    assert skipped == []
    assert [p.title for p in papers] == [
        "Contrastive Pretraining of Speech Encoders with Noisy Transcripts",  # "Subscribe" glued in front
        "Federated Learning Under Label Shift with Provable Convergence",
    ]
    assert [p.line for p in papers] == [3, 5]
    assert all(p.date is None for p in papers)  # no date line in this dump
    assert papers[1].abstract.startswith("Clients in federated learning")


def test_daily_papers_title_starting_with_subscribe_word_is_not_cut() -> None:
    from ingest.readers.daily_papers import read

    abstract = "We model churn. " * 20
    papers = [p for p in read(f"Subscriber Churn Prediction with Survival Forests\n{abstract}\n", "x.txt")]
    assert [p.title for p in papers if isinstance(p, Paper)] == ["Subscriber Churn Prediction with Survival Forests"]


def test_real_corpus_dumps_read_without_skips() -> None:
    data = Path(__file__).resolve().parent.parent / "data"
    items = list(read_paths([data]))
    papers = [i for i in items if isinstance(i, Paper)]
    assert [i for i in items if isinstance(i, Skipped)] == []
    assert len(papers) == 557
    assert sum(1 for p in papers if any("github.com" in link for link in p.links)) > 50
    unique, merges = deduplicate(papers)
    assert (len(unique), len(merges)) == (502, 55)


# -- JSONL and CSV -------------------------------------------------------------------------------


def test_jsonl_title_abstract_or_summary_with_optional_fields() -> None:
    papers, skipped = _read("papers.jsonl")
    assert skipped == []
    first, second = papers
    assert first.title == "Diffusion Policies for Dexterous Robot Manipulation"
    assert first.arxiv_id == "2401.01234" and first.paper_id == "arxiv:2401.01234"
    assert first.authors == ["Ada Lovelace", "Alan Turing"]
    assert first.date == "2024-01-03"
    assert first.url == "https://arxiv.org/abs/2401.01234"
    assert first.line == 1
    # "summary" stands in for "abstract"; the blank line 2 is passed over, line numbers stay physical
    assert second.abstract.startswith("We prune uninformative image tokens")
    assert second.line == 3
    assert second.arxiv_id is None and second.paper_id.startswith("title:")


def test_csv_with_optional_columns_and_multiline_abstract() -> None:
    papers, skipped = _read("papers.csv")
    assert skipped == []
    first, second = papers
    assert first.arxiv_id == "2402.05678"
    assert first.authors == ["Grace Hopper", "Edsger Dijkstra"]  # "; "-separated in one cell
    assert first.date == "2024-02-08"
    assert first.url == "https://arxiv.org/abs/2402.05678"
    assert (first.line, second.line) == (2, 3)  # a quoted abstract spanning lines 3-4 starts on line 3
    assert second.abstract == (
        "Depth networks trained on monocular video suffer from moving objects. We mask moving objects "
        "with an optical-flow consistency check and improve depth accuracy on KITTI."
    )
    assert second.arxiv_id is None and second.authors == [] and second.url is None


def test_csv_with_summary_column_and_capitalised_header() -> None:
    papers, skipped = _read("summary.csv")
    assert skipped == []
    assert [p.title for p in papers] == ["Learning to Rank Code Completions with Execution Feedback"]
    assert papers[0].abstract.startswith("We rerank code completions")


# -- arXiv API Atom and HF daily-papers API JSON -------------------------------------------------


def test_arxiv_atom_feed() -> None:
    papers, skipped = _read("arxiv.xml")
    assert skipped == []
    assert len(papers) == 2
    first = papers[0]
    assert first.title == "Dense Retrieval with Late Interaction over Compressed Token Embeddings"  # unwrapped
    assert first.abstract.startswith(
        "Late-interaction retrievers store one vector per token, which makes their indexes"
    )
    assert "\n" not in first.abstract
    assert first.arxiv_id == "2403.00101"  # version suffix dropped
    assert first.url == "http://arxiv.org/abs/2403.00101v2"
    assert first.authors == ["Barbara Liskov", "Donald Knuth"]
    assert first.date == "2024-03-01T18:00:01Z"
    assert papers[1].authors == ["Tim Berners-Lee"]
    assert papers[1].arxiv_id == "2403.00202"


def test_hf_daily_papers_api_json() -> None:
    papers, skipped = _read("hf_daily.json")
    assert skipped == []
    assert [p.title for p in papers] == [
        "Speculative Decoding with Draft Trees",
        "Watermarking Images Generated by Diffusion Models",
    ]
    first = papers[0]
    assert first.arxiv_id == "2404.11111"
    assert first.authors == ["Katherine Johnson", "Claude Shannon"]
    assert first.date == "2024-04-15T09:00:00.000Z"  # paper.publishedAt (camelCase key)
    assert first.url == "https://arxiv.org/abs/2404.11111"
    assert first.abstract.startswith("We organise draft tokens")
    assert papers[1].authors == ["John von Neumann"]


def test_same_paper_from_two_formats_is_one_paper() -> None:
    jsonl = Paper(
        title="Diffusion Policies for Dexterous Robot Manipulation", abstract="A longer abstract wins…", source="a"
    )
    atom = Paper(
        title="Diffusion policies for dexterous robot manipulation",
        abstract="A longer abstract wins over a truncated one.",
        source="b",
        arxiv_id="http://arxiv.org/abs/2401.01234v3",
        date="2024-01-03",
    )
    unique, merges = deduplicate([jsonl, atom])
    assert len(merges) == 1 and len(unique) == 1
    assert merges[0].reason == "same title; one abstract is a truncation of the other"
    assert unique[0].arxiv_id == "2401.01234"
    assert unique[0].abstract == "A longer abstract wins over a truncated one."


def test_non_arxiv_ids_do_not_merge_different_papers() -> None:
    a = Paper(title="Paper A about kernels", abstract="About kernels.", source="a.csv", arxiv_id="1")
    b = Paper(title="Paper B about graphs", abstract="About graphs.", source="b.jsonl", arxiv_id="1")
    unique, merges = deduplicate([a, b])
    assert (len(unique), len(merges)) == (2, 0)
    assert a.paper_id != b.paper_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://arxiv.org/abs/2401.01234v2", "2401.01234"),
        ("2401.01234", "2401.01234"),
        ("10.48550/arXiv.2401.01234", "2401.01234"),
        ("hep-th/9901001v1", "hep-th/9901001"),
        ("42", None),
        ("10.1145/3292500.3330701", None),
    ],
)
def test_normalise_arxiv_id(raw: str, expected: str | None) -> None:
    assert normalise_arxiv_id(raw) == expected


# -- bad input: reported with file, line and reason; the good records still read -----------------


def test_bad_files_are_reported_and_good_records_kept() -> None:
    bad = FIXTURES.parent / "ingest_bad"
    items = list(read_paths([bad]))
    papers = [i for i in items if isinstance(i, Paper)]
    skipped = {(Path(s.source).name, s.line): s.reason for s in items if isinstance(s, Skipped)}
    assert {p.title for p in papers} == {
        "Low-Rank Adapters for Speech Recognition",
        "Curriculum Learning for Theorem Proving",
        "Neural Fields for Sparse-View Tomography",
    }
    assert set(skipped) == BAD_FIXTURE_SKIPS
    assert "binary" in skipped[("binary.txt", None)]
    assert "UTF-8" in skipped[("latin1.jsonl", 1)]
    assert "no abstract" in skipped[("orphan.txt", 5)]
    assert "malformed JSON" in skipped[("malformed.jsonl", 2)]
    assert "'title'" in skipped[("nocolumns.csv", 1)] and "'abstract'" in skipped[("nocolumns.csv", 1)]


def test_unsupported_missing_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# not a paper collection\n")
    (tmp_path / ".hidden.jsonl").write_text('{"title": "Hidden", "abstract": "Never read."}\n')
    items = list(read_paths([tmp_path, tmp_path / "missing.jsonl"]))
    assert all(isinstance(i, Skipped) for i in items)
    reasons = {Path(i.source).name: i.reason for i in items}
    assert set(reasons) == {"notes.md", "missing.jsonl"}  # the hidden file is passed over
    assert "unsupported file type '.md'" in reasons["notes.md"]
    assert "no such file" in reasons["missing.jsonl"]


def test_hf_daily_ids_that_are_not_arxiv_ids_are_skipped_naming_file_and_item(tmp_path: Path) -> None:
    item = {"title": "A Paper", "summary": "An abstract about retrieval.", "authors": []}
    items = [
        {"paper": {**item, "id": "../../etc/passwd"}},
        {"paper": {**item, "id": "2409.01234v2", "title": "New style"}},
        {"paper": {**item, "id": "hep-th/9901001", "title": "Old style"}},
        {"paper": {**item, "id": "x2409.01234/../y", "title": "Hidden"}},
        {"paper": {**item, "id": "https://arxiv.org/abs/2409.01234", "title": "A URL"}},
    ]
    file = tmp_path / "day.json"
    file.write_text(__import__("json").dumps(items), encoding="utf-8")
    read = list(read_file(file))
    papers = [r for r in read if isinstance(r, Paper)]
    skipped = [r for r in read if isinstance(r, Skipped)]
    assert [(p.title, p.arxiv_id, p.url) for p in papers] == [
        ("New style", "2409.01234", "https://arxiv.org/abs/2409.01234v2"),
        ("Old style", "hep-th/9901001", "https://arxiv.org/abs/hep-th/9901001"),
    ]
    assert [(s.source, s.line) for s in skipped] == [(str(file), None)] * 3
    assert skipped[0].reason == "item 1: paper.id '../../etc/passwd' is not an arXiv id (NNNN.NNNNN or archive/NNNNNNN)"
    assert skipped[0].where == str(file) and Skipped("f.jsonl", 3, "r").where == "f.jsonl:3"
    assert all("etc/passwd" not in (p.url or "") for p in papers)


def test_a_fetched_folder_is_read_without_its_job_records(tmp_path: Path) -> None:
    job = tmp_path / "fetched" / "daily" / "2024-09-03"
    job.mkdir(parents=True)
    (job / "job.json").write_text('{"source": "daily", "key": "2024-09-03", "params": {}, "runs": []}')
    (job / "0000.json").write_text('[{"paper": {"id": "2409.00003", "title": "T", "summary": "An abstract."}}]')
    read = list(read_paths([tmp_path / "fetched"]))
    assert [type(r).__name__ for r in read] == ["Paper"], read
