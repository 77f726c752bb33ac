"""The paper catalog (assistant/catalog.py): rows versioned by generation, written only for the
papers a run changes, invisible until their manifest commits, and format-1 indexes migrated.
Real ingest (packaged encoder, real Chroma, real SQLite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from assistant.catalog import CATALOG, Catalog
from assistant.manifest import MANIFEST_VERSION, load_manifest
from assistant.retrieve import Retriever
from assistant.settings import Settings
from assistant.store import PaperIndex
from ingest.pipeline import run_ingest

PAPERS = [
    {"title": "Kelp Forest Acoustics", "abstract": "We map kelp forests by sound. Hydrophones record snapping shrimp."},
    {"title": "Glacier Seismology", "abstract": "Icequakes reveal glacier sliding. We deploy geophones on the ice."},
    {"title": "Bee Waggle Decoding", "abstract": "A camera decodes waggle dances. Foragers report flower distance."},
    {"title": "Coral Spawning Timing", "abstract": "Corals spawn after the full moon. Warm water sets the night."},
]


def jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def rows(index: Path) -> list[tuple[str, int, int | None]]:
    """(title, added, removed) of every catalog row."""
    with sqlite3.connect(index / CATALOG) as db:
        found = db.execute("SELECT record, added, removed FROM papers").fetchall()
    return sorted((json.loads(record)["title"], added, removed) for record, added, removed in found)


def test_an_incremental_ingest_writes_rows_only_for_what_it_changes(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    run_ingest([jsonl(tmp_path / "a.jsonl", PAPERS[:3])], settings)
    edited = {**PAPERS[0], "abstract": "We map kelp forests by sound and by sonar."}
    report = run_ingest([jsonl(tmp_path / "a.jsonl", [edited, *PAPERS[1:]])], settings)  # edited in place
    assert (report.added, report.updated, report.unchanged) == (1, 1, 2)
    assert rows(settings.index.path) == [
        ("Bee Waggle Decoding", 1, None),  # untouched rows keep the generation that wrote them
        ("Coral Spawning Timing", 2, None),
        ("Glacier Seismology", 1, None),
        ("Kelp Forest Acoustics", 1, 2),  # the old version, kept for readers of generation 1
        ("Kelp Forest Acoustics", 2, None),
    ]
    manifest = json.loads((settings.index.path / "manifest.json").read_text())
    assert "papers" not in manifest and manifest["paper_count"] == 4
    index = PaperIndex.open(settings)
    assert index.stored_ids() == set(index.owner) and len(index.owner) == manifest["chunk_count"]
    # one more commit: rows that neither it nor the previous generation sees are gone
    run_ingest(
        [jsonl(tmp_path / "c.jsonl", [{"title": "Dune Migration", "abstract": "Dunes move in wind."}])], settings
    )
    assert ("Kelp Forest Acoustics", 1, 2) not in rows(settings.index.path)


def test_rows_of_a_writer_killed_before_its_commit_are_never_seen_and_then_undone(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    run_ingest([jsonl(tmp_path / "a.jsonl", PAPERS[:2])], settings)
    committed = load_manifest(settings.index.path)
    # what a writer killed after writing its rows but before replacing the manifest leaves behind
    ghost = committed.papers["title:" + next(iter(committed.papers)).split(":", 1)[1]]
    catalog = Catalog(settings.index.path / CATALOG, writable=True)
    catalog.apply({"ghost-paper": ghost.model_copy(update={"title": "Ghost Paper"})}, 2, lambda pid, e: pid)
    catalog.close()
    index = PaperIndex.open(settings)
    assert sorted(e.title for e in index.manifest.papers.values()) == ["Glacier Seismology", "Kelp Forest Acoustics"]
    assert "ghost-paper" not in index.manifest.papers
    search = Retriever(settings).search("ghost paper kelp")
    assert all(source.title != "Ghost Paper" for source in search.sources)
    run_ingest([jsonl(tmp_path / "b.jsonl", PAPERS[2:3])], settings)
    assert "Ghost Paper" not in [title for title, *_ in rows(settings.index.path)]


def test_an_index_of_format_1_is_read_and_moved_into_the_catalog(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    run_ingest([jsonl(tmp_path / "a.jsonl", PAPERS[:3])], settings)
    root = settings.index.path
    manifest = json.loads((root / "manifest.json").read_text())
    papers = {pid: entry.model_dump() for pid, entry in load_manifest(root).papers.items()}
    old = {k: v for k, v in manifest.items() if not k.endswith("_count")} | {"version": 1, "papers": papers}
    (root / "manifest.json").write_text(json.dumps(old))  # as version 0.1 wrote it: papers inline
    (root / CATALOG).unlink()
    search = Retriever(settings).search("How are glaciers studied?")
    assert search.sources[0].title == "Glacier Seismology"
    run_ingest([jsonl(tmp_path / "b.jsonl", PAPERS[3:])], settings)
    migrated = json.loads((root / "manifest.json").read_text())
    assert migrated["version"] == MANIFEST_VERSION == 3 and "papers" not in migrated and migrated["paper_count"] == 4
    assert [title for title, *_ in rows(root)] == sorted(p["title"] for p in PAPERS)
    index = PaperIndex.open(settings)
    index.check_complete()
    assert index.stored_ids() == set(index.owner)


def test_a_writer_killed_inside_its_catalog_transaction_leaves_the_index_readable(tmp_path: Path) -> None:
    """A kill mid-transaction leaves a hot journal; readers must roll it back, not call the file unreadable."""
    import subprocess
    import sys

    settings = Settings(index=tmp_path / "index")
    run_ingest([jsonl(tmp_path / "a.jsonl", PAPERS[:2])], settings)
    killer = (
        "import sqlite3, os, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('PRAGMA cache_size = 1')\n"
        "db.execute('BEGIN IMMEDIATE')\n"
        "db.execute('UPDATE papers SET removed = 2')\n"
        "db.executemany(\"INSERT INTO papers VALUES (?, 2, NULL, 'k', NULL, NULL, NULL, NULL, '{}')\", "
        "[(f'x{i}',) for i in range(20000)])\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", killer, str(settings.index.path / CATALOG)], check=False)
    assert (settings.index.path / (CATALOG + "-journal")).exists()
    search = Retriever(settings).search("How are glaciers studied?")
    assert search.sources[0].title == "Glacier Seismology"
    report = run_ingest([jsonl(tmp_path / "b.jsonl", PAPERS[2:3])], settings)
    assert report.added == 1 and PaperIndex.open(settings).paper_count == 3


def test_a_lost_catalog_is_repaired_from_the_sources_without_embedding_again(tmp_path: Path) -> None:
    from assistant.errors import IndexError_

    settings = Settings(index=tmp_path / "index")
    source = jsonl(tmp_path / "a.jsonl", PAPERS)
    run_ingest([source], settings)
    (settings.index.path / CATALOG).write_bytes(b"not a database")
    try:
        PaperIndex.open(settings)
    except IndexError_ as exc:
        assert "ingest --repair" in str(exc)
    else:
        raise AssertionError("a damaged catalog must be reported")
    report = run_ingest([source], settings, repair=True)
    assert (report.restored, report.embedded, report.added) == ("sources", 0, 4)
    assert Retriever(settings).search("When do corals spawn?").sources[0].title == "Coral Spawning Timing"


def test_any_dated_reads_one_row_and_sees_staged_changes(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index")
    run_ingest([jsonl(tmp_path / "a.jsonl", PAPERS[:2])], settings)
    index = PaperIndex.open(settings)
    assert index.any_dated is False and index.manifest.papers.any_dated() is False
    dated = [{**PAPERS[2], "date": "2024-09-03"}]
    run_ingest([jsonl(tmp_path / "b.jsonl", dated)], settings)
    index = PaperIndex.open(settings)
    assert index.any_dated is True
    assert index.manifest.papers.any_dated() == bool(index.manifest.papers.dates())
    staged = index.manifest.staged()
    (pid, _, _), *others = index.manifest.papers.dates()
    del staged.papers[pid]  # staged, not committed: the one dated paper is gone from this view
    assert others == [] and staged.papers.any_dated() is False and index.any_dated is True
