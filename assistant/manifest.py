"""Manifest: the commit point of an index, the small file that names what readers use.

Layout of the index directory::

    manifest.json            the committed state: model, chunking, generation, the store's folder,
                             counts of papers, chunks and sentence vectors
    manifest.backup.json     the same, written after it at every commit (what ``ingest --repair`` restores)
    papers.sqlite            the paper records (ids, chunk ids, sentence ids, text) of every kept
                             generation, versioned by generation (``assistant.catalog``)
    chroma-<gen>-<token>/    persistent Chroma (vectors + chunk text + metadata): the base store
                             (``assistant.chroma``), written whole only by a compaction or a rebuild
    chroma-<gen>-<token>-delta/  the vectors one commit added (``assistant.segments``); the manifest
                             lists the base and its deltas, and no listed store is written again
    bm25-<gen>/              bm25s index over the same chunks, one folder per generation (``assistant.bm25``)
    sentences-<gen>/         abstract sentences with their vectors, memory-mapped arrays (``assistant.sentvec``):
                             the base folder, written whole only by a compaction or a rebuild
    sentences-<gen>-delta/   the sentence vectors one commit added (``assistant.sentsegments``); the
                             manifest lists the base and its deltas, and no listed folder is written again
    next-store.json          the store an ingest in progress writes (gone after its commit)
    .lock                    held by the one writer

Crash safety comes from ordering and from never writing what readers use: a writer
(``assistant.writer``) adds its vectors to a new delta store (or, at a compaction, to a copy of the
committed stores), writes the next generation's BM25 folder beside the current one, and only then
replaces ``manifest.json`` atomically, naming it. Readers (``assistant.store``) trust the
manifest; what a killed run left beside it is reused or removed by the next run.
``docs/architecture.md`` has the whole protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from assistant.catalog import CATALOG, Catalog, PaperEntry, PaperTable
from assistant.errors import IndexError_, IndexMismatchError

if TYPE_CHECKING:
    from assistant.settings import Settings

# 1: paper records inline in manifest.json (read, and moved to the catalog at the next commit);
# 2: records in the catalog; 3: sentence vectors in a base and delta folders (``sentence_deltas``).
# 1 and 2 are read (2 as 3 with no sentence delta) and become 3 at their next commit; a build that
# reads only 1 and 2 refuses a format-3 index with its "has format 3, rebuild" message.
MANIFEST_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)


class Manifest(BaseModel):
    """The commit point. ``papers`` is a :class:`PaperTable`: the catalog's papers at this generation
    (format 1 kept them inline, under ``papers`` in the JSON, read into ``inline_papers``)."""

    model_config = ConfigDict(populate_by_name=True)

    version: int = MANIFEST_VERSION
    embedding_model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    generation: int = 0
    chroma_dir: str = "chroma"  # the committed vector store (a folder of its own per generation)
    # the previous generation's store, kept until the next commit: a reader still answering from it
    # (a long-lived UI between questions) finishes its question, then moves to this generation
    previous_chroma_dir: str | None = None
    # delta stores read with chroma_dir, oldest first (``assistant.segments``); none in an index built
    # before them, which opens as it is and gains its first delta at the next commit
    chroma_deltas: list[str] = Field(default_factory=list)
    previous_chroma_deltas: list[str] = Field(default_factory=list)  # the previous generation's, kept with it
    chunk_garbage: int = 0  # vectors the listed stores hold that no paper lists (replaced, removed)
    paper_count: int = 0
    chunk_count: int = 0
    sentence_count: int = 0
    # the sentence vectors' folder (``assistant.sentvec``); None: an index built before it, whose
    # sentences are in the Chroma collection ``<name>-sentences`` (moved at its next commit)
    sentence_dir: str | None = None
    previous_sentence_dir: str | None = None  # kept until the next commit, like previous_chroma_dir
    # delta sentence folders read with sentence_dir, oldest first (``assistant.sentsegments``, format 3);
    # none in an older index, which opens as it is and gains its first delta at the next commit
    sentence_deltas: list[str] = Field(default_factory=list)
    previous_sentence_deltas: list[str] = Field(default_factory=list)  # the previous generation's
    sentence_garbage: int = 0  # sentence rows the listed folders hold beyond sentence_count (replaced, removed)
    inline_papers: dict[str, PaperEntry] = Field(default_factory=dict, alias="papers", exclude=True)
    _table: PaperTable | None = PrivateAttr(None)

    @property
    def papers(self) -> PaperTable:
        if self._table is None:
            self._table = PaperTable(None, self.generation, dict(self.inline_papers))
        return self._table

    def attach(self, table: PaperTable) -> Manifest:
        self._table = table
        return self

    def staged(self) -> Manifest:
        """A writer's copy: the same header and papers, changes to ``papers`` staged apart."""
        return self.model_copy().attach(self.papers.staged_copy())

    def kept_stores(self) -> set[str | None]:
        """The vector stores this generation and the previous one read (bases and deltas)."""
        return {self.chroma_dir, self.previous_chroma_dir, *self.chroma_deltas, *self.previous_chroma_deltas}

    def kept_sentences(self) -> set[str | None]:
        """The sentence folders this generation and the previous one read (bases and deltas)."""
        return {
            self.sentence_dir,
            self.previous_sentence_dir,
            *self.sentence_deltas,
            *self.previous_sentence_deltas,
        }

    def chunk_owner(self) -> dict[str, str]:
        """Every chunk id -> its paper (reads every record: for tools and tests, not the query path)."""
        return {cid: pid for pid, entry in self.papers.items() for cid in entry.chunk_ids}

    def sentence_owner(self) -> dict[str, str]:
        return {sid: pid for pid, entry in self.papers.items() for sid in entry.sentence_ids}


