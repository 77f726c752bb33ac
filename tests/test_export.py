"""Exports (``assistant.export``, ``assistant.bibtex``): every format from a real answer on a small
real index in extract mode (no LLM), BibTeX parsed with a real parser (pybtex) and decoded back
with pylatexenc, stable unique keys, the answer bundle, ``ask --format``, and the UI's Export control.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from pybtex.database import parse_string

from assistant import ui
from assistant.answer import AnswerChain
from assistant.bibtex import bibtex, cite_key, escape_text, key_hash, unique_keys
from assistant.catalog import PaperEntry
from assistant.cli import main as ask
from assistant.display import shown_payload
from assistant.export import FORMATS, bundle, cited_papers, export, to_markdown, verdict
from assistant.render import answer_terminal
from assistant.result import Answer
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings, load_settings

DATA = Path(__file__).resolve().parent.parent / "data"

MOE_TITLE = "Schrödinger Routing: Sparse Mixture-of-Experts at 50% Latency & #1 on MoE_Bench {v2}"
PAPERS = [
    {
        "title": MOE_TITLE,
        "abstract": "Sparse mixture-of-experts layers activate only a few expert networks per token. "
        "We propose a load-balanced top-2 routing scheme that keeps every expert busy during training. "
        "Our router reduces inference latency by 35% compared with dense transformers of equal quality.",
        "authors": ["Zoë Müller", "Jan Łukasiewicz", "Research and Development Lab"],
        "arxiv_id": "2409.00001v2",
        "date": "2024-09-03",
    },
    {
        "title": "Contrastive Pretraining of Protein Structure Encoders",
        "abstract": "Protein structure encoders learn from few labelled structures. "
        "We pretrain a geometric graph encoder with a contrastive objective over substructures of the same protein. "
        "The pretrained encoder improves enzyme function prediction and fold classification accuracy.",
        "doi": "10.1234/prot.2024_5",
        "date": "Sep 4",
    },
    {
        "title": "Diffusion Models for Low-Light Image Enhancement",
        "abstract": "Photographs taken at night are dark and noisy. "
        "We train a conditional diffusion model that maps low-light images to well-exposed ones. "
        "The method outperforms prior enhancement networks on three low-light benchmarks.",
        "date": "Sep 5",
    },
    {
        "title": "Expert Choice Routing for Sparse Mixture-of-Experts Language Models",
        "abstract": "Routing tokens to experts decides how well sparse mixture-of-experts models scale. "
        "We let each expert choose its top tokens instead of each token choosing experts. "
        "Expert choice routing balances the load and lowers inference latency of sparse models.",
        "url": "https://example.org/papers/expert-choice?id=7#abstract",
        "date": "2024-09",
    },
]
MOE_Q = "How does sparse mixture-of-experts routing reduce inference latency?"


# -- a real answer on a small real index ---------------------------------------------------------


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from ingest.pipeline import run_ingest

    root = tmp_path_factory.mktemp("export")
    corpus = root / "papers.jsonl"
    corpus.write_text("\n".join(json.dumps(p) for p in PAPERS) + "\n", encoding="utf-8")
    s = load_settings(
        index=root / "index",
        embedding=EmbeddingSettings(),  # explicit: a config.toml or PAPERS_* cannot change what is built
        chunking=ChunkSettings(),
        ui={"username": "auditor", "password": "correct-horse-battery-staple"},
    )
    report = run_ingest([corpus], s)
    assert report.papers == len(PAPERS)
    return s


@pytest.fixture(scope="module")
def chain(settings: Settings) -> AnswerChain:
    return AnswerChain(settings)


@pytest.fixture(scope="module")
def answer(chain: AnswerChain) -> Answer:
    result = chain.answer(MOE_Q, mode="extract")
    assert result.coverage == "answered" and result.citations, result.as_dict()
    return result


def _ids_by_title(chain: AnswerChain) -> dict[str, str]:
    return {e.title: pid for pid, e in chain.retriever.index.manifest.papers.items()}


def test_text_and_json(answer: Answer, chain: AnswerChain, settings: Settings) -> None:
    index, threshold = chain.retriever.index, chain.scorer.threshold
    text = export(answer, "text", index, settings, threshold)
    assert text == answer_terminal(answer, threshold).text
    assert answer.answer.split(" [")[0][:40] in text and "Cited papers:" in text
    for c in answer.citations:
        assert f"[{c['n']}] {c['title']}" in text
    assert json.loads(export(answer, "json", index, settings, threshold)) == shown_payload(answer.as_dict())


def test_markdown_has_answer_support_and_escaped_references(answer: Answer, chain: AnswerChain) -> None:
    threshold = chain.scorer.threshold
    text = to_markdown(answer, threshold, cited_papers(answer, chain.retriever.index))
    assert text.startswith(f"# {MOE_Q}")
    assert "## Answer" in text and "## Support" in text and "## References" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(answer.sentences)
    for row, sentence in zip(rows, answer.sentences, strict=True):
        assert f"| {sentence.support:.2f} | {verdict(sentence, threshold)}" in row
    # the paper with special characters in its title, authors and an arXiv id
    top2 = chain.answer("Which load-balanced top-2 routing scheme keeps every expert busy?", mode="extract")
    assert _ids_by_title(chain)[MOE_TITLE] in {c["paper_id"] for c in top2.citations}
    text = to_markdown(top2, threshold, cited_papers(top2, chain.retriever.index))
    assert "Schrödinger Routing: Sparse Mixture-of-Experts at 50% Latency \\& \\#1 on MoE\\_Bench {v2}" in text
    assert "Zoë Müller, Jan Łukasiewicz" in text
    assert "arXiv:2409.00001 · <https://arxiv.org/abs/2409.00001> · `arxiv:2409.00001`" in text


def test_bibtex_of_the_cited_papers_parses(answer: Answer, chain: AnswerChain, settings: Settings) -> None:
    text = export(answer, "bibtex", chain.retriever.index, settings, chain.scorer.threshold)
    entries = parse_string(text, "bibtex").entries
    assert len(entries) == len(answer.citations)
    titles = {decode(e.fields["title"]) for e in entries.values()}
    assert titles == {c["title"] for c in answer.citations}


def test_bibtex_fields_by_kind_of_record(chain: AnswerChain) -> None:
    index = chain.retriever.index
    ids = _ids_by_title(chain)
    papers = index.manifest.papers.get_many(list(ids.values()))
    entries = parse_string(bibtex(papers), "bibtex").entries
    by_title = {decode(e.fields["title"]): e for e in entries.values()}
    arxiv = by_title[MOE_TITLE]
    assert arxiv.type == "misc"
    assert arxiv.fields["eprint"] == "2409.00001" and arxiv.fields["archivePrefix"] == "arXiv"
    assert arxiv.fields["url"] == "https://arxiv.org/abs/2409.00001"
    assert arxiv.fields["year"] == "2024" and arxiv.fields["month"] == "September"
    assert arxiv.fields["date"] == "2024-09-03" and arxiv.fields["version"] == "2"
    authors = [decode(str(p)) for p in arxiv.persons["author"]]
    assert len(authors) == 3 and decode(str(arxiv.persons["author"][2])).startswith("Research and Development")
    assert "Müller" in authors[0] and "Łukasiewicz" in authors[1]
    doi = by_title["Contrastive Pretraining of Protein Structure Encoders"]
    assert doi.fields["doi"] == "10.1234/prot.2024_5" and doi.fields["month"] == "September"
    assert "year" not in doi.fields and "eprint" not in doi.fields  # "Sep 4" names no year: none invented
    web = by_title["Expert Choice Routing for Sparse Mixture-of-Experts Language Models"]
    assert web.fields["url"] == "https://example.org/papers/expert-choice?id=7#abstract"
    assert web.fields["date"] == "2024-09" and web.fields["year"] == "2024"


def test_bundle_records_what_the_answer_was_read_from(answer: Answer, chain: AnswerChain, settings: Settings) -> None:
    index, threshold = chain.retriever.index, chain.scorer.threshold
    text = export(answer, "bundle", index, settings, threshold)
    assert "correct-horse-battery-staple" not in text  # the UI password is masked
    with_url = settings.model_copy(
        update={"llm": settings.llm.model_copy(update={"api_base": "http://me:s3cret-pass@127.0.0.1:9/v1"})}
    )
    dumped = json.loads(export(answer, "bundle", index, with_url, threshold))["settings"]["llm"]["api_base"]
    assert dumped == "http://me:***@127.0.0.1:9/v1"  # a password in a URL is masked too
    data = json.loads(text)
    assert data["bundle"] == 1 and data["question"] == MOE_Q and data["answer"] == answer.answer
    assert data["index"]["generation"] == index.manifest.generation >= 1
    catalog = settings.index.path / "papers.sqlite"
    assert data["index"]["catalog_sha256"] == hashlib.sha256(catalog.read_bytes()).hexdigest()
    assert data["index"]["embedding_model"] == index.manifest.embedding_model
    assert data["model"] is None and data["mode"] == "extract"  # no model ran
    assert data["index"]["path"] == str(settings.index.path.resolve())
    assert data["settings"]["index"]["path"] == str(settings.index.path)
    assert data["settings"]["ui"]["username"] == "auditor"
    assert [(r["paper_id"], r["score"]) for r in data["retrieved"]] == [(s.paper_id, s.score) for s in answer.sources]
    papers = index.manifest.papers
    for r in data["retrieved"]:
        assert r["record_sha256"] == hashlib.sha256(papers[r["paper_id"]].model_dump_json().encode()).hexdigest()
    assert len(data["sentences"]) == len(answer.sentences)
    by_n = {s.n: s.paper_id for s in answer.sources}
    for got, sentence in zip(data["sentences"], answer.sentences, strict=True):
        assert got["verdict"] == verdict(sentence, threshold) in {"supported", "weak", "flagged", "unsupported"}
        assert got["cited_ids"] == [by_n[n] for n in sentence.citations]
    assert data["decision"]["coverage"] == "answered"
    assert bundle(answer, index, settings, threshold)["support_threshold"] == threshold


def test_ask_format_on_the_command_line(settings: Settings) -> None:
    runner = CliRunner()
    base = ["--index", str(settings.index.path), "--mode", "extract", MOE_Q]
    as_json = runner.invoke(ask, ["--json", *base])
    as_format = runner.invoke(ask, ["--format", "json", *base])
    assert as_json.exit_code == as_format.exit_code == 0, as_json.output + as_format.output
    one, two = json.loads(as_json.stdout), json.loads(as_format.stdout)
    one.pop("timings"), two.pop("timings")
    assert one == two
    bib = runner.invoke(ask, ["--format", "bibtex", *base])
    assert bib.exit_code == 0 and parse_string(bib.stdout, "bibtex").entries
    audit = runner.invoke(ask, ["--format", "bundle", *base])
    assert audit.exit_code == 0 and json.loads(audit.stdout)["index"]["generation"] >= 1
    both = runner.invoke(ask, ["--json", "--format", "markdown", *base])
    assert both.exit_code == 2 and "--json is --format json" in both.output
    retrieve = runner.invoke(ask, ["--retrieve-only", "--format", "bibtex", *base])
    assert retrieve.exit_code == 2
    missing = runner.invoke(ask, ["--format", "bundle", "--index", str(settings.index.path / "none"), MOE_Q])
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"].startswith("no index at")
    assert set(FORMATS) == {"text", "markdown", "json", "bibtex", "bundle"}


def test_the_bundle_names_its_index_resolved_and_no_model_for_extract(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(settings.index.path.parent)
    typed = ["--index", settings.index.path.name, "--mode", "extract", "--format", "bundle", MOE_Q]
    audit = CliRunner().invoke(ask, typed)
    assert audit.exit_code == 0, audit.output
    data = json.loads(audit.stdout)
    assert data["index"]["path"] == str(settings.index.path.resolve()) and data["model"] is None


def test_ui_export_control_offers_markdown_and_bibtex(settings: Settings, chain: AnswerChain) -> None:
    app = ui.build_app(settings, chain)
    ids = {getattr(block, "elem_id", None) for block in app.blocks.values()}
    assert {"export", "export-md", "export-bib", "similar-paper", "similar-go"} <= ids
    handlers = ui.Handlers(settings, chain)
    *_, turns, _, _ = list(handlers.respond(MOE_Q, [], [], mode="extract"))[-1]
    md_button, bib_button, like = handlers.after_answer(turns)
    assert md_button.interactive and bib_button.interactive
    # Gradio has already copied each file into its cache (what the browser downloads): read that copy
    markdown = Path(md_button.value["path"]).read_text(encoding="utf-8")
    assert markdown.startswith(f"# {MOE_Q}") and "## References" in markdown
    entries = parse_string(Path(bib_button.value["path"]).read_text(encoding="utf-8"), "bibtex").entries
    assert len(entries) == len(turns[-1]["result"].citations)
    paper = like.choices[0][1]
    assert "Papers like" in handlers.more_like_this(paper, 2)
    assert "⚠ no paper titled" in handlers.more_like_this("zzzz qqqq")
    off_md, off_bib, cleared = handlers.after_answer([])
    assert not off_md.interactive and not off_bib.interactive and cleared.choices == []


# -- escaping, keys, the whole bundled corpus (no index needed) ----------------------------------


def _decoder():  # type: ignore[no-untyped-def]
    """pylatexenc's LaTeX-to-text, math kept verbatim, knowing the LaTeX kernel's text symbols it lacks."""
    from pylatexenc import latex2text, latexwalker, macrospec

    symbols = {
        "textbraceleft": "{",
        "textbraceright": "}",
        "textless": "<",
        "textgreater": ">",
        "textbar": "|",
        "textasciicircum": "^",
    }
    text_db = latex2text.get_default_latex_context_db()
    text_db.add_context_category(
        "kernel", prepend=True, macros=[latex2text.MacroTextSpec(n, s) for n, s in symbols.items()]
    )
    walk_db = latexwalker.get_default_latex_context_db()
    walk_db.add_context_category("kernel", prepend=True, macros=[macrospec.MacroSpec(n, "") for n in symbols])
    to_text = latex2text.LatexNodes2Text(latex_context=text_db, math_mode="verbatim")
    return lambda value: to_text.nodelist_to_text(
        latexwalker.LatexWalker(value, latex_context=walk_db).get_latex_nodes()[0]
    )


_DECODE = _decoder()


def decode(value: str) -> str:
    """A BibTeX field value as the text LaTeX prints (the title's protecting braces dropped)."""
    return unicodedata.normalize("NFC", " ".join(_DECODE(value).split()))


def _entry(title: str, **fields: object) -> PaperEntry:
    return PaperEntry(title=title, abstract="An abstract.", hash="h", chunk_ids=[], **fields)  # type: ignore[arg-type]


TRICKY = [
    r"\textbf{Bold} claims and \emph{emphasis} in a title",
    r"$\input{/etc/passwd}$ and \write18{rm -rf /} are text",
    r"$^^5cinput{/etc/passwd}$ and $\mathrm{^^5cwrite18}$ are text too",
    "Schrödinger, Erdős, Łódź, naïve façade, Ångström, ǖ and φ-Decoding",
    "Braces {kept} and unbalanced { left and } } right",
    "100% of #hashtags & snake_case_names cost $5 ~ 10^3 < 2 > 1 | x",
    r"Beyond $\ell_1$ sparse coding and $O(n^2)$ memory with $\{x\}$",
    r"Backslash \ alone and \\ twice, a $ lone dollar and $$ display $$",
    "Dashes -- and --- and ``quotes'' and ,,low,, stay as typed",
    "Tab\tand\nnewline\u200b and control\x07 characters",
]


@pytest.mark.parametrize("title", TRICKY)
def test_escaping_round_trips_through_a_real_parser(title: str) -> None:
    paper = _entry(title, authors=[title[:20]])
    entry = parse_string(bibtex({"title:t": paper}), "bibtex").entries[cite_key("title:t", paper)]
    expected = " ".join("".join(ch for ch in title if ch.isprintable() or ch.isspace()).split())
    assert decode(entry.fields["title"]) == unicodedata.normalize("NFC", expected)
    for command in (r"\input", r"\write", r"\textbf", r"\emph"):  # LaTeX in prose is printed, not run
        assert command not in escape_text(title)


def test_safe_math_is_kept_and_accents_are_commands() -> None:
    assert escape_text(r"Beyond $\ell_1$ sparse") == r"Beyond $\ell_1$ sparse"
    assert escape_text(r"$\input{x}$") == r"\$\textbackslash{}input\textbraceleft{}x\textbraceright{}\$"
    # ^^5c is a backslash to TeX: a math span using ^^ is text, not kept
    assert escape_text(r"$^^5cinput{/etc/passwd}$") == (
        r"\$\textasciicircum{}\textasciicircum{}5cinput\textbraceleft{}/etc/passwd\textbraceright{}\$"
    )
    assert escape_text(r"$x^^M$ and $a^2$") == r"\$x\textasciicircum{}\textasciicircum{}M\$ and $a^2$"
    assert escape_text("Schrödinger ï") == r"Schr{\"{o}}dinger {\"{\i}}"
    assert escape_text("φ") == "φ"  # no command for it under pdfLaTeX's defaults: kept as UTF-8
    assert escape_text("a { b") == r"a \textbraceleft{} b"  # never an unbalanced brace


def test_keys_are_stable_and_unique() -> None:
    attention = _entry("Attention Is All You Need", authors=["Ashish Vaswani"], arxiv_id="1706.03762")
    key = cite_key("arxiv:1706.03762", attention)
    assert key == f"vaswani2017attention-{key_hash('arxiv:1706.03762')}"
    other = _entry("Happy: A Debiased Learning Framework", date="Sep 3")
    alone = unique_keys({"arxiv:1706.03762": attention})
    together = unique_keys({"title:h": other, "arxiv:1706.03762": attention})
    assert alone["arxiv:1706.03762"] == together["arxiv:1706.03762"] == key  # whatever else is cited
    assert together["title:h"].startswith("happydebiased-")
    # two papers whose 6-hex hashes collide (same title, so the same base): longer hashes part them
    seen: dict[str, str] = {}
    for i in range(100_000):
        pid = f"title:{i}"
        prefix = key_hash(pid)
        if prefix in seen:
            break
        seen[prefix] = pid
    first, second = seen[prefix], pid
    same = _entry("Same Title")
    keys = unique_keys({first: same, second: same})
    assert len(set(keys.values())) == 2 and all(len(k.split("-")[-1]) == 12 for k in keys.values())
    assert parse_string(bibtex({first: same, second: same}), "bibtex").entries


def test_bibtex_for_every_paper_of_the_bundled_corpus() -> None:
    from ingest.readers import read_paths
    from ingest.records import Paper, base_id

    papers: dict[str, PaperEntry] = {}
    for record in read_paths([DATA]):
        if isinstance(record, Paper):
            papers.setdefault(
                base_id(record),
                _entry(
                    record.title,
                    date=record.date,
                    url=record.url,
                    authors=record.authors,
                    arxiv_id=record.arxiv_id,
                    doi=record.doi,
                ),
            )
    assert len(papers) > 400
    text = bibtex(papers)
    entries = parse_string(text, "bibtex").entries
    assert len(entries) == len(papers)  # every key unique, every entry parsed
    keys = unique_keys(papers)
    for pid, paper in papers.items():
        assert decode(entries[keys[pid]].fields["title"]) == unicodedata.normalize("NFC", paper.title), pid
    assert bibtex(papers) == text  # stable across runs


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("- a sentence that starts like a list item", "\\- a sentence that starts like a list item"),
        ("1. a numbered start", "1\\. a numbered start"),
        ("12) another", "12\\) another"),
        ("= a setext underline", "\\= a setext underline"),
        ("2024 saw a 2x speed-up - reported [1].", "2024 saw a 2x speed-up - reported \\[1\\]."),
    ],
)
def test_markdown_text_never_starts_a_list_or_heading(text: str, escaped: str) -> None:
    from assistant.export import md, md_line

    assert md_line(text) == escaped
    assert md("2409.00001") == "2409.00001"  # inside a line (an arXiv id after "arXiv:") nothing changes
