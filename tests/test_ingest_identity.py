"""Ingest never merges two papers or loses one: identity, clean text, total readers, no network.

Each case is modelled on a public bug report of a similar tool. Reader-level cases run on the
readers; pipeline cases ingest into a real index (real Chroma, BM25 and the packaged MiniLM).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.errors import InputError
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.cli import main as ingest_main
from ingest.identity import abstracts_agree, deduplicate, title_key
from ingest.pipeline import run_ingest
from ingest.readers import read_file, read_paths
from ingest.records import Paper, Skipped, clean_text
from tests.index_helpers import subprocess_env, write_jsonl

NON_LATIN = [
    ("基于图神经网络的分子性质预测", "本文提出一种基于图神经网络的分子性质预测方法，在多个基准上取得了更好的结果。"),
    (
        "Обучение с подкреплением для роботов",
        "Мы изучаем обучение с подкреплением для управления роботами в реальном мире.",
    ),
    ("Μάθηση χωρίς επίβλεψη", "Μελετάμε μεθόδους μάθησης χωρίς επίβλεψη για την ομαδοποίηση δεδομένων."),
]


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _papers(items: list[Paper | Skipped]) -> list[Paper]:
    return [i for i in items if isinstance(i, Paper)]


def _skipped(items: list[Paper | Skipped]) -> list[Skipped]:
    return [i for i in items if isinstance(i, Skipped)]


def _read(tmp_path: Path, name: str, text: str | bytes) -> list[Paper | Skipped]:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return list(read_file(path))


# -- identity ------------------------------------------------------------------------------------


def test_title_keys_keep_every_script_and_are_never_shared_by_symbol_titles() -> None:
    keys = [title_key(t) for t, _ in NON_LATIN]
    assert all(keys) and len(set(keys)) == 3
    assert title_key("Graphs &amp; Networks") != "" and title_key("ＧＲＡＰＨＳ") == "graphs"  # NFKC + casefold
    a = Paper(title="∑", abstract="First abstract about sums.", source="a")
    b = Paper(title="⊗", abstract="Second abstract about tensor products.", source="b")
    assert a.paper_id != b.paper_id and a.paper_id.startswith("text:")
    unique, merges = deduplicate([a, b])
    assert (len(unique), merges) == (2, [])


def test_non_latin_titles_are_three_papers() -> None:
    papers = [Paper(title=t, abstract=a, source="x.jsonl", line=i) for i, (t, a) in enumerate(NON_LATIN, 1)]
    unique, merges = deduplicate(papers)
    assert [p.title for p in unique] == [t for t, _ in NON_LATIN] and merges == []
    assert len({p.paper_id for p in unique}) == 3


def test_different_arxiv_ids_never_merge() -> None:
    a = Paper(title="A Survey", abstract="We survey graph learning.", source="s.jsonl", line=1, arxiv_id="2402.00001")
    b = Paper(title="A Survey", abstract="We survey speech codecs.", source="s.jsonl", line=2, arxiv_id="2402.00002")
    unique, merges = deduplicate([a, b])
    assert merges == []
    assert [(p.arxiv_id, p.abstract) for p in unique] == [
        ("2402.00001", "We survey graph learning."),
        ("2402.00002", "We survey speech codecs."),
    ]


def test_same_title_different_abstracts_are_two_papers() -> None:
    a = Paper(title="A Survey", abstract="We survey graph learning.", source="a")
    b = Paper(title="A survey", abstract="We survey speech codecs.", source="b")
    unique, merges = deduplicate([a, b])
    assert len(unique) == 2 and merges == []


def test_the_latest_version_wins_whole() -> None:
    v1 = Paper(title="Old Title", abstract="Short v1 abstract.", source="f", line=1, arxiv_id="2401.01234v1", date="d1")
    v2 = Paper(
        title="New Title", abstract="A longer v2 abstract with more.", source="f", line=2, arxiv_id="2401.01234v2"
    )
    for order in ([v1, v2], [v2, v1]):
        unique, merges = deduplicate(order)
        assert len(unique) == 1
        kept = unique[0]
        assert (kept.title, kept.abstract, kept.date, kept.arxiv_version) == (
            "New Title",
            "A longer v2 abstract with more.",
            "d1",  # v2 carries no date: the one v1 gave is kept (dates are never erased)
            2,
        )
        assert merges[0].dropped == "Old Title" and merges[0].reason == "same arxiv id 2401.01234"


def test_truncation_rules() -> None:
    full = " ".join(f"word{i}" for i in range(40))
    assert abstracts_agree(full, full[:60] + "…")
    assert abstracts_agree(full, " ".join(full.split()[:25]))  # 25 shared words, no ellipsis
    assert not abstracts_agree(full, " ".join(full.split()[:5]))  # too short to be sure
    assert not abstracts_agree("We study graphs.", "We study speech.")


# -- clean text at read time ---------------------------------------------------------------------


def test_clean_text_decodes_entities_once_and_drops_invisible_characters() -> None:
    assert clean_text("Graphs &amp; Networks") == "Graphs & Networks"
    assert clean_text("&amp;amp;") == "&amp;"  # decoded once, not repeatedly
    assert (
        clean_text("Zero\u200bwidth\u200d join\u00adsoft\ufeff bom\x07 bell\x85next")
        == "Zerowidth joinsoft bom bell next"
    )
    assert clean_text("  many\n\tspaces  ") == "many spaces"


def test_entity_title_is_the_same_paper_and_bom_lines_are_read(tmp_path: Path) -> None:
    abstract = "We study message passing on graphs and networks at scale."
    lines = [
        json.dumps({"title": "Graphs & Networks", "abstract": abstract}),
        "\ufeff" + json.dumps({"title": "Graphs &amp; Networks", "abstract": abstract}),
        "\ufeff" + json.dumps({"title": "Zero\u200bWidth Title", "abstract": "Another paper entirely, about codecs."}),
    ]
    items = _read(tmp_path, "x.jsonl", "\n".join(lines) + "\n")
    papers = _papers(items)
    assert _skipped(items) == [] and len(papers) == 3
    assert [p.title for p in papers] == ["Graphs & Networks", "Graphs & Networks", "ZeroWidth Title"]
    unique, merges = deduplicate(papers)
    assert len(unique) == 2 and merges[0].line == 2 and merges[0].reason == "same title and abstract"


# -- validation and total readers ----------------------------------------------------------------

ERROR_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id>
    <title>Error</title>
    <summary>incorrect id format for 1234.12345</summary>
  </entry>
</feed>
"""
EMPTY_FEED = '<feed xmlns="http://www.w3.org/2005/Atom"><title>query</title></feed>'


