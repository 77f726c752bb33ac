"""Paths are data (issue 21, items 3 and 9): a file name that is not UTF-8 costs nothing, every
metadata value written is a string Chroma accepts, and folders reached through symbolic links
are followed (a loop, or a second way to a folder already read, is reported, never walked twice).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from assistant.manifest import load_manifest
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from ingest.apply import _chunk_metadata
from ingest.chunking import Chunk
from ingest.cli import main as ingest_main
from ingest.paths import is_under, path_text, safe_text
from ingest.pipeline import run_ingest
from ingest.readers import read_paths, walk
from ingest.records import Paper, Skipped
from tests.index_helpers import isolate_settings_env, write_jsonl

QUOKKA = {"title": "Quokka burrow mapping", "abstract": "We map quokka burrows with drones over two seasons."}
WOMBAT = {"title": "Wombat den survey", "abstract": "We survey wombat dens in winter and count their exits."}


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _bad_name(folder: Path, name: bytes = b"caf\xe9.jsonl") -> Path:
    """A file whose name is not UTF-8 (Python surrogate-escapes it: 'caf\\udce9.jsonl')."""
    raw = os.fsencode(folder) + b"/" + name
    with open(raw, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(QUOKKA) + "\n")
    return Path(os.fsdecode(raw))


def test_a_file_name_that_is_not_utf8_is_ingested_with_its_neighbour(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    folder = tmp_path / "papers"
    folder.mkdir()
    bad = _bad_name(folder)
    write_jsonl(folder / "good.jsonl", [WOMBAT])
    index = tmp_path / "index"
    result = CliRunner().invoke(ingest_main, [str(folder), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["skipped"]) == (2, [])
    shown = f"{path_text(folder)}/caf\\xe9.jsonl"  # the undecodable byte as \xe9: valid, readable text
    assert path_text(bad) == shown
    sources = {e.title: e.sources for e in load_manifest(index).papers.values()}
    assert sources == {QUOKKA["title"]: [shown], WOMBAT["title"]: [f"{path_text(folder)}/good.jsonl"]}
    stored = PaperIndex.open(_settings(index)).collection.get(include=["metadatas"])["metadatas"]
    assert sorted(m["source"] for m in stored) == sorted([shown, f"{path_text(folder)}/good.jsonl"])
    plain = CliRunner().invoke(ingest_main, [str(folder), "--index", str(index)])  # the text output too
    assert plain.exit_code == 0 and "2 unchanged" in plain.output
    bad.unlink()  # and the escaped source still names its file: pruning the folder removes its paper
    pruned = CliRunner().invoke(ingest_main, [str(folder), "--index", str(index), "--prune", "--yes", "--json"])
    assert [(p["title"], p["sources"]) for p in json.loads(pruned.output)["pruned"]] == [(QUOKKA["title"], [shown])]


def test_every_metadata_value_is_a_string_chroma_accepts() -> None:
    chunk = Chunk("title:abc#12345678:0", "title:abc", "Quokka\nWe map.")
    meta = _chunk_metadata(chunk, "Quokka \udce9", "Sep \ud800 3", "/data/caf\udce9.jsonl\x00")
    assert meta == {
        "paper_id": "title:abc",
        "title": "Quokka \\xe9",
        "date": "Sep \\ud800 3",
        "source": "/data/caf\\xe9.jsonl",
        "position": 0,
    }
    for value in meta.values():
        assert isinstance(value, int) or value.encode("utf-8")
    assert safe_text("plain ü text") == "plain ü text"


def test_skips_in_a_badly_named_file_name_it_readably(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/bad\xff.jsonl"
    with open(raw, "wb") as fh:
        fh.write(json.dumps(QUOKKA).encode() + b"\n{broken\n")
    items = list(read_paths([tmp_path]))
    (skip,) = [i for i in items if isinstance(i, Skipped)]
    assert skip.source == f"{path_text(tmp_path)}/bad\\xff.jsonl" and skip.line == 2
    assert [i.source for i in items if isinstance(i, Paper)] == [skip.source]


def test_folders_behind_symbolic_links_are_followed_and_loops_reported(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write_jsonl(outside / "wombat.jsonl", [WOMBAT])
    root = tmp_path / "papers"
    write_jsonl(root / "sub" / "quokka.jsonl", [QUOKKA])
    (root / "linked").symlink_to(outside, target_is_directory=True)  # a folder kept elsewhere
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # back to the top: a loop
    (root / "again").symlink_to(root / "sub", target_is_directory=True)  # a second way to sub/
    items = list(walk([root]))
    files = [p for p in items if isinstance(p, Path)]
    assert [p.relative_to(root).as_posix() for p in files] == ["sub/quokka.jsonl", "linked/wombat.jsonl"]
    skipped = {Path(s.source).name: s.reason for s in items if isinstance(s, Skipped)}
    assert set(skipped) == {"loop", "again"}
    assert all(reason.startswith("symbolic link to a folder already read") for reason in skipped.values())
    papers = [p for p in read_paths([root]) if isinstance(p, Paper)]
    assert sorted(p.title for p in papers) == sorted([QUOKKA["title"], WOMBAT["title"]])
    # a prune of the top folder covers what it reached through the link, as written and resolved
    linked = path_text(root / "linked" / "wombat.jsonl")
    assert is_under(linked, [path_text(root)]) and is_under(linked, [path_text(outside)])
    assert not is_under(linked, [path_text(tmp_path / "pap")])


def test_ingest_reads_a_linked_folder_and_reports_the_loop(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write_jsonl(outside / "wombat.jsonl", [WOMBAT])
    root = tmp_path / "papers"
    write_jsonl(root / "quokka.jsonl", [QUOKKA])
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    report = run_ingest([root], _settings(tmp_path / "index"))
    assert (report.added, [Path(s.source).name for s in report.skipped]) == (2, ["loop"])


def test_lone_surrogates_inside_records_cost_nothing(tmp_path: Path) -> None:
    """JSON escapes make lone surrogates (``"\\udce9"``) in any field: ids are stored and looked up in
    SQLite and Chroma, so they too must come out as valid text (found by this issue's review)."""
    odd = {
        "title": "Surrogate fields paper \udce9",
        "abstract": "We test every field with a lone surrogate \ud800 inside it.",
        "doi": "10.1234/ab\udce9cd",
        "id": "2401.01234\udce9",
        "date": "Sep \udce9 3",
        "authors": ["A. \udce9uthor"],
        "url": "https://example.org/\udce9",
    }
    source = tmp_path / "odd.jsonl"
    source.write_text(json.dumps(odd) + "\n" + json.dumps(WOMBAT) + "\n", encoding="utf-8")  # ensure_ascii escapes
    settings = _settings(tmp_path / "index")
    report = run_ingest([source], settings)
    assert (report.added, report.skipped) == (2, [])
    entry = next(e for e in load_manifest(settings.index.path).papers.values() if e.title.startswith("Surrogate"))
    assert (entry.title, entry.doi, entry.arxiv_id, entry.date) == (
        "Surrogate fields paper",
        "10.1234/abcd",
        "2401.01234",
        "Sep 3",
    )
    assert run_ingest([source], settings).unchanged == 2  # found again by those ids


def test_an_index_path_that_is_not_utf8_is_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    isolate_settings_env(monkeypatch)
    source = write_jsonl(tmp_path / "a.jsonl", [WOMBAT])
    index = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9-index"))
    result = CliRunner().invoke(ingest_main, [str(source), "--index", str(index)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (
        f"error: the index path {path_text(index)} is not UTF-8 text, and Chroma opens only UTF-8 paths: choose an "
        "--index whose name is UTF-8 (rename the folder)"
    )
    assert not index.exists()  # refused before anything was written
