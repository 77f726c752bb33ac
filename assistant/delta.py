"""Delta: the Chroma store a writer writes, and reading back what a commit indexes.

:func:`prepare` gives the writer its store (``assistant.writer.IndexWriter.begin``): a new, empty
delta store (``assistant.segments``) beside the committed ones, or, for a compaction, a rebuild or
an index's first commit, a new base: a copy of the committed base with the committed deltas merged
into it (or an empty store). Either is named in ``next-store.json`` before it appears, so a killed
run leaves nothing that nothing names; the next run reuses it when it is of the kind wanted and
probes healthy in a child process (``chroma.probe_store``), else removes it.
:func:`chunk_texts` reads every stored chunk a generation sees (what BM25 indexes).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from assistant import storage
from assistant.catalog import PaperEntry
from assistant.chroma import NEXT_STORE, chroma_client, is_store, probe_store
from assistant.manifest import paper_of
from assistant.segments import Segments, delta_name, is_delta
from assistant.storage import write_atomic


def prepare(
    root: Path,
    generation: int,
    committed: list[str],
    keep: set[str | None],
    collection: str,
    *,
    copy: bool,
    fresh: bool,
    extra: int,
) -> str:
    """Name of the store the writer of ``generation`` writes (a folder under ``root``).

    ``committed``: the committed stores, base first, and ``keep``: every store a kept generation
    lists (none of them is ever written, reused or removed here); ``collection``: the chunk
    collection's name (what a compaction merges); ``copy``: a new base (the committed base copied
    with its deltas merged in; an empty store when ``fresh`` or there is none), else a new empty
    delta; ``extra``: bytes the run expects to add (checked before anything is written). Raises
    ``storage.DiskFullError`` when the disk cannot hold them."""
    pending = root / NEXT_STORE
    try:
        candidate = root / json.loads(pending.read_text())["chroma_dir"]
        # never a committed store (a kill between the manifest's replacement and the removal of
        # next-store.json leaves it named there)
        if is_store(candidate.name) and candidate.name not in {*committed, *keep} and candidate.is_dir():
            if is_delta(candidate.name) != copy and probe_store(candidate):
                return candidate.name
            shutil.rmtree(candidate)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    token = secrets.token_hex(4)
    work = root / (f"chroma-{generation}-{token}" if copy else delta_name(generation, token))
    staging = work.with_name(work.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    base = root / committed[0] if committed else None
    if copy and base is not None and base.is_dir() and not fresh:
        deltas = [root / name for name in committed[1:]]
        storage.copy_store(base, staging, extra=extra + sum(storage.folder_size(d) for d in deltas))
        try:
            merge_into(staging, deltas, collection)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    else:
        storage.check_space(root, extra, "this ingest's new vectors")
        staging.mkdir(parents=True)
    # named before it appears: a kill in between leaves no store that nothing names
    write_atomic(pending, json.dumps({"chroma_dir": work.name}))
    os.replace(staging, work)
    return work.name


def merge_into(target: Path, deltas: list[Path], collection: str) -> None:
    """Upsert every vector of the collection ``collection`` of the stores ``deltas`` (oldest first)
    into the store at ``target``: a writer's staging copy (no reader opens it, and a kill leaves only
    a ``*.tmp`` folder the next run removes), or a benchmark's copy moved to a server."""
    if not deltas:
        return
    client = chroma_client(target)
    try:
        into = client.get_or_create_collection(
            name=collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        step = client.get_max_batch_size()
        for delta in deltas:
            source = chroma_client(delta)
            try:
                part = source.get_or_create_collection(name=collection, embedding_function=None)
                for _, got in Segments([part]).pages(["embeddings", "documents", "metadatas"]):
                    for start in range(0, len(got["ids"]), step):
                        end = start + step
                        into.upsert(
                            ids=got["ids"][start:end],
                            embeddings=got["embeddings"][start:end],
                            documents=got["documents"][start:end],
                            metadatas=got["metadatas"][start:end],
                        )
            finally:
                source.close()
    finally:
        client.close()


def next_visible(
    bm25: Path,
    changes: dict[str, PaperEntry | None],
    clear: bool,
    owners: Callable[[list[str]], dict[str, str]],
) -> Callable[[list[str]], set[str]]:
    """``visible(ids)``: of stored chunk ids, those a paper of the next generation lists. ``changes``:
    the commit's papers (new entry, or None: removed); ``clear``: no committed paper is kept. The
    changed papers' new ids, and of every other paper the ids the committed generation lists: its
    BM25 ids (``bm25``: its folder; exactly the chunks it indexed, one file read where asking the
    catalog reads every paper's row), else ``owners(ids)`` (the catalog) when that folder is
    missing or damaged."""
    listed = {c for e in changes.values() if e is not None for c in e.chunk_ids}
    try:
        committed: set[str] | None = set(json.loads((bm25 / "ids.json").read_text()))
    except (OSError, ValueError):
        committed = None

    def visible(ids: list[str]) -> set[str]:
        rest = [] if clear else [u for u in ids if u not in listed and paper_of(u) not in changes]
        kept = set(rest) & committed if committed is not None else set(owners(rest))
        return (listed & set(ids)) | kept

    return visible


def chunk_texts(store: Segments, visible: Callable[[list[str]], set[str]]) -> tuple[list[str], list[str]]:
    """Every chunk of ``store`` that ``visible(ids)`` keeps, as (ids, texts) in id order, read in
    pages of ``segments.PAGE``; an id held by several stores is read from the newest."""
    pairs: dict[str, str] = {}
    for ids, got in store.pages(["documents"]):
        for uid, text in zip(ids, got["documents"], strict=True):
            pairs.setdefault(uid, text)
    keep = visible(list(pairs))
    ids = sorted(uid for uid in pairs if uid in keep)
    return ids, [pairs[uid] for uid in ids]