def test_arxiv_error_and_empty_feeds_are_skipped_with_a_reason(tmp_path: Path) -> None:
    error = _read(tmp_path, "err.xml", ERROR_FEED)
    assert _papers(error) == [] and "arXiv API error" in _skipped(error)[0].reason
    empty = _read(tmp_path, "empty.xml", EMPTY_FEED)
    assert _papers(empty) == [] and "no entries" in _skipped(empty)[0].reason


def test_bad_records_cost_only_themselves(tmp_path: Path) -> None:
    good = {"title": "Quokka Burrows", "abstract": "We map quokka burrows with drones."}
    lines = [
        json.dumps({"title": "∑", "abstract": "∀ ∃ ⊗."}),
        '{"title": "Big", "abstract": "x", "id": ' + "9" * 5000 + "}",
        json.dumps({"title": {"nested": 1}, "abstract": "A title that is an object."}),
        "[" * 100_000 + "]" * 100_000,
        json.dumps(good),
    ]
    items = _read(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    assert [p.title for p in _papers(items)] == ["Quokka Burrows"]
    reasons = {s.line: s.reason for s in _skipped(items)}
    assert set(reasons) == {1, 2, 3, 4}
    assert "no indexable word" in reasons[1] and "unreadable JSON" in reasons[2] and "no title" in reasons[3]

    hf = [
        {
            "paper": {
                "id": "2404.00001",
                "title": "Odd Authors",
                "summary": "Authors that are numbers.",
                "authors": [{"name": 5}, {"name": "Ada"}],
            }
        },
        {"paper": "not an object"},
        7,
    ]
    items = _read(tmp_path, "hf.json", json.dumps(hf))
    assert [(p.title, p.authors) for p in _papers(items)] == [("Odd Authors", ["Ada"])]

    csv_text = 'title,abstract\nGood One,"A fine abstract."\nStray NUL,"a damaged\x00 row"\n'
    csv_text += "Too Big," + "x" * 200_000 + "\nGood Three,A third fine abstract.\n"  # over csv's field limit
    items = _read(tmp_path, "t.csv", csv_text)
    titles = [p.title for p in _papers(items)]
    assert titles == ["Good One", "Stray NUL", "Good Three"]  # an error costs its row, not the rest
    assert any("malformed CSV" in s.reason for s in _skipped(items))


def test_a_crashing_reader_costs_only_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest import readers

    def exploding(text: str, source: str):  # type: ignore[no-untyped-def]
        yield Paper(title="Before The Bug", abstract="Read before the reader failed.", source=source)
        raise RuntimeError("a bug in a reader")

    monkeypatch.setitem(readers.READERS, ".boom", exploding)
    (tmp_path / "a.boom").write_text("x")
    write_jsonl(tmp_path / "b.jsonl", [{"title": "Other File", "abstract": "Still read."}])
    items = list(read_paths([tmp_path]))
    assert [p.title for p in _papers(items)] == ["Before The Bug", "Other File"]
    assert "could not read past record 1 (RuntimeError: a bug in a reader)" in _skipped(items)[0].reason


# -- the pipeline: a real index ------------------------------------------------------------------


def test_ingest_keeps_distinct_papers_and_reports_merges(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    first = write_jsonl(
        tmp_path / "one.jsonl",
        [{"title": NON_LATIN[0][0], "abstract": NON_LATIN[0][1]}, {"title": "∑", "abstract": "∀ ∃ ⊗."}],
    )
    report = run_ingest([first], settings)
    assert (report.added, len(report.skipped)) == (1, 1)
    second = write_jsonl(
        tmp_path / "two.jsonl",
        [{"title": t, "abstract": a} for t, a in NON_LATIN[1:]]
        + [{"title": NON_LATIN[0][0], "abstract": NON_LATIN[0][1]}],  # the first one again
    )
    report = run_ingest([second], settings)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 1)
    manifest = PaperIndex.open(settings).manifest
    assert sorted(e.title for e in manifest.papers.values()) == sorted(t for t, _ in NON_LATIN)
    entry = next(e for e in manifest.papers.values() if e.title == NON_LATIN[0][0])
    assert entry.sources == sorted([str(first), str(second)])  # the new source of an unchanged paper is saved

    survey = write_jsonl(
        tmp_path / "survey.jsonl",
        [
            {"title": "A Survey", "abstract": "We survey graph learning methods.", "id": "2402.00001"},
            {"title": "A Survey", "abstract": "We survey neural speech codecs.", "id": "2402.00002"},
            {"title": "A Survey", "abstract": "We survey graph learning methods.", "id": "2402.00001v2"},
        ],
    )
    result = CliRunner().invoke(ingest_main, ["--index", str(settings.index.path), "--json", str(survey)])
    payload = json.loads(result.stdout)
    assert result.exit_code == 0 and payload["added"] == 2
    assert payload["merged"] == [
        {
            "kept": "A Survey",
            "dropped": "A Survey",
            "source": str(survey),
            "line": 3,
            "reason": "same arxiv id 2402.00001",
        }
    ]
    papers = PaperIndex.open(settings).manifest.papers
    assert papers["arxiv:2402.00001"].abstract == "We survey graph learning methods."
    assert papers["arxiv:2402.00002"].abstract == "We survey neural speech codecs."


def test_ingest_json_reports_a_symbol_only_record_and_still_commits(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [{"title": "∑", "abstract": "∀ ∃ ⊗."}, {"title": "Quokka Burrows", "abstract": "We map burrows."}],
    )
    result = CliRunner().invoke(ingest_main, ["--index", str(tmp_path / "i"), "--json", str(data)])
    payload = json.loads(result.stdout)
    assert result.exit_code == 0 and payload["papers"] == 1
    assert payload["skipped"][0]["line"] == 1 and "no indexable word" in payload["skipped"][0]["reason"]
    assert (tmp_path / "i" / "manifest.json").is_file()


def test_a_newer_version_replaces_the_stored_one_and_an_older_one_does_not(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    v1 = {"title": "Old Title", "abstract": "Short v1 abstract about quokkas.", "id": "2401.01234v1"}
    v2 = {"title": "New Title", "abstract": "A longer v2 abstract about quokkas and drones.", "id": "2401.01234v2"}
    run_ingest([write_jsonl(tmp_path / "v1.jsonl", [v1])], settings)
    report = run_ingest([write_jsonl(tmp_path / "v2.jsonl", [v2])], settings)
    assert report.updated == 1
    entry: Any = PaperIndex.open(settings).manifest.papers["arxiv:2401.01234"]
    assert (entry.title, entry.abstract, entry.version) == ("New Title", v2["abstract"], 2)
    report = run_ingest([tmp_path / "v1.jsonl"], settings)
    assert (report.updated, report.unchanged) == (0, 1)
    assert PaperIndex.open(settings).manifest.papers["arxiv:2401.01234"].title == "New Title"


# -- no network at ingest ------------------------------------------------------------------------

NO_NETWORK = textwrap.dedent(
    """
    import socket, sys
    _connect = socket.socket.connect
    def guarded(self, address, *args):
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(address, tuple) and not (host.startswith("127.") or host in ("::1", "localhost")):
            with open(sys.argv[1] + ".attempts", "a") as log:
                log.write(f"{host}\\n")
            raise ConnectionRefusedError(f"outbound connection to {host} refused by the test")
        return _connect(self, address, *args)
    socket.socket.connect = guarded
    _getaddrinfo = socket.getaddrinfo
    def lookup(host, *args, **kwargs):
        if host not in (None, "localhost") and not str(host).startswith("127."):
            with open(sys.argv[1] + ".attempts", "a") as log:
                log.write(f"dns {host}\\n")
            raise socket.gaierror(f"name lookup of {host} refused by the test")
        return _getaddrinfo(host, *args, **kwargs)
    socket.getaddrinfo = lookup
    sys.argv = sys.argv[1:]
    from ingest.cli import main
    main()
    """
)


def test_ingest_runs_with_nltk_data_set_and_the_network_refused(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [{"title": "Quokka Burrows", "abstract": "We map quokka burrows with drones. It works, e.g. at night."}],
    )
    (tmp_path / "nltk").mkdir()
    script = tmp_path / "guarded_ingest.py"
    script.write_text(NO_NETWORK)
    marker = tmp_path / "run"
    env = subprocess_env(NLTK_DATA=str(tmp_path / "nltk"))
    result = subprocess.run(
        [sys.executable, str(script), str(marker), "--index", str(tmp_path / "i"), "--json", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["added"] == 1
    attempts = Path(str(marker) + ".attempts")
    assert not attempts.exists(), attempts.read_text()


def test_same_title_from_another_file_is_another_paper_but_an_edit_in_place_updates(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    a = write_jsonl(tmp_path / "a.jsonl", [{"title": "A Survey", "abstract": "We survey graph learning methods."}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"title": "A Survey", "abstract": "We survey neural speech codecs."}])
    run_ingest([a], settings)
    report = run_ingest([b], settings)
    assert (report.added, report.updated) == (1, 0)  # not an overwrite of the first
    write_jsonl(a, [{"title": "A Survey", "abstract": "We survey graph learning methods, revised."}])
    report = run_ingest([a, b], settings)
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    abstracts = sorted(e.abstract for e in PaperIndex.open(settings).manifest.papers.values())
    assert abstracts == ["We survey graph learning methods, revised.", "We survey neural speech codecs."]


# -- found by review: each a kind of merge, split or loss ----------------------------------------


def test_dois_are_not_read_as_arxiv_ids_and_never_override_different_arxiv_ids() -> None:
    dois = ["10.1109/CVPR52729.2023.00371", "10.1109/ICCV51070.2023.00371", "https://doi.org/10.1109/WACV.2023.00371"]
    papers = [
        Paper(title=f"Paper {i}", abstract=f"Abstract {i} about vision.", source="d", doi=d) for i, d in enumerate(dois)
    ]
    papers += [Paper(title="Paper 9", abstract="Abstract 9.", source="d", arxiv_id="10.1109/CVPR.2022.01234")]
    assert all(p.arxiv_id is None for p in papers) and papers[-1].doi == "10.1109/cvpr.2022.01234"
    unique, merges = deduplicate(papers)
    assert (len(unique), merges) == (4, [])
    a = Paper(title="A", abstract="First.", source="s", arxiv_id="2402.00011", doi="10.1145/3000000.1")
    b = Paper(title="B", abstract="Second.", source="s", arxiv_id="2402.00022", doi="10.1145/3000000.1")
    assert deduplicate([a, b])[1] == []  # different arXiv ids win over a shared (wrong) DOI
    assert Paper(title="x", abstract="y", source="s", doi="10.48550/arXiv.2401.01234").arxiv_id == "2401.01234"


def test_entities_decode_only_when_complete() -> None:
    assert clean_text("https://example.org/view?id=3&section=2&parameter=x") == (
        "https://example.org/view?id=3&section=2&parameter=x"
    )
    assert clean_text("a &timestamp=1 and &copy 2024 and &#233;t&eacute;") == "a &timestamp=1 and &copy 2024 and été"


def test_json_strings_may_hold_unicode_line_separators(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {"title": "Line Separator Paper", "abstract": "First part\u2028second part\x1cthird."}, ensure_ascii=False
        ),
        json.dumps({"title": "Next Paper", "abstract": "On the next line."}),
    ]
    items = _read(tmp_path, "u.jsonl", "\n".join(lines) + "\n")
    assert _skipped(items) == []
    assert [(p.title, p.line) for p in _papers(items)] == [("Line Separator Paper", 1), ("Next Paper", 2)]


def test_titles_differing_only_by_accents_are_one_key() -> None:
    assert title_key("Schrödinger Bridges") == title_key("Schrodinger bridges")
    assert title_key("基于图神经网络") != "" and title_key("Μάθηση") == "μαθηση"


def test_no_stored_paper_is_duplicated_merged_or_shrunk_across_runs(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    sym = write_jsonl(
        tmp_path / "sym.jsonl",
        [
            {"title": "∑", "abstract": "We sum many things over sets."},
            {"title": "∑", "abstract": "We sum many things over sets."},
            {"title": "∑", "abstract": "A different paper about products."},
        ],
    )
    assert (run_ingest([sym], settings).papers, run_ingest([sym], settings).added) == (2, 0)

    noid = write_jsonl(tmp_path / "noid.jsonl", [{"title": "Routers", "abstract": "We route tokens to experts."}])
    run_ingest([noid], settings)
    twoids = write_jsonl(
        tmp_path / "twoids.jsonl",
        [
            {"title": "Routers", "abstract": "We route tokens to experts.", "id": "2405.00001"},
            {"title": "Routers", "abstract": "We route tokens to experts.", "id": "2405.00002"},
        ],
    )
    report = run_ingest([twoids], settings)
    assert (report.unchanged, report.added) == (1, 1)  # one is the stored paper, the other a new one
    v2 = write_jsonl(
        tmp_path / "v2.jsonl",
        [{"title": "Routers, Revised", "abstract": "We route tokens better.", "id": "2405.00001v2"}],
    )
    report = run_ingest([v2], settings)
    # found by the id it learnt, not split in two; the stored paper has no version to be older than
    # v2, so the first record stays and v2 only fills what it lacks (docs/ingest.md rule 3)
    assert (report.unchanged, report.updated, report.added) == (1, 0, 0)

    full = " ".join(f"word{i}" for i in range(40))
    write_jsonl(tmp_path / "full.jsonl", [{"title": "Long One", "abstract": full}])
    trunc = write_jsonl(tmp_path / "trunc.jsonl", [{"title": "Long One", "abstract": full[:80] + "..."}])
    run_ingest([tmp_path / "full.jsonl"], settings)
    report = run_ingest([trunc], settings)
    assert report.unchanged == 1 and report.merged[0].reason == "a truncated copy of the indexed abstract"
    papers = PaperIndex.open(settings).manifest.papers.values()
    assert next(e for e in papers if e.title == "Long One").abstract == full
    assert sorted(e.title for e in papers) == ["Long One", "Routers", "Routers", "∑", "∑"]


def test_an_edit_in_place_is_found_however_the_path_is_spelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path / "index")
    (tmp_path / "e").mkdir()
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "e" / "p.jsonl", [{"title": "Editable Paper", "abstract": "The first abstract."}])
    run_ingest([Path("e/p.jsonl")], settings)
    write_jsonl(tmp_path / "e" / "p.jsonl", [{"title": "Editable Paper", "abstract": "A rewritten abstract."}])
    report = run_ingest([tmp_path / "e" / "p.jsonl"], settings)
    assert (report.updated, report.added) == (1, 0)


def test_damaged_index_and_odd_paths_give_one_clear_error(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"title": "Quokka Burrows", "abstract": "We map burrows."}])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    result = CliRunner().invoke(ingest_main, ["--index", str(tmp_path / "bad"), "--json", str(data)])
    assert result.exit_code == 1 and "damaged" in json.loads(result.stdout)["error"] and "--repair" in result.stdout
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(ingest_main, ["--index", str(tmp_path / "afile"), "--json", str(data)])
    assert result.exit_code == 1 and "afile" in json.loads(result.stdout)["error"]
    import os

    os.mkfifo(tmp_path / "pipe.jsonl")
    items = list(read_paths([tmp_path / "pipe.jsonl"]))
    assert [(Path(s.source).name, s.reason) for s in _skipped(items)] == [("pipe.jsonl", "not a regular file")]


