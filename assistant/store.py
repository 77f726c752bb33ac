"""Store: the on-disk index, a Chroma store, a BM25 index and a manifest that commits them.

Layout of the index directory::

    manifest.json            the committed state: model, chunking, generation, the store's folder,
                             counts of papers, chunks and sentence vectors
    papers.sqlite            the paper records (ids, chunk ids, sentence ids, text) of every kept
                             generation, versioned by generation (``assistant.catalog``)
    chroma-<gen>-<token>/    persistent Chroma (vectors + chunk text + metadata), one per generation
    bm25-<gen>/              bm25s index over the same chunks, one folder per generation
    next-store.json          the store an ingest in progress writes (gone after its commit)
    .lock                    held by the one writer

Crash safety comes from ordering and from never writing what readers use: a writer works on a
copy of the committed Chroma store (:meth:`PaperIndex.begin`), writes the next generation's BM25
folder beside the current one, and only then replaces ``manifest.json`` atomically, naming the
copy. Readers trust the manifest; what a killed run left beside it is reused or removed by the
next run. ``docs/architecture.md`` has the whole protocol.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from assistant import storage
from assistant.catalog import CATALOG, Catalog, PaperEntry, PaperTable
from assistant.errors import IndexError_, IndexMismatchError, IndexMissingError
from assistant.text import bm25_tokenize, index_terms, title_key

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings

MANIFEST_VERSION = 2  # 1: paper records inline in manifest.json (read, and moved to the catalog at the next commit)


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
    paper_count: int = 0
    chunk_count: int = 0
    sentence_count: int = 0
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

    def chunk_owner(self) -> dict[str, str]:
        """Every chunk id -> its paper (reads every record: for tools and tests, not the query path)."""
        return {cid: pid for pid, entry in self.papers.items() for cid in entry.chunk_ids}

    def sentence_owner(self) -> dict[str, str]:
        return {sid: pid for pid, entry in self.papers.items() for sid in entry.sentence_ids}


def paper_of(unit_id: str) -> str:
    """The paper id a chunk or sentence id names: ids are ``<paper id>#<hash8>:<n>`` (ingest.chunking)."""
    return unit_id.rsplit("#", 1)[0]


def default_match_key(pid: str, entry: PaperEntry) -> str:
    """The key ``ingest.identity`` groups papers by: the title key, else the paper's own id."""
    return title_key(entry.title) or pid


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    paper_id: str
    score: float
    text: str


