"""Sentence vectors: one ``sentences-<gen>/`` folder of memory-mapped arrays per generation.

Abstract sentences and their unit vectors are only ever read by id (evidence selection, the
sentence signal), so they live in plain arrays rather than an HNSW index: opening one maps four
files and reads nothing else, and a read by id is a binary search. A folder holds, row for row:

    ids.npy        (n,) fixed-width UTF-8 bytes (``S<w>``), sorted: the sentence ids
    vectors.npy    (n, dimension) float16 unit vectors (converted to float32 when read)
    offsets.npy    (n + 1,) int64 byte offsets into texts.bin
    texts.bin      the sentences' UTF-8 texts, concatenated

The writer (``assistant.writer``) stages this run's new vectors in ``sentences-<gen>.parts.tmp/``,
builds the next generation's folder as ``sentences-<gen>.tmp/`` from the committed folder's kept
rows plus the staged ones, renames it into place, and only then does the manifest name it (the
commit point). ``storage.clear_staging`` removes what a killed run left under ``.tmp`` names.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from assistant import storage
from assistant.errors import IndexError_

FILES = ("ids.npy", "vectors.npy", "offsets.npy", "texts.bin")
BLOCK = 65536  # rows copied per step when a generation's folder is written


class SentenceFile:
    """The sentence vectors of one generation, memory-mapped at first use.

    Raises IndexError_ (naming ``ingest --repair``) when the folder is missing or its files are
    damaged or disagree in length."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            try:
                ids = np.load(self.folder / "ids.npy", mmap_mode="r")
                vectors = np.load(self.folder / "vectors.npy", mmap_mode="r")
                offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")
                size = (self.folder / "texts.bin").stat().st_size
                texts = np.memmap(self.folder / "texts.bin", dtype="uint8", mode="r") if size else np.zeros(0, "uint8")
            except (OSError, ValueError) as exc:
                raise IndexError_(
                    f"the sentence vectors {self.folder} are missing or damaged ({type(exc).__name__}): repair the "
                    "index with `ingest --repair` (re-embeds the abstract sentences)"
                ) from exc
            n = len(ids)
            if (
                ids.ndim != 1
                or vectors.ndim != 2
                or len(vectors) != n
                or len(offsets) != n + 1
                or (n and int(offsets[-1]) != size)
            ):
                raise IndexError_(
                    f"the sentence vectors {self.folder} are damaged (their files disagree): repair the index "
                    "with `ingest --repair` (re-embeds the abstract sentences)"
                )
            # plain ndarray views of the same mapped pages (np.memmap's indexing costs ~4 µs a call)
            self._arrays = (ids.view(np.ndarray), vectors.view(np.ndarray), offsets.view(np.ndarray), texts)
        return self._arrays

    def count(self) -> int:
        """Rows stored."""
        return len(self._load()[0])

    def ids(self) -> list[str]:
        """Every stored sentence id, sorted (reads the whole id array: the writer's checks, tests)."""
        return [raw.decode() for raw in self._load()[0].tolist()]

    def rows(self, wanted: Iterable[str]) -> dict[str, int]:
        """Row of each of ``wanted`` that is stored (binary search in the sorted ids)."""
        ids = self._load()[0]
        keys = [w.encode() for w in wanted]
        if not keys or not len(ids):
            return {}
        needles = np.array(keys)
        found = np.searchsorted(ids, needles)
        held = ids[np.minimum(found, len(ids) - 1)] == needles  # one comparison for all of them
        return {key.decode(): row for key, row, hit in zip(keys, found.tolist(), held.tolist(), strict=True) if hit}

    def vectors_at(self, rows: list[int]) -> np.ndarray:
        """The float32 unit vectors of ``rows`` (from :meth:`rows`), shape (len(rows), dimension)."""
        vectors = self._load()[1]
        return np.asarray(vectors[np.asarray(rows, dtype="int64")], dtype="float32")

    def nearest(self, vector: np.ndarray, paper_ids: Iterable[str], n: int) -> list[tuple[str, str, float]]:
        """The ``n`` stored sentences of ``paper_ids`` most similar to the unit ``vector`` (dimension,):
        (sentence id, paper id, cosine), best first (ties by id). A paper's ids share the prefix
        ``<paper id>#`` and so one range of the sorted ids: two binary searches a paper, no catalog
        read (only the generation's own rows are stored)."""
        ids, vectors, _, _ = self._load()
        pids = list(dict.fromkeys(paper_ids))
        if not pids or not len(ids):
            return []
        prefixes = [(pid + "#").encode() for pid in pids]
        starts = np.searchsorted(ids, np.array(prefixes))
        ends = np.searchsorted(ids, np.array([p + b"\xff" for p in prefixes]))
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)])
        owner = np.repeat(np.arange(len(pids)), ends - starts)
        if not len(rows):
            return []
        # einsum, not BLAS: a BLAS call wakes its thread pool, which then spins against the encoder's threads
        scores = np.einsum("ij,j->i", vectors[rows].astype("float32"), np.asarray(vector, dtype="float32"))
        order = np.argsort(-scores, kind="stable")
        out: list[tuple[str, str, float]] = []
        step = max(n, 1)
        for start in range(0, len(order), step):  # one pass unless rows of other papers were skipped
            picked = order[start : start + step]
            for k, raw in zip(picked.tolist(), ids[rows[picked]].tolist(), strict=True):
                sid, pid = raw.decode(), pids[owner[k]]
                if sid.rsplit("#", 1)[0] == pid:  # a paper id may hold "#": not another paper's row
                    out.append((sid, pid, float(scores[k])))
            if len(out) >= n:
                break
        return sorted(out, key=lambda hit: (-hit[2], hit[0]))[:n]

    def get(self, wanted: Iterable[str]) -> dict[str, tuple[str, np.ndarray]]:
        """Sentence id -> (text, float32 unit vector of shape (dimension,)) for those stored."""
        _, vectors, offsets, texts = self._load()
        rows = self.rows(wanted)
        if not rows:
            return {}
        order = sorted(rows.values())
        block = np.asarray(vectors[order], dtype="float32")
        at = {row: i for i, row in enumerate(order)}
        out = {}
        for sid, row in rows.items():
            start, end = int(offsets[row]), int(offsets[row + 1])
            out[sid] = (bytes(texts[start:end]).decode(), block[at[row]])
        return out

    def close(self) -> None:
        self._arrays = None