# -- crash safety and prune, found by the second review ------------------------------------------


@pytest.mark.parametrize("rebuild", [False, True])
def test_a_next_store_naming_the_committed_store_is_never_written_or_deleted(tmp_path: Path, rebuild: bool) -> None:
    settings = _settings(tmp_path / "index")
    run_ingest(
        [write_jsonl(tmp_path / "a.jsonl", [{"title": "Quokka Burrows", "abstract": "We map burrows."}])], settings
    )
    committed = PaperIndex.open(settings).manifest.chroma_dir
    # a kill between the manifest's replacement and next-store.json's removal leaves this behind
    (settings.index.path / "next-store.json").write_text(json.dumps({"chroma_dir": committed}))
    b = write_jsonl(tmp_path / "b.jsonl", [{"title": "Wombat Dens", "abstract": "We map dens."}])
    run_ingest([b], settings, rebuild=rebuild)
    manifest = PaperIndex.open(settings).manifest
    written = manifest.chroma_deltas[-1] if manifest.chroma_deltas else manifest.chroma_dir  # the writer's store
    assert written != committed and len(manifest.papers) == (1 if rebuild else 2)
    # the writer used a store of its own (a delta beside the base; a rebuild: a new base); the committed one
    # stays, as the base (a delta) or as the previous generation (for readers) until the next commit
    assert (manifest.previous_chroma_dir if rebuild else manifest.chroma_dir) == committed
    assert (settings.index.path / committed).is_dir()
    assert sorted(p.name for p in settings.index.path.iterdir() if p.name.startswith(("chroma", "next"))) == sorted(
        [written, committed]
    )


