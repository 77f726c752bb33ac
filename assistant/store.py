"""Store: reading one index, the generation its manifest names: its papers, vectors and BM25.

:class:`PaperIndex` opens the committed generation (``assistant.manifest``), searches its chunks,
dense (``assistant.chroma``) and sparse (``assistant.bm25``), reads abstract sentences and their
vectors by id (``assistant.sentsegments``) and papers from the catalog (``assistant.catalog``). Only
what the manifest's papers list is ever returned, so vectors a writer added before its commit stay
invisible. Writing is
``assistant.writer``'s :class:`~assistant.writer.IndexWriter`, a :class:`PaperIndex` that may also write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from assistant import storage
from assistant.bm25 import Bm25
from assistant.catalog import CATALOG, Catalog, PaperTable
from assistant.chroma import (
    SERVER_PREFIX,
    chroma_client,
    collection_name,
    committed_stores,
    server_collection,
    server_dir,
)
from assistant.errors import IndexError_, IndexMismatchError, IndexMissingError
from assistant.manifest import BACKUP, Manifest, check_compatible, paper_of, read_manifest
from assistant.segments import Segments, nearest
from assistant.sentsegments import SentenceSegments, open_segments
from assistant.sentvec import LegacySentences
from assistant.storage import file_stamp
from assistant.text import index_terms

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    paper_id: str
    score: float
    text: str


class PaperIndex:
    """Read access to the committed generation of one index directory."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._collection: Any = None
        self._sentences: Any = None
        self._bm25: Bm25 | None = None
        self._owner: dict[str, str] | None = None
        self._sentence_owner: dict[str, str] | None = None
        self._staged: set[str] = set()  # a writer's sentence ids staged for its commit (assistant.writer)
        self._term_counts: dict[str, dict[str, int]] = {}
        self._dated: dict[tuple[str, ...], set[str]] = {}
        self._counts: dict[str, int] = {}  # vectors per store, counted once per opened generation
        self._any_dated: bool | None = None
        self._chroma_dir = manifest.chroma_dir  # the committed base store, or the writer's copy after begin()
        self._deltas = list(manifest.chroma_deltas)  # the committed delta stores read with it (assistant.segments)
        self._work: str | None = None  # a writer's own delta store, after begin()
        self._clients: list[Any] = []
        self._copies: dict[Path, Path] = {}  # read-only stores -> the private copies opened (assistant.storage)
        self.stamp: tuple[int, int, int] | None = None  # manifest.json as read (see changed())
        self.committed_dir = manifest.chroma_dir  # what readers use: never reused, written or deleted here
        self._catalog: Catalog | None = None
        self._catalog_writable = False
        self.server: tuple[str, int, float] | None = None  # (host, port, timeout): vectors in a Chroma server

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> Self:
        """Open an existing index for reading; the settings' model must match the index's."""
        path = settings.index.path / "manifest.json"
        if not path.is_file():
            if (settings.index.path / BACKUP).is_file() or committed_stores(settings.index.path):
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
                self.manifest.chroma_dir = self._chroma_dir = self.committed_dir = server_dir()

    def store_present(self) -> bool:
        """Is every committed vector store there (the base and its deltas)? (a server's is assumed to be)"""
        names = [self.manifest.chroma_dir, *self.manifest.chroma_deltas]
        return self.server is not None or all((self.root / name).is_dir() for name in names)

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
        self._close_clients()
        storage.remove_copies(self._copies)
        if self._catalog is not None:
            with contextlib.suppress(Exception):
                self._catalog.close()
            self._catalog = None

    def _close_clients(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                client.close()
        self._collection = self._sentences = None

    @property
    def collection(self) -> Segments:
        """Chunks: what dense retrieval searches and BM25 indexes: the base store, its deltas and a
        writer's own delta, read as one (``assistant.segments``; stored garbage is not counted)."""
        if self._collection is None:
            names = [self._chroma_dir, *([] if self.server else [*self._deltas, *filter(None, [self._work])])]
            garbage = self.manifest.chunk_garbage if self._chroma_dir == self.committed_dir else 0
            self._collection = Segments([self._open_collection("", name) for name in names], garbage)
        return self._collection

    @property
    def sentences(self) -> SentenceSegments | LegacySentences:
        """The committed abstract sentences with their vectors, embedded at ingest so that picking
        evidence for a question costs dot products, not an encoder pass per sentence: the generation's
        base and delta folders read as one (``assistant.sentsegments``), or for an index built before
        them its Chroma collection ``<name>-sentences`` (read-only here; the next commit moves them)."""
        if self._sentences is None:
            if self.manifest.sentence_dir:
                self._sentences = open_segments(self.root, self.manifest)
            elif self.legacy_sentences:
                self._sentences = LegacySentences(self._open_collection("-sentences"))
            else:
                self._sentences = LegacySentences(None)  # none stored yet
        return self._sentences

    @property
    def legacy_sentences(self) -> bool:
        """Are the committed sentences in the Chroma collection of an index built before ``sentvec``?"""
        return not self.manifest.sentence_dir and self.expected_counts()[1] > 0

    def _open_collection(self, suffix: str, store: str | None = None) -> Any:
        name = collection_name(self.manifest.embedding_model, self.manifest.chunk_size, self.manifest.chunk_overlap)
        if self.server is not None:  # a reader never creates collections
            creating = self._catalog_writable or not self.manifest.paper_count
            full = f"{name}-{self._chroma_dir.removeprefix(SERVER_PREFIX)}{suffix}"
            return server_collection(self.server, full, self.root, create=creating)
        path = self.root / (store or self._chroma_dir)
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
        found = self.sentences.get(wanted)
        out = {}
        for pid, entry in entries.items():
            rows = [found[sid] for sid in entry.sentence_ids if sid in found]
            if rows:
                out[pid] = ([r[0] for r in rows], np.asarray([r[1] for r in rows], dtype="float32"))
        return out

    def sentence_hits(self, vector: np.ndarray, paper_ids: Collection[str], n: int) -> list[Hit]:
        """The ``n`` abstract sentences of ``paper_ids`` most similar to the unit ``vector`` (cosine:
        exact dot products over their stored vectors, best first; ids are sentence ids)."""
        if isinstance(self.sentences, SentenceSegments):  # by id (prefix, or the papers' listed ids)
            return [Hit(sid, pid, score, "") for sid, pid, score in self.sentences.nearest(vector, paper_ids, n)]
        if self.sentences.collection is None:
            return []
        # an index built before assistant.sentvec: its HNSW collection, searched within these papers
        return self._nearest(Segments([self.sentences.collection]), "sentences", vector, n, set(paper_ids))

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

    # -- the vector store's contents -------------------------------------------------------------

    def stored_papers(self) -> set[str]:
        """Paper ids that have chunks in the store (from Chroma's metadata), whatever the manifest says."""
        return {m["paper_id"] for m in self.collection.get(include=["metadatas"])["metadatas"] if m}

    def existing(self, units: list[tuple[str, str]]) -> set[str]:
        """Those of ``(kind, id)`` the writer's store already holds (looked up by id, in slices)."""
        found: set[str] = set()
        ids = [uid for k, uid in units if k == "chunks"]
        for start in range(0, len(ids), 5000):
            found.update(self.collection.get(ids=ids[start : start + 5000], include=[])["ids"])
        sentences = [uid for k, uid in units if k == "sentences"]
        with contextlib.suppress(IndexError_):  # a missing or damaged sentence folder: all are embedded again
            found.update(self.sentences.rows(sentences))
        return found | (self._staged & set(sentences))

    def stored_ids(self, kind: str = "chunks") -> set[str]:
        """Every id of ``kind`` ("chunks" or "sentences") the committed stores hold for this generation:
        where they hold garbage (``assistant.segments``), only the ids a committed paper lists (all,
        when a writer starts from no committed papers: a repair from the sources reuses any)."""
        if kind == "sentences":
            sent = self.sentences
            held, store = set(sent.ids()), sent if isinstance(sent, SentenceSegments) else None
        else:
            held, store = self.collection.ids(), self.collection
        everything = store is None or (len(store.parts) == 1 and not store.garbage) or self.manifest.papers.cleared
        return (held if everything else set(self.owners(held, kind))) | (self._staged if kind == "sentences" else set())

    # -- reading -------------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, n: int, allowed: Collection[str] | None = None) -> list[Hit]:
        """Nearest chunks by cosine similarity; chunks the manifest does not own are ignored.
        ``allowed``: only these papers' chunks are searched (a filter applied before ranking)."""
        return self._nearest(self.collection, "chunks", vector, n, allowed)

    def _nearest(self, store: Segments, kind: str, vector: Any, n: int, allowed: Collection[str] | None) -> list[Hit]:
        count = self._counts.get(kind)
        if count is None:  # counted once per opened generation (loading a store's index is the cost)
            count = self._counts[kind] = store.count()
        if count == 0 or (allowed is not None and not allowed):
            return []
        where = {"paper_id": {"$in": sorted(allowed)}} if allowed is not None else None
        # distances only: fetching 200 documents costs ~10 ms; texts come later for the few chunks shown
        found = nearest(store, vector, n, where, lambda ids: self.owners(ids, kind))
        return [Hit(cid, pid, 1.0 - dist, "") for cid, pid, dist in found]

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
            self._any_dated = self.manifest.papers.any_dated()
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
        _, ids = self.bm25.load()
        if not ids or (allowed is not None and not allowed):
            return []
        found = self.bm25.rank(query, n, None if allowed is None else lambda cid: paper_of(cid) in allowed)
        owner = self.owners([cid for cid, _ in found])
        return [Hit(cid, owner[cid], score, "") for cid, score in found if cid in owner]

    def chunks_with(self, term: str) -> int:
        """How many committed chunks hold the BM25 term ``term`` (a stemmed word)."""
        return self.bm25.chunks_with(term)

    def writes(self, word: str) -> bool:
        """Does a stored chunk hold ``word`` as written, a whole word (Chroma's document filter)?"""
        whole = {"$or": [{"$contains": f" {word}{end}"} for end in " ,.;:)-"]}
        if len(self.collection.parts) == 1 and not self.collection.garbage:
            return bool(self.collection.get(where_document=whole, limit=1, include=[])["ids"])
        return bool(self.owners(self.collection.get(where_document=whole, include=[])["ids"]))  # garbage never counts

    def term_idf(self, query: str, exclude: Collection[str] = ()) -> list[tuple[str, float | None]]:
        """Each distinct BM25 term of ``query`` with its inverse document frequency over chunks,
        ``log(1 + (N - df + 0.5) / (df + 0.5))`` (Lucene's BM25 IDF); None for a term no chunk has.
        ``exclude``: papers counted as absent (each of their chunks that has the term leaves df)."""
        retriever, ids = self.bm25.load()
        terms = list(dict.fromkeys(index_terms(query)))
        if retriever is None or not ids:
            return [(t, None) for t in terms]
        total = len(ids)
        removed: dict[str, int] = {}
        for pid in exclude:
            entry = self.manifest.papers.get(pid)
            if entry is not None:
                total -= len(entry.chunk_ids)
                for term, count in self._chunk_term_counts(pid).items():
                    removed[term] = removed.get(term, 0) + count
        return self.bm25.idf(terms, total, removed)

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

    @property
    def bm25(self) -> Bm25:
        """The committed generation's BM25 index (loaded at its first search)."""
        if self._bm25 is None:
            required = bool(self.manifest.paper_count or self.manifest.inline_papers)
            self._bm25 = Bm25(self.root / f"bm25-{self.manifest.generation}", required=required)
        return self._bm25

    def _load_bm25(self) -> tuple[Any, list[str]]:
        return self.bm25.load()
