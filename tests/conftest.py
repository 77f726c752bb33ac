"""Shared test setup: offline model loading, and one real index of the bundled corpus per session.

Environment: importing ``assistant`` first sets it, as for every entry point
(``assistant.environment``: offline Hugging Face, no telemetry, no cost-map fetch).

Fixtures:

``corpus_index``
    ``(settings, report)`` for a real index (Chroma + BM25 + manifest, all-MiniLM-L6-v2, default
    chunking) of everything under ``data/``, built ONCE per session in a temporary directory
    because the full ingest takes tens of seconds. ``report`` is the ``IngestReport`` of that
    first build (557 records, 502 papers, 55 duplicates, 502 added).

    Treat it as read-only: open it with ``PaperIndex.open(settings)``, the retrieval code or
    ``ask --index {settings.index.path}``. A test that must change an index copies it first with
    ``tests.index_helpers.copy_index`` (cheap: no re-embedding). When ``TEST_CORPUS_INDEX``
    names a folder (``make test`` sets it), the index is built there instead, after removing what a
    previous run left in it, and kept: ``make gate`` then reads it rather than ingesting the corpus a
    second time. Embedding and chunking settings
    are passed explicitly, so a ``config.toml`` or ``PAPERS_*`` variable cannot change what gets
    built; derive variants with ``settings.model_copy(update={...})``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import assistant  # noqa: F401 - sets the process environment before any library loads
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """(settings, report): the bundled corpus ingested once per session; see the module docstring."""
    from ingest.pipeline import run_ingest

    kept = os.environ.get("TEST_CORPUS_INDEX")
    if kept:  # a test artifact make owns (see the module docstring), never a user's index
        path = Path(kept)
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path = tmp_path_factory.mktemp("corpus") / "index"
    settings = Settings(
        index=path,
        data=DATA,
        embedding=EmbeddingSettings(),
        chunking=ChunkSettings(),
    )
    report = run_ingest([DATA], settings)
    return settings, report