def test_a_failed_rebuild_leaves_the_committed_index_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path / "index")
    run_ingest(
        [write_jsonl(tmp_path / "a.jsonl", [{"title": "Quokka Burrows", "abstract": "We map burrows."}])], settings
    )

    def crash(self: IndexWriter, manifest: Any) -> None:  # fault injection: the process dies before its commit
        raise KeyboardInterrupt

    monkeypatch.setattr(IndexWriter, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(
            [write_jsonl(tmp_path / "b.jsonl", [{"title": "Wombat Dens", "abstract": "Dens."}])], settings, rebuild=True
        )
    monkeypatch.undo()
    index = PaperIndex.open(settings)
    assert [e.title for e in index.manifest.papers.values()] == ["Quokka Burrows"]
    assert index.collection.count() == 1  # the committed store is intact
    report = run_ingest([tmp_path / "b.jsonl"], settings, rebuild=True)
    assert [e.title for e in PaperIndex.open(settings).manifest.papers.values()] == ["Wombat Dens"]
    manifest = PaperIndex.open(settings).manifest  # the new store and the previous one, nothing else
    assert report.added == 1
    assert {p.name for p in settings.index.path.glob("chroma-*")} == {manifest.chroma_dir, manifest.previous_chroma_dir}


def test_prune_never_deletes_what_a_missing_or_damaged_file_held(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    a = write_jsonl(tmp_path / "a.jsonl", [{"title": "Quokka Burrows", "abstract": "We map burrows."}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"title": "Wombat Dens", "abstract": "We map dens."}])
    run_ingest([a, b], settings)
    with pytest.raises(InputError, match="not pruning"):
        run_ingest([a, tmp_path / "b-typo.jsonl"], settings, prune=True)
    b.write_text('{"title": "Wombat Dens", "abstract": "We map dens."\n')  # damaged: the record is unreadable
    report = run_ingest([a, b], settings, prune=True)
    assert (report.removed, report.kept_from_damaged) == (0, 1)
    assert len(PaperIndex.open(settings).manifest.papers) == 2


def test_an_older_version_never_replaces_a_newer_one_learnt_later(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "index")
    text = "We route tokens to experts sparsely."
    run_ingest([write_jsonl(tmp_path / "a.jsonl", [{"title": "Routers", "abstract": text}])], settings)
    run_ingest(
        [write_jsonl(tmp_path / "b.jsonl", [{"title": "Routers", "abstract": text, "id": "2401.06666v2"}])], settings
    )
    old = write_jsonl(tmp_path / "c.jsonl", [{"title": "Old Draft Title", "abstract": "Draft.", "id": "2401.06666v1"}])
    report = run_ingest([old], settings)
    assert (report.updated, report.unchanged) == (0, 1)
    assert [e.title for e in PaperIndex.open(settings).manifest.papers.values()] == ["Routers"]