class PendingSentences:
    """The vectors one writer run embedded, staged on disk until its commit (``<folder>/part-<k>``:
    a float16 ``.npy`` and a ``.json`` of ids and texts). Gone with a killed run: re-embedded."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts = 0
        self.known: set[str] = set()

    def add(self, ids: list[str], vectors: np.ndarray, texts: list[str]) -> None:
        """Stage ``ids`` with their (len(ids), dimension) unit ``vectors`` and ``texts``."""
        if not ids:
            return
        if self.parts == 0:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
        np.save(self.folder / f"part-{self.parts}.npy", np.asarray(vectors, dtype="float16"))
        (self.folder / f"part-{self.parts}.json").write_text(json.dumps({"ids": ids, "texts": texts}))
        self.parts += 1
        self.known.update(ids)

    def load(self) -> tuple[list[str], list[str], np.ndarray | None]:
        """(ids, texts, float16 vectors) staged, the last staging of an id winning."""
        ids: list[str] = []
        texts: list[str] = []
        blocks = []
        for k in range(self.parts):
            meta = json.loads((self.folder / f"part-{k}.json").read_text())
            ids += meta["ids"]
            texts += meta["texts"]
            blocks.append(np.load(self.folder / f"part-{k}.npy"))
        if not ids:
            return [], [], None
        last = {sid: i for i, sid in enumerate(ids)}
        keep = sorted(last.values())
        vectors = np.concatenate(blocks)[keep]
        return [ids[i] for i in keep], [texts[i] for i in keep], vectors

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.parts = 0
        self.known.clear()  # the same set: a writer's _staged view of it empties too


def write_generation(
    target: Path,
    base: Any,
    keep: Iterable[str],
    pending: PendingSentences,
    dimension: int,
) -> int:
    """Write ``target`` (``sentences-<gen>/``): the rows of ``base`` (a :class:`SentenceFile`, a
    legacy reader with the same ``rows``/``get`` interface, or None) named in ``keep``, plus every
    staged row of ``pending`` (which win over ``base``). Built under ``target.tmp`` and renamed:
    a kill leaves only a ``.tmp`` name (``storage.clear_staging``). Returns the rows written."""
    new_ids, new_texts, new_vectors = pending.load()
    staged = set(new_ids)
    kept = sorted(set(keep) - staged)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    all_ids = kept + new_ids
    order = sorted(range(len(all_ids)), key=lambda i: all_ids[i].encode())
    n = len(all_ids)
    encoded = [all_ids[i].encode() for i in order]
    np.save(tmp / "ids.npy", np.array(encoded, dtype=f"S{max((len(e) for e in encoded), default=1)}"))
    out = np.lib.format.open_memmap(tmp / "vectors.npy", mode="w+", dtype="float16", shape=(n, dimension))
    offsets = np.zeros(n + 1, dtype="int64")
    with (tmp / "texts.bin").open("wb") as fh:
        for start in range(0, n, BLOCK):
            chunk = order[start : start + BLOCK]
            olds = [all_ids[i] for i in chunk if i < len(kept)]
            got = base.get(olds) if (olds and base is not None) else {}
            if len(got) != len(olds):
                raise IndexError_(f"{len(olds) - len(got)} sentence vectors to keep are missing from {base}")
            block = np.empty((len(chunk), dimension), dtype="float16")
            for j, i in enumerate(chunk):
                if i < len(kept):
                    text, vector = got[all_ids[i]]
                    block[j] = vector
                else:
                    assert new_vectors is not None
                    text = new_texts[i - len(kept)]
                    block[j] = new_vectors[i - len(kept)]
                raw = text.encode()
                fh.write(raw)
                offsets[start + j + 1] = offsets[start + j] + len(raw)
            out[start : start + len(chunk)] = block
        fh.flush()
        os.fsync(fh.fileno())
    out.flush()
    del out
    np.save(tmp / "offsets.npy", offsets)
    for name in ("ids.npy", "vectors.npy", "offsets.npy"):
        with (tmp / name).open("rb") as fh:
            os.fsync(fh.fileno())
    shutil.rmtree(target, ignore_errors=True)  # a killed run's, never named by a manifest
    os.replace(tmp, target)
    storage.fsync_dir(target.parent)
    return n


def newest_folder(root: Path) -> str | None:
    """The newest readable ``sentences-<gen>`` folder in ``root`` (repair from the sources), or None."""
    found = []
    for path in root.glob("sentences-*"):
        tail = path.name.removeprefix("sentences-")
        if path.is_dir() and tail.isdigit():
            found.append((int(tail), path.name))
    return next((name for _, name in sorted(found, reverse=True) if healthy(root / name)), None)


def healthy(folder: Path) -> bool:
    """Does ``folder`` open as a sentence folder (files present, lengths agreeing)?"""
    try:
        SentenceFile(folder).count()
    except IndexError_:
        return False
    return True


class LegacySentences:
    """An index built before this store: its sentences in the Chroma collection ``<name>-sentences``
    (``collection``; None: no sentences). Read with :class:`SentenceFile`'s interface, so a reader
    answers from it and the next commit moves its rows into a ``sentences-<gen>/`` folder."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def count(self) -> int:
        return int(self.collection.count()) if self.collection is not None else 0

    def ids(self) -> list[str]:
        return sorted(self.collection.get(include=[])["ids"]) if self.collection is not None else []

    def rows(self, wanted: Iterable[str]) -> dict[str, int]:
        keys = list(wanted)
        found: set[str] = set()
        for start in range(0, len(keys) if self.collection is not None else 0, 5000):
            found.update(self.collection.get(ids=keys[start : start + 5000], include=[])["ids"])
        return {sid: 0 for sid in keys if sid in found}

    def get(self, wanted: Iterable[str]) -> dict[str, tuple[str, np.ndarray]]:
        keys = list(wanted)
        out: dict[str, tuple[str, np.ndarray]] = {}
        for start in range(0, len(keys) if self.collection is not None else 0, 5000):
            got = self.collection.get(ids=keys[start : start + 5000], include=["embeddings", "documents"])
            for sid, text, vec in zip(got["ids"], got["documents"], got["embeddings"], strict=True):
                out[sid] = (text, np.asarray(vec, dtype="float32"))
        return out

    def close(self) -> None:
        self.collection = None
