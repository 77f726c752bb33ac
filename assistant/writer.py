"""Writer: an index open for writing: stage papers, upsert vectors, commit, recover, tidy.

An :class:`IndexWriter` is a :class:`~assistant.store.PaperIndex` (it reads what it writes) that
never writes what readers use. It adds its vectors to a new delta store beside the committed ones
(or, at a compaction, to a new base: :meth:`IndexWriter.begin`, ``assistant.segments``), writes the
next generation's BM25 folder and a sentence delta folder (staged on disk until then,
``assistant.sentsegments``) beside the current ones and the papers' rows as the next generation in
the catalog, and only then replaces ``manifest.json`` atomically, naming the new store
(:meth:`IndexWriter.commit`). What a killed run left beside the committed state is reused or removed
by the next run; a damaged or lost manifest, catalog or store is recovered by ``ingest --repair``
(:meth:`IndexWriter.open_for_write`). ``docs/architecture.md`` has the whole protocol.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import delta, generations, storage
from assistant.bm25 import build_bm25
from assistant.catalog import CATALOG, PaperEntry, PaperTable, catalog_readable
from assistant.chroma import (
    NEXT_STORE,
    SERVER_PREFIX,
    chroma_http_client,
    collection_name,
    committed_stores,
    drop_retired,
    healthy_deltas,
    is_store,
    newest_store,
    server_dir,
)
from assistant.errors import IndexError_, IndexMismatchError, IndexMissingError
from assistant.manifest import BACKUP, MANIFEST_VERSION, Manifest, empty_manifest, read_manifest
from assistant.segments import compaction_due, is_delta
from assistant.sentsegments import SentenceSegments, newest_sentences, open_segments
from assistant.sentvec import LegacySentences, PendingSentences
from assistant.storage import write_atomic
from assistant.store import PaperIndex
from assistant.text import title_key

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings


def default_match_key(pid: str, entry: PaperEntry) -> str:
    """The key ``ingest.identity`` groups papers by: the title key, else the paper's own id."""
    return title_key(entry.title) or pid