def paper_of(unit_id: str) -> str:
    """The paper id a chunk or sentence id names: ids are ``<paper id>#<hash8>:<n>`` (ingest.chunking)."""
    return unit_id.rsplit("#", 1)[0]


BACKUP = "manifest.backup.json"  # the same manifest, written after it at every commit


def read_manifest(path: Path) -> Manifest:
    """The committed manifest; a damaged one is an IndexError_ that says how to repair it."""
    from pydantic import ValidationError

    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IndexError_(
            f"the index manifest {path} is damaged ({first}): repair it with `ingest --repair` (restores its "
            "backup, or re-reads your sources embedding only what the vector store lacks)"
        ) from exc


def load_manifest(root: Path) -> Manifest:
    """The committed manifest of the index at ``root`` with its papers (the catalog opened read-only):
    for tools and tests that inspect an index without settings."""
    manifest = read_manifest(root / "manifest.json")
    if manifest.version >= 2:
        manifest.attach(PaperTable(Catalog(root / CATALOG), manifest.generation))
    return manifest


def check_compatible(manifest: Manifest, settings: Settings) -> None:
    if manifest.version not in READABLE_VERSIONS:
        raise IndexMismatchError(
            f"index {settings.index.path} has format {manifest.version}, this version reads formats "
            f"{READABLE_VERSIONS[0]} to {MANIFEST_VERSION}: rebuild it with `ingest --rebuild`"
        )
    wanted = settings.embedding.model
    if manifest.embedding_model != wanted:
        raise IndexMismatchError(
            f"index {settings.index.path} was built with {manifest.embedding_model} ({manifest.dimension}-d) but "
            f"settings ask for {wanted}: rebuild with `ingest --rebuild`, or set embedding.model = "
            f'"{manifest.embedding_model}"'
        )


def empty_manifest(settings: Settings, dimension: int) -> Manifest:
    """The manifest of an index with nothing in it yet, built as ``settings`` say."""
    return Manifest(
        embedding_model=settings.embedding.model,
        dimension=dimension,
        chunk_size=settings.chunking.chunk_size,
        chunk_overlap=settings.chunking.chunk_overlap,
    )