def collection_name(model: str, chunk_size: int, chunk_overlap: int) -> str:
    """Named for what built it, so a different model or chunking never mixes into this one."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")
    return f"papers-{slug}-c{chunk_size}o{chunk_overlap}"


SERVER_PREFIX = "server/"  # Manifest.chroma_dir of an index whose vectors live in a Chroma server


def chroma_http_client(host: str, port: int, timeout_s: float) -> Any:
    """A client of the Chroma server at host:port, telemetry off, every request bounded by
    ``timeout_s`` (Chroma's own client waits forever). Raises IndexError_ if it cannot be reached."""
    import chromadb
    import httpx
    from chromadb.config import Settings as ChromaSettings

    try:
        client = chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
        session = getattr(getattr(client, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            session.timeout = httpx.Timeout(timeout_s)
        client.heartbeat()
    except Exception as exc:  # chromadb raises ValueError / httpx errors / its own: all mean "not reachable"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IndexError_(
            f"cannot reach the Chroma server at {host}:{port} ({first[:200]}): start it with `chroma run --path DIR "
            f"--host 127.0.0.1 --port {port}`, or correct index.chroma_host / index.chroma_port"
        ) from exc
    return client


def chroma_client(path: Path) -> Any:
    """Embedded Chroma with telemetry off; it never embeds anything itself (no default EF)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


class PaperIndex:
    """Read and write access to one index directory."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._collection: Any = None
        self._sentences: Any = None
        self._bm25: Any = None
        self._bm25_ids: list[str] = []
        self._owner: dict[str, str] | None = None
        self._sentence_owner: dict[str, str] | None = None
        self._term_counts: dict[str, dict[str, int]] = {}
        self._dated: dict[tuple[str, ...], set[str]] = {}
        self._counts: dict[str, int] = {}  # vectors per store, counted once per opened generation
        self._any_dated: bool | None = None
        self._chroma_dir = manifest.chroma_dir  # the committed store, or the writer's copy after begin()
        self._clients: list[Any] = []
        self._copies: dict[Path, Path] = {}  # read-only stores -> the private copies opened (assistant.storage)
        self.stamp: tuple[int, int, int] | None = None  # manifest.json as read (see changed())
        self.fresh = False  # a rebuild: begin() starts from an empty store instead of a copy
        self.restored = ""  # open_for_write(repair=True): how an unreadable manifest was recovered
        self.space_wanted = 0  # bytes a writer expects to add beyond the store's copy (checked before copying)
        self.committed_dir = manifest.chroma_dir  # what readers use: never reused, written or deleted here
        self._catalog: Catalog | None = None
        self._catalog_writable = False
        self.server: tuple[str, int, float] | None = None  # (host, port, timeout): vectors in a Chroma server
        self._retired: set[str] = set()  # server collections (tokens) this writer may drop: never another index's

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> PaperIndex:
        """Open an existing index for reading; the settings' model must match the index's."""
        path = settings.index.path / "manifest.json"
        if not path.is_file():
            if (settings.index.path / BACKUP).is_file() or _committed_stores(settings.index.path):
                raise IndexMissingError(
                    f"the index manifest {path} is missing: repair it with `ingest --repair` (restores its backup, "
                    "or re-reads your sources embedding only what the vector store lacks)"
                )
            raise IndexMissingError(f"no index at {settings.index.path}: run `ingest` (or `make ask`) first")
        stamp = file_stamp(path)  # before reading: a commit in between is then seen as a change
        manifest = read_manifest(path)
        check_compatible(manifest, settings)
        index = cls(settings.index.path, manifest)
        index.stamp = stamp
        index._use_server(settings)
        index._attach_catalog(writable=False)
        return index

    def _use_server(self, settings: Settings) -> None:
        """Where the vectors are: a Chroma server (settings.index.chroma_host) or the index folder.
        Raises IndexMismatchError when the index was built the other way."""
        remote = self.manifest.chroma_dir.startswith(SERVER_PREFIX)
        wanted = settings.index.remote
        if remote and not wanted:
            raise IndexMismatchError(
                f"index {self.root} keeps its vectors in a Chroma server: set index.chroma_host and "
                "index.chroma_port (see docs/configuration.md) to the server it was built with"
            )
        if wanted and not remote and (self.manifest.paper_count or self.manifest.inline_papers):
            raise IndexMismatchError(
                f"index {self.root} keeps its vectors in its own folder but settings name a Chroma server: "
                "move them there with `ingest --rebuild PATHS`, or unset index.chroma_host"
            )
        if wanted:
            self.server = (str(settings.index.chroma_host), settings.index.chroma_port, settings.index.chroma_timeout_s)
            if not remote:  # a new index: its collections get a name of their own on the server
                self.manifest.chroma_dir = self._chroma_dir = self.committed_dir = _server_dir()

    def store_present(self) -> bool:
        """Is the committed vector store there? (a server's is assumed to be)"""
        return self.server is not None or (self.root / self.manifest.chroma_dir).is_dir()

    def _attach_catalog(self, *, writable: bool) -> None:
        """Give the manifest its papers: the catalog at its generation (format 2 and any writer)."""
        path = self.root / CATALOG
        if self.manifest.version < 2 and not writable:
            return  # format 1: the papers came inline
        if self._catalog is None or (writable and not self._catalog_writable):
            if self._catalog is not None:
                self._catalog.close()
            if writable and self.manifest.version < 2:
                path.unlink(missing_ok=True)  # format 1 never wrote one: anything here is a killed run's
            self._catalog = Catalog(path, writable=writable)
            self._catalog_writable = writable
        if writable:
            self._catalog.discard_after(self.manifest.generation)  # what a run killed before its commit wrote
        if self.manifest.version < 2:
            return
        self.manifest.attach(PaperTable(self._catalog, self.manifest.generation))

    def check_complete(self) -> None:
        """Raise IndexError_, naming the repair, if the vector store holds fewer chunks or sentence
        vectors than the manifest lists (two counts: cheap enough for every reader's start)."""
        want_chunks, want_sentences = self.expected_counts()
        have_chunks = self.collection.count() if want_chunks else 0
        have_sentences = self.sentences.count() if want_sentences else 0
        self._counts.update(chunks=have_chunks, sentences=have_sentences)  # what a search bounds n by
        lost = [
            f"{want - have} of {want} {what}"
            for what, want, have in (
                ("chunks", want_chunks, have_chunks),
                ("sentence vectors", want_sentences, have_sentences),
            )
            if have < want
        ]
        if lost:
            raise IndexError_(
                f"the index {self.root} is damaged: its vector store lacks {' and '.join(lost)}; repair it with "
                "`ingest --repair` (re-embeds only what is missing)"
            )

    @property
    def paper_count(self) -> int:
        """Papers in the committed generation (from the manifest: no record is read)."""
        return self.manifest.paper_count if self.manifest.version >= 2 else len(self.manifest.inline_papers)

    def expected_counts(self) -> tuple[int, int]:
        """(chunks, sentence vectors) the committed manifest lists."""
        if self.manifest.version < 2:
            return len(self.owner), len(self.sentence_owner)
        return self.manifest.chunk_count, self.manifest.sentence_count

    def changed(self) -> bool:
        """Has a commit replaced the manifest this index was opened from? (one ``stat``, no read)"""
        return self.stamp is not None and file_stamp(self.root / "manifest.json") != self.stamp

    def close(self) -> None:
        """Release the Chroma clients (and their in-memory HNSW indexes) this reader opened."""
        import contextlib

        clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()
        self._collection = self._sentences = None
        storage.remove_copies(self._copies)
        if self._catalog is not None:
            with contextlib.suppress(Exception):
                self._catalog.close()
            self._catalog = None

    @classmethod
    def open_for_write(
        cls, settings: Settings, dimension: int, *, rebuild: bool = False, repair: bool = False
    ) -> PaperIndex:
        """Like ``open``, but the chunking must match too: new chunks must not mix with old ones.

        ``rebuild``: start from an empty index (any model, any chunking) while the committed one
        stays readable until the new one is committed; a damaged manifest is no obstacle.
        ``repair``: an unreadable or missing manifest is restored from its backup (written at every
        commit), else the index starts empty on a copy of the newest vector store left on disk, so
        re-reading the sources embeds only what that store lacks (chunk ids carry content hashes).
        A lost vector store is rebuilt on a copy of the newest one left (or an empty one).
        ``restored`` says which ("backup", "sources", "store") or is "".
        """
        index = cls._open_for_write(settings, dimension, rebuild=rebuild, repair=repair)
        if rebuild and settings.index.remote:  # the rebuilt vectors go to collections of their own
            index.manifest.chroma_dir = _server_dir()
        index._use_server(settings)
        index._attach_catalog(writable=True)
        if rebuild or index.restored == "sources":
            index.manifest.papers.clear_base()  # starts empty; the commit retires every row it replaces
        return index

    @classmethod
    def _open_for_write(cls, settings: Settings, dimension: int, *, rebuild: bool, repair: bool) -> PaperIndex:
        path = settings.index.path / "manifest.json"
        if settings.index.path.exists() and not settings.index.path.is_dir():
            raise IndexMissingError(
                f"the index path {settings.index.path} is a file, not a folder: choose another --index"
            )
        if not rebuild and (recovered := cls._recover(settings, dimension, repair=repair)) is not None:
            return recovered
        if rebuild:
            previous, committed = 0, "chroma"
            try:
                if path.is_file():
                    on_disk = read_manifest(path)
                    previous, committed = on_disk.generation, on_disk.chroma_dir
            except IndexError_:
                pass
            settings.index.path.mkdir(parents=True, exist_ok=True)
            empty = cls._empty(settings, dimension).model_copy(update={"generation": previous})
            index = cls(settings.index.path, empty)
            index.fresh = True
            index.committed_dir = committed
            return index
        if path.is_file():
            index = cls.open(settings)
            built = (index.manifest.chunk_size, index.manifest.chunk_overlap)
            wanted = (settings.chunking.chunk_size, settings.chunking.chunk_overlap)
            if built != wanted:
                raise IndexMismatchError(
                    f"index {settings.index.path} was chunked with chunk_size={built[0]}, chunk_overlap={built[1]} but "
                    f"settings ask for chunk_size={wanted[0]}, chunk_overlap={wanted[1]}: rebuild with "
                    "`ingest --rebuild`, or restore the chunking settings"
                )
            return index
        settings.index.path.mkdir(parents=True, exist_ok=True)
        return cls(settings.index.path, cls._empty(settings, dimension))

    @classmethod
    def _recover(cls, settings: Settings, dimension: int, *, repair: bool) -> PaperIndex | None:
        """For ``open_for_write``: None when the manifest and its store are fine (nothing to recover).

        Without ``repair`` only a *missing* manifest with a readable backup is restored (nothing can
        be lost by that); everything else is left to ``--repair``, which the readers' messages name.
        """
        root = settings.index.path
        path, backup = root / "manifest.json", root / BACKUP
        if not root.is_dir():
            return None  # no index at all: an ordinary first ingest
        if path.is_file() and not repair:
            return None  # open() reads it once; a damaged one raises there, naming --repair
        catalog_lost = False
        try:
            manifest = read_manifest(path)
            if manifest.version >= 2 and manifest.paper_count and not _catalog_readable(root):
                catalog_lost = True
                # a lost or damaged catalog: re-read the sources, reusing every vector the store holds
                for name in (CATALOG, CATALOG + "-journal"):
                    (root / name).unlink(missing_ok=True)
                raise IndexError_("the paper catalog is unreadable")
        except IndexError_:
            pass
        else:
            if (
                manifest.chroma_dir.startswith(SERVER_PREFIX)  # a server's store cannot be lost from here
                or (root / manifest.chroma_dir).is_dir()
                or not (manifest.paper_count or manifest.inline_papers)
                or not repair
            ):
                return None
            # the committed store is gone: start from the newest store left (the previous generation's),
            # or an empty one if none is, and the run re-embeds what that lacks from the manifest's text
            newest = _newest_store(root)
            index = cls(root, manifest.model_copy(update={"chroma_dir": newest or "chroma"}))
            index.committed_dir, index.restored, index.fresh = newest or "chroma", "store", newest is None
            return index
        try:
            restored = read_manifest(backup)
            store_there = restored.chroma_dir.startswith(SERVER_PREFIX) or (root / restored.chroma_dir).is_dir()
            if store_there and not catalog_lost:
                write_atomic(path, restored.model_dump_json())
                index = cls._open_for_write(settings, dimension, rebuild=False, repair=False)
                index.restored = "backup"
                return index
        except IndexError_:
            pass
        if not repair:
            if _committed_stores(root):
                raise IndexMissingError(
                    f"the index manifest {path} is missing and its backup is unusable: repair it with "
                    "`ingest --repair PATHS` (re-reads your sources, embedding only what the vector store lacks)"
                )
            return None
        newest = _newest_store(root)
        if newest is None and not path.exists():
            return None  # nothing was ever committed here
        generation = int(newest.split("-")[1]) if newest and newest != "chroma" else 0
        empty = cls._empty(settings, dimension).model_copy(
            update={"generation": generation, "chroma_dir": newest or "chroma"}
        )
        index = cls(root, empty)
        index.fresh = newest is None
        index.restored = "sources"
        return index

    @staticmethod
    def _empty(settings: Settings, dimension: int) -> Manifest:
        return Manifest(
            embedding_model=settings.embedding.model,
            dimension=dimension,
            chunk_size=settings.chunking.chunk_size,
            chunk_overlap=settings.chunking.chunk_overlap,
        )

    @property
    def collection(self) -> Any:
        """Chunks: what dense retrieval searches and BM25 indexes."""
        if self._collection is None:
            self._collection = self._open_collection("")
        return self._collection

    @property
    def sentences(self) -> Any:
        """Abstract sentences with their vectors, embedded at ingest so that picking evidence for a
        question costs dot products, not an encoder pass per sentence."""
        if self._sentences is None:
            self._sentences = self._open_collection("-sentences")
        return self._sentences

    def _open_collection(self, suffix: str) -> Any:
        name = collection_name(self.manifest.embedding_model, self.manifest.chunk_size, self.manifest.chunk_overlap)
        if self.server is not None:
            client = chroma_http_client(*self.server)
            token = self._chroma_dir.removeprefix(SERVER_PREFIX)
            full = f"{name}-{token}{suffix}"
            if not self._catalog_writable and self.manifest.paper_count:  # a reader never creates collections
                try:
                    return client.get_collection(full, embedding_function=None)
                except Exception as exc:  # chromadb's NotFoundError (its type differs across versions)
                    host, port, _ = self.server
                    raise IndexMismatchError(
                        f"the Chroma server at {host}:{port} has no collection {full} that index {self.root} "
                        "was built with: is index.chroma_host / chroma_port the server it was built on?"
                    ) from exc
            return client.get_or_create_collection(
                name=full, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        path = self.root / self._chroma_dir
        if not path.is_dir():  # never let Chroma create an empty store where the committed one should be
            raise IndexMissingError(
                f"the vector store {path} is missing: if an ingest just replaced it, ask again; otherwise "
                "repair the index with `ingest --repair` (starts from the newest store left, re-embeds the rest)"
            )
        reader = not self._catalog_writable

        def connect(where: Path) -> Any:
            client = chroma_client(where)
            self._clients.append(client)
            return client.get_or_create_collection(
                name=name + suffix, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )

        # read-only media, full disks and Chroma's own failures: one line, or a reader's private copy
        return storage.open_store(path, connect, reader=reader, copies=self._copies)

    def sentence_vectors(self, paper_ids: list[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """Each paper's committed sentences, in abstract order, with their unit vectors."""
        import numpy as np

        # looked up by id (the catalog lists each paper's sentence ids, in abstract order): an
        # indexed read, where a metadata filter would scan a table that grows with the collection
        entries = self.manifest.papers.get_many(list(paper_ids))
        wanted = [sid for entry in entries.values() for sid in entry.sentence_ids]
        if not wanted:
            return {}
        got = self.sentences.get(ids=wanted, include=["embeddings", "documents"])
        rows_of = zip(got["ids"], got["documents"], got["embeddings"], strict=True)
        found = {sid: (text, vec) for sid, text, vec in rows_of}
        out = {}
        for pid, entry in entries.items():
            rows = [found[sid] for sid in entry.sentence_ids if sid in found]
            if rows:
                out[pid] = ([r[0] for r in rows], np.asarray([r[1] for r in rows], dtype="float32"))
        return out

    def owners(self, unit_ids: Iterable[str], kind: str = "chunks") -> dict[str, str]:
        """Chunk (or sentence) id -> paper id, for those of ``unit_ids`` a committed paper lists:
        one catalog lookup for all of their papers, never a map of the whole index."""
        named = {uid: paper_of(uid) for uid in unit_ids}
        entries = self.manifest.papers.get_many(list(set(named.values())))
        out = {}
        for uid, pid in named.items():
            entry = entries.get(pid)
            if entry is not None and uid in (entry.chunk_ids if kind == "chunks" else entry.sentence_ids):
                out[uid] = pid
        return out

    @property
    def owner(self) -> dict[str, str]:
        """Every chunk id -> paper id (reads every record: repair and tests, not the query path)."""
        if self._owner is None:
            self._owner = self.manifest.chunk_owner()
        return self._owner

    @property
    def sentence_owner(self) -> dict[str, str]:
        """Built once per manifest, not per query: ``sentence_vectors`` runs on every search."""
        if self._sentence_owner is None:
            self._sentence_owner = self.manifest.sentence_owner()
        return self._sentence_owner

    # -- writing -------------------------------------------------------------------------------

    def _store(self, kind: str) -> Any:
        return self.sentences if kind == "sentences" else self.collection

    def stored_papers(self) -> set[str]:
        """Paper ids that have chunks in the store (from Chroma's metadata), whatever the manifest says."""
        return {m["paper_id"] for m in self.collection.get(include=["metadatas"])["metadatas"] if m}

    def existing(self, units: list[tuple[str, str]]) -> set[str]:
        """Those of ``(kind, id)`` the writer's store already holds (looked up by id, in slices)."""
        found: set[str] = set()
        for kind in ("chunks", "sentences"):
            ids = [uid for k, uid in units if k == kind]
            for start in range(0, len(ids), 5000):
                found.update(self._store(kind).get(ids=ids[start : start + 5000], include=[])["ids"])
        return found

    def stored_ids(self, kind: str = "chunks") -> set[str]:
        return set(self._store(kind).get(include=[])["ids"])

    def upsert(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str],
        metadatas: list[dict[str, Any]],
        kind: str = "chunks",
    ) -> None:
        """Writes in slices of the client's max batch size (Chroma rejects larger batches)."""
        target = self._store(kind)
        step = self.collection._client.get_max_batch_size()
        for start in range(0, len(ids), step):
            end = start + step
            target.upsert(
                ids=ids[start:end],
                embeddings=vectors[start:end],
                documents=texts[start:end],
                metadatas=metadatas[start:end],
            )

    def delete(self, ids: Iterable[str], kind: str = "chunks") -> None:
        target = self._store(kind)
        ids = list(ids)
        step = self.collection._client.get_max_batch_size()
        for start in range(0, len(ids), step):
            target.delete(ids=ids[start : start + step])

    def begin(self) -> None:
        """Start writing: every write from here on goes to a copy of the committed vector store.

        Chroma rewrites its HNSW files in place, and a process killed in the middle leaves files
        its loader crashes on (a SIGSEGV, not an error: chroma-core/chroma#7238). So the committed
        store is never written: the writer works on ``chroma-<generation>-<token>/`` (named in
        ``next-store.json``) and :meth:`commit` points the manifest at it. A copy that a killed run
        left behind is reused when it opens and answers a query in a separate process
        (:func:`probe_store`); otherwise it is deleted and the committed store copied afresh.
        """
        if self.server is not None:
            # A Chroma server is its own process: a killed ingest cannot tear its files, so the writer
            # adds to the live collections. Readers see only what their generation's catalog lists
            # (PaperIndex.owners), so vectors added before the commit stay invisible until it.
            self._chroma_dir = self.manifest.chroma_dir
            return
        if self._chroma_dir != self.manifest.chroma_dir:
            return
        pending = self.root / NEXT_STORE
        work: Path | None = None
        try:
            candidate = self.root / json.loads(pending.read_text())["chroma_dir"]
            # never the committed store (a kill between the manifest's replacement and the removal
            # of next-store.json leaves it named there): that one is only ever copied
            if _is_store(candidate.name) and candidate.name != self.committed_dir and candidate.is_dir():
                if probe_store(candidate):
                    work = candidate
                else:
                    shutil.rmtree(candidate)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if work is None:
            work = self.root / f"chroma-{self.manifest.generation + 1}-{secrets.token_hex(4)}"
            staging = work.with_name(work.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            committed = self.root / self.manifest.chroma_dir
            if committed.is_dir() and not self.fresh:
                storage.copy_store(committed, staging, extra=self.space_wanted)
            else:
                staging.mkdir(parents=True)
            # named before it appears: a kill in between leaves no store that nothing names
            write_atomic(pending, json.dumps({"chroma_dir": work.name}))
            os.replace(staging, work)
        self._chroma_dir = work.name
        self._collection = self._sentences = None

    def abandon(self) -> None:
        """After a failed write (a full disk): remove what this writer made beside the committed state,
        its store copy, ``next-store.json``, the next generation's BM25 and temporary files, so its
        space is free again. Never a store the manifest on disk names (it is re-read here)."""
        import contextlib

        clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()
        self._collection = self._sentences = None
        try:
            on_disk = read_manifest(self.root / "manifest.json")
            keep, generation = {on_disk.chroma_dir, on_disk.previous_chroma_dir}, on_disk.generation
        except IndexError_:
            keep, generation = {self.committed_dir, self.manifest.previous_chroma_dir}, self.manifest.generation
        if self.server is None and _is_store(self._chroma_dir) and self._chroma_dir not in keep:
            shutil.rmtree(self.root / self._chroma_dir, ignore_errors=True)
            (self.root / NEXT_STORE).unlink(missing_ok=True)
        self._chroma_dir = self.committed_dir
        shutil.rmtree(self.root / f"bm25-{generation + 1}", ignore_errors=True)
        storage.clear_staging(self.root)
        if self._catalog is not None and self._catalog_writable:
            with contextlib.suppress(Exception):
                self._catalog.discard_after(generation)

    def commit(self, manifest: Manifest, match_key: Callable[[str, PaperEntry], str] = default_match_key) -> None:
        """Sweep the writer's store, build BM25 for the new generation, write the staged paper
        records to the catalog as that generation, then atomically replace the manifest (which
        names the new store and generation); only then remove what no kept generation refers to.

        Only the changed papers are read and written: their replaced chunk and sentence ids are
        deleted from the store by id, and the counts are carried forward. Where the store's counts
        then disagree with the manifest's (vectors a killed run left), every id is checked.
        """
        self.begin()
        assert self._catalog is not None and self._catalog_writable, "open_for_write attaches the catalog"
        table = manifest.papers
        generation = self.manifest.generation + 1
        if table.inline is not None:  # format 1: every paper moves into the catalog now
            changes: dict[str, PaperEntry | None] = dict(table.items())
            before: dict[str, PaperEntry] = {}
            clear = True
        else:
            changes = dict(table.staged)
            clear = table.cleared
            before = {} if clear else PaperTable(self._catalog, self.manifest.generation).get_many(list(changes))
        old_units = {u for e in before.values() for u in (*e.chunk_ids, *e.sentence_ids)}
        new_units = {u for e in changes.values() if e is not None for u in (*e.chunk_ids, *e.sentence_ids)}
        stale = sorted(old_units - new_units)
        # a Chroma server's collections are what readers of the committed generation search: their
        # replaced vectors go only after the manifest names the next generation (below)
        deferred = self.server is not None and not clear
        if stale and not deferred:
            self.delete(stale)
            self.delete(stale, "sentences")
        counts = self._carried_counts(manifest, changes, before, clear)
        manifest.generation = generation
        manifest.chroma_dir = self._chroma_dir
        manifest.previous_chroma_dir = self.committed_dir if self.committed_dir != self._chroma_dir else None
        if self.manifest.previous_chroma_dir and self.manifest.previous_chroma_dir.startswith(SERVER_PREFIX):
            self._retired.add(self.manifest.previous_chroma_dir.removeprefix(SERVER_PREFIX))
        manifest.version = MANIFEST_VERSION
        manifest.paper_count, manifest.chunk_count, manifest.sentence_count = counts
        old_chunks = {c for e in before.values() for c in e.chunk_ids} & set(stale)
        lingering = (len(old_chunks), len(stale) - len(old_chunks)) if deferred else (0, 0)
        stored = (self.collection.count(), self.sentences.count())
        if stored != (counts[1] + lingering[0], counts[2] + lingering[1]):
            self._sweep_all(changes, clear)  # what a killed run (or an older version) left unowned
            stale = []
        ids, texts = self._all_chunk_texts(exclude=set(stale))
        if len(ids) != manifest.chunk_count:
            raise IndexError_(
                f"the vector store of {self.root} holds {len(ids)} chunks where the index lists "
                f"{manifest.chunk_count}: repair the index with `ingest --repair`"
            )
        build_bm25(self.root / f"bm25-{generation}", ids, texts)
        self._catalog.apply(changes, generation, match_key, clear=clear)
        text = manifest.model_dump_json()
        write_atomic(self.root / "manifest.json", text)
        write_atomic(self.root / BACKUP, text)  # what `ingest --repair` restores a damaged manifest from
        if stale and deferred:
            self.delete(stale)
            self.delete(stale, "sentences")
        self.manifest = manifest
        manifest.attach(PaperTable(self._catalog, generation))
        self.committed_dir = manifest.chroma_dir
        self._owner = None
        self._sentence_owner = None
        self._bm25 = None
        self._counts = {}
        self._any_dated = None
        self._dated = {}
        self.tidy()

    def _tidy_server(self, keep: set[str | None]) -> None:
        """Drop this index's collections on the server that no kept generation names (after a rebuild)."""
        name = collection_name(self.manifest.embedding_model, self.manifest.chunk_size, self.manifest.chunk_overlap)
        tokens = {k.removeprefix(SERVER_PREFIX) for k in keep if k and k.startswith(SERVER_PREFIX)}
        client = chroma_http_client(*self.server) if self.server else None
        if client is None or not self._catalog_writable:
            return
        for listed in client.list_collections():
            found = re.fullmatch(re.escape(name) + r"-([0-9a-f]{8})(?:-sentences)?", listed.name)
            if found and found.group(1) not in tokens and found.group(1) in self._retired:
                client.delete_collection(listed.name)

    def _carried_counts(
        self, manifest: Manifest, changes: dict[str, PaperEntry | None], before: dict[str, PaperEntry], clear: bool
    ) -> tuple[int, int, int]:
        """(papers, chunks, sentence vectors) after ``changes``, from the committed counts."""
        if clear or self.manifest.version < 2:
            papers = chunks = sentences = 0
        else:
            papers, chunks, sentences = (
                self.manifest.paper_count,
                self.manifest.chunk_count,
                self.manifest.sentence_count,
            )
        for pid, entry in changes.items():
            if (old := before.get(pid)) is not None:
                papers, chunks, sentences = papers - 1, chunks - len(old.chunk_ids), sentences - len(old.sentence_ids)
            if entry is not None:
                papers, chunks = papers + 1, chunks + len(entry.chunk_ids)
                sentences += len(entry.sentence_ids)
        return papers, chunks, sentences

    def _sweep_all(self, changes: dict[str, PaperEntry | None], clear: bool) -> None:
        """Delete every stored vector that no paper of the next generation lists (reads all ids)."""
        keep: set[str] = set()
        if not clear:
            for pid, entry in PaperTable(self._catalog, self.manifest.generation).iter_items():
                if pid not in changes:
                    keep.update((*entry.chunk_ids, *entry.sentence_ids))
        keep.update(u for e in changes.values() if e is not None for u in (*e.chunk_ids, *e.sentence_ids))
        for kind in ("chunks", "sentences"):
            if stale := self.stored_ids(kind) - keep:
                self.delete(stale, kind)

    def _all_chunk_texts(self, exclude: set[str] | None = None) -> tuple[list[str], list[str]]:
        """Every stored chunk's id and text but ``exclude``, in id order, read in pages (what BM25 indexes)."""
        pairs: list[tuple[str, str]] = []
        step, offset = 5000, 0
        while True:
            got = self.collection.get(include=["documents"], limit=step, offset=offset)
            pairs += zip(got["ids"], got["documents"], strict=True)
            if len(got["ids"]) < step:
                break
            offset += step
        pairs.sort()
        if exclude:
            pairs = [p for p in pairs if p[0] not in exclude]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def tidy(self) -> None:
        """Remove what no committed state refers to: generations older than the previous one (BM25
        folders, vector stores) and the temporary files a killed run left (only names this project
        writes). The previous generation stays until the next commit, so a long-lived reader that
        opened it before this commit finishes its question and then moves on (see ``changed``)."""
        (self.root / NEXT_STORE).unlink(missing_ok=True)
        for leftover in ("manifest.json.tmp", BACKUP + ".tmp", NEXT_STORE + ".tmp"):
            (self.root / leftover).unlink(missing_ok=True)
        generation = self.manifest.generation
        keep_bm25 = {f"bm25-{generation}", f"bm25-{generation - 1}"}
        for folder in self.root.glob("bm25-*"):
            if folder.name not in keep_bm25:
                shutil.rmtree(folder, ignore_errors=True)
        keep = {self.manifest.chroma_dir, self.manifest.previous_chroma_dir}
        if self.server is not None:
            self._tidy_server(keep)
        for folder in self.root.iterdir():
            if folder.is_dir() and _is_store(folder.name) and folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
        if self._catalog is not None and self._catalog_writable:
            self._catalog.forget_before(generation - 1)  # rows neither this generation nor the previous sees

    # -- reading -------------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, n: int, allowed: Collection[str] | None = None) -> list[Hit]:
        """Nearest chunks by cosine similarity; chunks the manifest does not own are ignored.
        ``allowed``: only these papers' chunks are searched (a filter applied before ranking)."""
        return self._nearest(self.collection, "chunks", vector, n, allowed)

    def dense_sentences(self, vector: np.ndarray, n: int, allowed: Collection[str] | None = None) -> list[Hit]:
        """Nearest abstract sentences (ids are sentence ids); [] for an index built without them."""
        return self._nearest(self.sentences, "sentences", vector, n, allowed)

    def _nearest(self, store: Any, kind: str, vector: Any, n: int, allowed: Collection[str] | None) -> list[Hit]:
        count = self._counts.get(kind)
        if count is None:  # counted once per opened generation (loading a store's index is the cost)
            count = self._counts[kind] = store.count()
        if count == 0 or (allowed is not None and not allowed):
            return []
        where = {"paper_id": {"$in": sorted(allowed)}} if allowed is not None else None
        # distances only: fetching 200 documents costs ~10 ms; texts come later for the few chunks shown
        result = store.query(
            query_embeddings=[vector], n_results=min(n + 10, count), include=["distances"], where=where
        )
        owner = self.owners(result["ids"][0], kind)
        hits = []
        for cid, dist in zip(result["ids"][0], result["distances"][0], strict=True):
            if cid in owner:
                hits.append(Hit(cid, owner[cid], 1.0 - float(dist), ""))
        return hits[:n]

    def papers_dated(self, wanted: list[str]) -> set[str]:
        """Papers whose date matches any of ``wanted`` (see :func:`assistant.dates.date_matches`): the
        ISO form stored at ingest, else the raw date. Kept per filter for this manifest (a question's
        date is looked up by the chain, then by the search)."""
        from assistant.dates import date_matches

        key = tuple(wanted)
        if key not in self._dated:
            if len(self._dated) >= 64:
                self._dated.pop(next(iter(self._dated)))
            self._dated[key] = {
                pid
                for pid, day, date in self.manifest.papers.dates()
                if (when := day or date) and any(date_matches(when, w) for w in wanted)
            }
        return self._dated[key]

    @property
    def any_dated(self) -> bool:
        """Does any committed paper carry a date? (read once per opened generation)"""
        if self._any_dated is None:
            self._any_dated = bool(self.manifest.papers.dates())
        return self._any_dated

    def chunk_texts(self, chunk_ids: list[str]) -> dict[str, str]:
        """Stored text of these chunks (those Chroma has), read in slices."""
        texts: dict[str, str] = {}
        step = 5000
        for start in range(0, len(chunk_ids), step):
            got = self.collection.get(ids=chunk_ids[start : start + step], include=["documents"])
            texts.update(zip(got["ids"], got["documents"], strict=True))
        return texts

    def sparse(self, query: str, n: int, allowed: Collection[str] | None = None) -> list[Hit]:
        """BM25 over chunks (title line included); ``allowed`` masks the others before ranking."""
        retriever, ids = self._load_bm25()
        if not ids or (allowed is not None and not allowed):
            return []

        tokens = bm25_tokenize([query])
        if not tokens.vocab:
            return []
        mask = None
        if allowed is not None:
            import numpy as np

            mask = np.fromiter((paper_of(cid) in allowed for cid in ids), dtype="float32", count=len(ids))
        docs, scores = retriever.retrieve(
            tokens, k=min(n, len(ids)), show_progress=False, n_threads=1, weight_mask=mask
        )
        found = [(ids[int(doc)], float(score)) for doc, score in zip(docs[0], scores[0], strict=True) if score > 0]
        owner = self.owners([cid for cid, _ in found])
        return [Hit(cid, owner[cid], score, "") for cid, score in found if cid in owner]

    def term_idf(self, query: str, exclude: Collection[str] = ()) -> list[tuple[str, float | None]]:
        """Each distinct BM25 term of ``query`` with its inverse document frequency over chunks,
        ``log(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's BM25 IDF); None for a term no chunk has.
        ``exclude``: papers counted as absent (each of their chunks that has the term leaves df)."""
        import math

        retriever, ids = self._load_bm25()
        terms = list(dict.fromkeys(index_terms(query)))
        if retriever is None or not ids:
            return [(t, None) for t in terms]
        vocab = retriever.vocab_dict
        indptr = retriever.scores["indptr"]
        total = len(ids)
        removed: dict[str, int] = {}
        for pid in exclude:
            entry = self.manifest.papers.get(pid)
            if entry is not None:
                total -= len(entry.chunk_ids)
                for term, count in self._chunk_term_counts(pid).items():
                    removed[term] = removed.get(term, 0) + count
        out: list[tuple[str, float | None]] = []
        for term in terms:
            tid = vocab.get(term)
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0
            df = max(df - removed.get(term, 0), 0)
            out.append((term, math.log(1 + (total - df + 0.5) / (df + 0.5)) if df else None))
        return out

    def _chunk_term_counts(self, paper_id: str) -> dict[str, int]:
        """How many of a paper's chunks hold each BM25 term (exactly the texts BM25 indexed); the
        last 1,024 papers asked about are kept (calibration masks each sampled paper twice)."""
        cache = self._term_counts
        if paper_id not in cache:
            counts: dict[str, int] = {}
            for text in self.chunk_texts(self.manifest.papers[paper_id].chunk_ids).values():
                for term in set(index_terms(text)):
                    counts[term] = counts.get(term, 0) + 1
            if len(cache) >= 1024:
                cache.pop(next(iter(cache)))
            cache[paper_id] = counts
        return cache[paper_id]

    def _load_bm25(self) -> tuple[Any, list[str]]:
        if self._bm25 is None:
            folder = self.root / f"bm25-{self.manifest.generation}"
            if not (folder / "ids.json").is_file():
                if not self.manifest.paper_count and not self.manifest.inline_papers:
                    return None, []
                raise IndexMissingError(
                    f"the BM25 index {folder} is missing: repair the index with `ingest --repair` (rebuilds it from "
                    "the stored chunks; nothing is embedded again)"
                )
            import bm25s

            self._bm25_ids = json.loads((folder / "ids.json").read_text())
            # memory-mapped: a reader's start pages in only what its queries touch
            self._bm25 = bm25s.BM25.load(str(folder), mmap=True) if self._bm25_ids else None
        return self._bm25, self._bm25_ids


NEXT_STORE = "next-store.json"
BACKUP = "manifest.backup.json"  # the same manifest, written after it at every commit


def _store_names(root: Path) -> list[tuple[int, str]]:
    """(generation, name) of every committed-style vector store folder on disk."""
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        match = re.fullmatch(r"chroma-(\d+)-[0-9a-f]{8}", folder.name)
        if folder.is_dir() and (match or folder.name == "chroma"):
            found.append((int(match.group(1)) if match else 0, folder.name))
    return found


def _committed_stores(root: Path) -> list[str]:
    """Stores on disk that a commit made: all but the one an unfinished ingest is writing (named in
    next-store.json), so a first ingest killed before its commit is simply run again."""
    try:
        writing = json.loads((root / NEXT_STORE).read_text())["chroma_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        writing = None
    return [name for _, name in _store_names(root) if name != writing]


def _newest_store(root: Path) -> str | None:
    """The vector store of the highest generation on disk that opens and answers a query, or None."""
    for _, name in sorted(_store_names(root), reverse=True):
        if probe_store(root / name):
            return name
    return None


_STORE = re.compile(r"chroma(?:-\d+-[0-9a-f]{8}(?:\.tmp)?)?")  # "chroma" (before copies), chroma-<gen>-<token>


def _is_store(name: str) -> bool:
    return bool(_STORE.fullmatch(name))


_PROBE = "import sys; from assistant.store import probe_in_process; probe_in_process(sys.argv[1])"


def probe_store(path: Path, timeout_s: float = 300.0) -> bool:
    """True when the Chroma store at ``path`` opens and answers a query, tried in a child process
    (a torn store crashes the process that loads it)."""
    try:
        here = Path(__file__).resolve().parent.parent  # import this project, not a same-named folder in cwd
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path.resolve())], capture_output=True, timeout=timeout_s, cwd=here
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def probe_in_process(path: str) -> None:
    """Open every collection at ``path``, read one vector and query with it (raises or crashes if torn)."""
    client = chroma_client(Path(path))
    for listed in client.list_collections():
        collection = client.get_collection(listed.name, embedding_function=None)
        count = collection.count()
        if count:
            got = collection.get(limit=1, include=["embeddings"])
            collection.query(query_embeddings=[got["embeddings"][0]], n_results=min(5, count), include=["distances"])


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


def _catalog_readable(root: Path) -> bool:
    try:
        Catalog(root / CATALOG).close()
    except IndexError_:
        return False
    return True


def _server_dir() -> str:
    return SERVER_PREFIX + secrets.token_hex(4)


def load_manifest(root: Path) -> Manifest:
    """The committed manifest of the index at ``root`` with its papers (the catalog opened read-only):
    for tools and tests that inspect an index without settings."""
    manifest = read_manifest(root / "manifest.json")
    if manifest.version >= 2:
        manifest.attach(PaperTable(Catalog(root / CATALOG), manifest.generation))
    return manifest


def check_compatible(manifest: Manifest, settings: Settings) -> None:
    if manifest.version not in (1, MANIFEST_VERSION):
        raise IndexMismatchError(
            f"index {settings.index.path} has format {manifest.version}, this version reads {MANIFEST_VERSION}: "
            "rebuild it with `ingest --rebuild`"
        )
    wanted = settings.embedding.model
    if manifest.embedding_model != wanted:
        raise IndexMismatchError(
            f"index {settings.index.path} was built with {manifest.embedding_model} ({manifest.dimension}-d) but "
            f"settings ask for {wanted}: rebuild with `ingest --rebuild`, or set embedding.model = "
            f'"{manifest.embedding_model}"'
        )


def build_bm25(folder: Path, ids: list[str], texts: list[str]) -> None:
    """bm25s over the chunk texts, English stopwords and Snowball stemming, saved with its ids."""
    import bm25s

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    retriever = bm25s.BM25()
    tokenized = bm25_tokenize(texts) if texts else None
    if tokenized is None or not tokenized.vocab:  # no chunk has a single indexable word: nothing to rank
        ids = []
        tmp.mkdir(parents=True)
    else:
        retriever.index(tokenized, show_progress=False)
        retriever.save(str(tmp))
    write_atomic(tmp / "ids.json", json.dumps(ids))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of a file, None if it is missing: an atomic replace changes the inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def write_atomic(path: Path, text: str) -> None:
    """Write beside, fsync, rename: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