class IndexWriter(PaperIndex):
    """Write access to one index directory (the one writer: ``ingest.lock`` holds its lock)."""

    def __init__(self, root: Path, manifest: Manifest) -> None:
        super().__init__(root, manifest)
        self.fresh = False  # a rebuild: begin() starts from an empty store instead of a copy
        self.restored = ""  # open_for_write(repair=True): how an unreadable manifest was recovered
        self.space_wanted = 0  # bytes a writer expects to add beyond the store's copy (checked before copying)
        self.copying = False  # begin() made a new base (a copy of the committed stores), not a delta
        self.committed_deltas = list(manifest.chroma_deltas)  # read with committed_dir (a rebuild: the on-disk ones)
        self._begun = False
        self._retired: set[str] = set()  # server collections (tokens) this writer may drop: never another index's
        self._pending = PendingSentences(root / f"sentences-{manifest.generation + 1}.parts.tmp")
        self._staged = self._pending.known  # sentence ids this run staged: existing() and stored_ids() see them
        self.committed_sentences = manifest.sentence_dir  # what readers use (a rebuild: the on-disk manifest's)
        self.committed_sentence_deltas = list(manifest.sentence_deltas)  # read with committed_sentences

    @classmethod
    def open_for_write(
        cls, settings: Settings, dimension: int, *, rebuild: bool = False, repair: bool = False
    ) -> IndexWriter:
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
            index.manifest.chroma_dir = server_dir()
        index._use_server(settings)
        index._attach_catalog(writable=True)
        if rebuild or index.restored == "sources":
            index.manifest.papers.clear_base()  # starts empty; the commit retires every row it replaces
        return index

    @classmethod
    def _open_for_write(cls, settings: Settings, dimension: int, *, rebuild: bool, repair: bool) -> IndexWriter:
        path = settings.index.path / "manifest.json"
        if settings.index.path.exists() and not settings.index.path.is_dir():
            raise IndexMissingError(
                f"the index path {settings.index.path} is a file, not a folder: choose another --index"
            )
        if not rebuild and (recovered := cls._recover(settings, dimension, repair=repair)) is not None:
            return recovered
        if rebuild:
            previous, committed, sentences, deltas = 0, "chroma", (None, []), []
            try:
                if path.is_file():
                    on_disk = read_manifest(path)
                    previous, committed, deltas = on_disk.generation, on_disk.chroma_dir, on_disk.chroma_deltas
                    sentences = (on_disk.sentence_dir, list(on_disk.sentence_deltas))
            except IndexError_:
                pass
            settings.index.path.mkdir(parents=True, exist_ok=True)
            empty = empty_manifest(settings, dimension).model_copy(update={"generation": previous})
            index = cls(settings.index.path, empty)
            index.fresh = True
            index.committed_dir, index.committed_deltas = committed, deltas
            index.committed_sentences, index.committed_sentence_deltas = sentences
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
        return cls(settings.index.path, empty_manifest(settings, dimension))

    @classmethod
    def _recover(cls, settings: Settings, dimension: int, *, repair: bool) -> IndexWriter | None:
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
            if manifest.version >= 2 and manifest.paper_count and not catalog_readable(root / CATALOG):
                catalog_lost = True
                # a lost or damaged catalog: re-read the sources, reusing every vector the store holds
                for name in (CATALOG, CATALOG + "-journal"):
                    (root / name).unlink(missing_ok=True)
                raise IndexError_("the paper catalog is unreadable")
        except IndexError_:
            pass
        else:
            present = [d for d in manifest.chroma_deltas if (root / d).is_dir()]
            if (
                manifest.chroma_dir.startswith(SERVER_PREFIX)  # a server's store cannot be lost from here
                or ((root / manifest.chroma_dir).is_dir() and present == manifest.chroma_deltas)
                or not (manifest.paper_count or manifest.inline_papers)
                or not repair
            ):
                return None
            # a lost store: start from what is left (the base, or else the newest base on disk, the
            # previous generation's, or else the first delta left) with the deltas left, or from an
            # empty store, and the run re-embeds what they lack from the manifest's text
            base = manifest.chroma_dir if (root / manifest.chroma_dir).is_dir() else newest_store(root)
            if base is None and present:
                base, present = present[0], present[1:]
            update = {"chroma_dir": base or "chroma", "chroma_deltas": present, "chunk_garbage": 0}
            index = cls(root, manifest.model_copy(update=update))
            index.committed_dir, index.restored, index.fresh = base or "chroma", "store", base is None
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
            if committed_stores(root):
                raise IndexMissingError(
                    f"the index manifest {path} is missing and its backup is unusable: repair it with "
                    "`ingest --repair PATHS` (re-reads your sources, embedding only what the vector store lacks)"
                )
            return None
        newest = newest_store(root)
        if newest is None and not path.exists():
            return None  # nothing was ever committed here
        generation = int(newest.split("-")[1]) if newest and newest != "chroma" else 0
        # the deltas written after that base, and the newest sentence vectors left, are reused too
        # (only the rows the sources list are kept); the next generation is above any folder's
        deltas = healthy_deltas(root, generation) if newest else []
        update = {"generation": max(generation, generations.newest_on_disk(root))}
        update |= {"chroma_dir": newest or "chroma", "chroma_deltas": deltas} | newest_sentences(root)
        empty = empty_manifest(settings, dimension).model_copy(update=update)
        index = cls(root, empty)
        index.fresh = newest is None
        index.restored = "sources"
        return index

    def upsert(
        self,
        ids: list[str],
        vectors: np.ndarray,
        texts: list[str],
        metadatas: list[dict[str, Any]],
        kind: str = "chunks",
    ) -> None:
        """Chunks: written in slices of the client's max batch size (Chroma rejects larger batches).
        Sentences: staged on disk for the commit's sentence delta or base folder (metadata not kept)."""
        if kind == "sentences":
            self._pending.add(ids, vectors, texts)
            return
        target = self.collection
        step = self.collection._client.get_max_batch_size()
        for start in range(0, len(ids), step):
            end = start + step
            target.upsert(
                ids=ids[start:end],
                embeddings=vectors[start:end],
                documents=texts[start:end],
                metadatas=metadatas[start:end],
            )

    def delete(self, ids: Iterable[str]) -> None:
        """Delete chunks by id (a sentence is dropped by not being copied into the next generation)."""
        ids = list(ids)
        step = self.collection._client.get_max_batch_size()
        for start in range(0, len(ids), step):
            self.collection.delete(ids=ids[start : start + step])

    @property
    def sentences(self) -> SentenceSegments | LegacySentences:
        """None of the committed rows when the writer starts empty (``fresh``: a rebuild, a lost store);
        a missing or damaged sentence folder is left out (its rows are embedded again, ``lost``)."""
        if self._sentences is None and self.manifest.sentence_dir and not self.fresh:
            self._sentences = open_segments(self.root, self.manifest, skip_damaged=True)
        return LegacySentences(None) if self.fresh else super().sentences

    def begin(self) -> None:
        """Start writing: every write from here on goes to a store no reader uses.

        Chroma rewrites its HNSW files in place, and a process killed in the middle leaves files
        its loader crashes on (a SIGSEGV, not an error: chroma-core/chroma#7238). So no committed
        store is ever written: the writer adds its vectors to a new, empty delta store
        (``chroma-<generation>-<token>-delta``, ``assistant.segments``), read together with the
        committed base and deltas, and :meth:`commit` lists it in the manifest. A compaction
        (``segments.compaction_due``: too many deltas, or deltas and garbage too large a share of
        the base), a rebuild, an index's first commit and an index whose sentences are still in
        Chroma make a new base instead: a copy of the committed base with its deltas merged in (or
        an empty store). Either is named in ``next-store.json`` before it appears and reused after
        a kill only when it probes healthy in a separate process (``assistant.delta.prepare``).
        """
        if self.server is not None:
            # A Chroma server is its own process: a killed ingest cannot tear its files, so the writer
            # adds to the live collections. Readers see only what their generation's catalog lists
            # (PaperIndex.owners), so vectors added before the commit stay invisible until it.
            self._chroma_dir = self.manifest.chroma_dir
            return
        if self._begun:
            return
        copy = self.fresh or self.legacy_sentences or not self.store_present()
        optional = not copy and compaction_due(self.collection, len(self._deltas))  # a copy only to tidy
        name = collection_name(self.manifest.embedding_model, self.manifest.chunk_size, self.manifest.chunk_overlap)
        keep = self.manifest.kept_stores() | {self.committed_dir, *self.committed_deltas}
        where = (self.root, self.manifest.generation + 1, [self.committed_dir, *self._deltas], keep, name)
        try:
            work = delta.prepare(*where, copy=copy or optional, fresh=self.fresh, extra=self.space_wanted)
        except storage.DiskFullError:
            if not optional:
                raise
            # a compaction that does not fit waits for a later run: this one writes a delta (nothing was written)
            work = delta.prepare(*where, copy=False, fresh=self.fresh, extra=self.space_wanted)
        copy = copy or (optional and not is_delta(work))
        self._close_clients()
        if copy:
            self._chroma_dir, self._deltas = work, []
        else:
            self._work = work
        self.copying, self._begun = copy, True

    def abandon(self) -> None:
        """After a failed write (a full disk): remove what this writer made beside the committed state,
        its store copy, ``next-store.json``, the next generation's BM25 and temporary files, so its
        space is free again. Never a store the manifest on disk names (it is re-read here)."""
        self._close_clients()
        try:
            on_disk = read_manifest(self.root / "manifest.json")
            generation = on_disk.generation
        except IndexError_:
            on_disk, generation = self.manifest, self.manifest.generation
        keep = on_disk.kept_stores() | {self.committed_dir, *self.committed_deltas}
        mine = self._work or self._chroma_dir
        if self.server is None and is_store(mine) and mine not in keep:
            shutil.rmtree(self.root / mine, ignore_errors=True)
            (self.root / NEXT_STORE).unlink(missing_ok=True)
        self._chroma_dir, self._deltas, self._work = self.committed_dir, list(self.committed_deltas), None
        self._begun = False
        shutil.rmtree(self.root / f"bm25-{generation + 1}", ignore_errors=True)
        self._pending.discard()
        generations.remove_unnamed_sentences(
            self.root, generation, {self.committed_sentences, *self.committed_sentence_deltas}
        )
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
        adding = self._work is not None  # a delta: stale vectors stay, as garbage no reader sees
        if stale and not deferred and not adding:
            self.delete(stale)
        counts = generations.carried_counts(self.manifest, changes, before, clear)
        manifest.generation = generation
        manifest.chroma_dir = self._chroma_dir
        new_base = self.committed_dir != self._chroma_dir
        manifest.previous_chroma_dir = self.committed_dir if new_base else None
        manifest.previous_chroma_deltas = list(self.committed_deltas) if new_base else []
        filled = adding and self.collection.sizes()[-1] > 0  # an empty delta is not listed (tidy removes it)
        manifest.chroma_deltas = [*self._deltas, *([self._work] if filled and self._work else [])]
        if self.manifest.previous_chroma_dir and self.manifest.previous_chroma_dir.startswith(SERVER_PREFIX):
            self._retired.add(self.manifest.previous_chroma_dir.removeprefix(SERVER_PREFIX))
        manifest.version = MANIFEST_VERSION
        manifest.paper_count, manifest.chunk_count, manifest.sentence_count = counts
        old_chunks = {c for e in before.values() for c in e.chunk_ids} & set(stale)
        lingering = (len(old_chunks), len(stale) - len(old_chunks)) if deferred else (0, 0)
        if not adding and self.collection.stored() != counts[1] + lingering[0]:
            self._sweep_all(changes, clear)  # what a killed run (or an older version) left unowned
            stale = []
        folders = self._commit_sentences(generations.SentenceChange(changes, before, clear, counts[2]), generation)
        for key, value in folders.fields(self.committed_sentences, self.committed_sentence_deltas).items():
            setattr(manifest, key, value)
        excluded = set(stale)
        ids, texts = delta.chunk_texts(
            self.collection,
            delta.next_visible(self.root / f"bm25-{self.manifest.generation}", changes, clear, self.owners)
            if adding
            else lambda got: set(got) - excluded,
        )
        if len(ids) != manifest.chunk_count:
            raise IndexError_(
                f"the vector store of {self.root} holds {len(ids)} chunks where the index lists "
                f"{manifest.chunk_count}: repair the index with `ingest --repair`"
            )
        manifest.chunk_garbage = self.collection.stored() - manifest.chunk_count if adding else 0
        build_bm25(self.root / f"bm25-{generation}", ids, texts)
        self._catalog.apply(changes, generation, match_key, clear=clear)
        text = manifest.model_dump_json()
        write_atomic(self.root / "manifest.json", text)
        write_atomic(self.root / BACKUP, text)  # what `ingest --repair` restores a damaged manifest from
        if stale and deferred:
            self.delete(stale)
        self.manifest = manifest
        self.committed_sentences, self._sentences = manifest.sentence_dir, None
        self.committed_sentence_deltas = list(manifest.sentence_deltas)
        self._pending.folder = self.root / f"sentences-{generation + 1}.parts.tmp"  # emptied by the commit
        manifest.attach(PaperTable(self._catalog, generation))
        self.committed_dir, self.committed_deltas = manifest.chroma_dir, list(manifest.chroma_deltas)
        self._deltas, self._work, self._begun = list(manifest.chroma_deltas), None, False
        self._close_clients()  # the next reads open the stores this manifest lists
        self._owner = self._sentence_owner = None
        self._bm25 = None
        self._counts = {}
        self._any_dated = None
        self._dated = {}
        self.tidy()

    def _commit_sentences(self, change: generations.SentenceChange, generation: int) -> generations.SentenceFolders:
        """The next generation's sentence folders (``assistant.generations``: a delta, or a new base
        when the chunks are compacted too); an index built before them has its sentences moved out of
        Chroma here (the copy drops their collection)."""
        legacy, base = self.legacy_sentences, self.sentences

        def listed_elsewhere() -> set[str]:
            table = PaperTable(self._catalog, self.manifest.generation)
            return {s for pid, e in table.iter_items() if pid not in change.changes for s in e.sentence_ids}

        m = self.manifest
        committed = generations.SentenceFolders(m.sentence_dir, list(m.sentence_deltas), m.sentence_garbage)
        where = (self.root, generation, committed, m.dimension, base, self._pending, change, listed_elsewhere)
        folders = generations.commit_sentences(*where, compact=self.copying)
        if legacy and self.server is None and isinstance(base, LegacySentences) and base.collection is not None:
            with contextlib.suppress(Exception):
                self.collection._client.delete_collection(base.collection.name)
        return folders

    def _sweep_all(self, changes: dict[str, PaperEntry | None], clear: bool) -> None:
        """Delete every stored vector that no paper of the next generation lists (reads all ids)."""
        keep: set[str] = set()
        if not clear:
            for pid, entry in PaperTable(self._catalog, self.manifest.generation).iter_items():
                if pid not in changes:
                    keep.update((*entry.chunk_ids, *entry.sentence_ids))
        keep.update(u for e in changes.values() if e is not None for u in (*e.chunk_ids, *e.sentence_ids))
        if stale := self.stored_ids() - keep:
            self.delete(stale)

    def tidy(self) -> None:
        """Remove what no committed state refers to: generations older than the previous one (BM25
        folders, vector stores) and the temporary files a killed run left (only names this project
        writes). The previous generation stays until the next commit, so a long-lived reader that
        opened it before this commit finishes its question and then moves on (see ``changed``)."""
        if self.server is not None:
            name = collection_name(self.manifest.embedding_model, self.manifest.chunk_size, self.manifest.chunk_overlap)
            keep = {self.manifest.chroma_dir, self.manifest.previous_chroma_dir}
            if self._catalog_writable:
                drop_retired(chroma_http_client(*self.server), name, keep, self._retired)
        generations.remove_unreferenced(self.root, self.manifest)
        generation = self.manifest.generation
        if self._catalog is not None and self._catalog_writable:
            self._catalog.forget_before(generation - 1)  # rows neither this generation nor the previous sees
