"""Sentence segments: a generation's sentence vectors as one base folder plus delta folders.

The sentence vectors follow the chunks' scheme (``assistant.segments``): a commit that changes
sentences writes only a small *delta* folder (``sentences-<gen>-delta/``, the same files as a base,
``assistant.sentvec``) holding the rows this run staged, and the manifest lists the base
(``Manifest.sentence_dir``) and its deltas (``Manifest.sentence_deltas``, oldest first). Rows of a
replaced or removed paper stay in the older folders as *garbage*: the manifest counts them
(``Manifest.sentence_garbage`` = rows stored in the listed folders, duplicates included, minus
``sentence_count``), so a reader's completeness check still compares counts.

:class:`SentenceSegments` reads the listed folders as one :class:`~assistant.sentvec.SentenceFile`:
by id newest folder first, and a paper's sentences only as its generation's catalog lists them
(a replaced paper's old rows share its id prefix, so the prefix search of one folder serves only
a single folder without garbage). A compaction (``segments.compaction_due`` on the folders' sizes)
writes one new base from the visible rows and drops the deltas (``assistant.generations``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from assistant.sentvec import SentenceFile, healthy, newest_folder

T = TypeVar("T")

if TYPE_CHECKING:
    from assistant.manifest import Manifest

Listing = Callable[[list[str]], dict[str, list[str]]]  # paper ids -> their listed sentence ids


def delta_folder(generation: int) -> str:
    """The delta folder the commit of ``generation`` writes (its base would be ``sentences-<gen>``)."""
    return f"sentences-{generation}-delta"


def is_sentence_folder(name: str) -> bool:
    """A committed sentence folder's name (a base or a delta; not a ``.tmp`` staging folder)."""
    return re.fullmatch(r"sentences-\d+(-delta)?", name) is not None


def healthy_deltas_after(root: Path, generation: int) -> list[str]:
    """Readable delta folders on disk written after ``generation``, oldest first: what a repair from
    the sources reuses with the newest base (their ids carry content hashes; only listed ones count)."""
    found = []
    for folder in root.glob("sentences-*-delta"):
        match = re.fullmatch(r"sentences-(\d+)-delta", folder.name)
        if match and int(match[1]) > generation and healthy(folder):
            found.append((int(match[1]), folder.name))
    return [name for _, name in sorted(found)]


def newest_sentences(root: Path) -> dict[str, str | list[str] | None]:
    """A repair from the sources: the newest readable base folder on disk and the readable deltas
    written after it, as the manifest's ``sentence_dir`` and ``sentence_deltas``."""
    base = newest_folder(root)
    later = healthy_deltas_after(root, int(base.split("-")[1])) if base else []
    return {"sentence_dir": base, "sentence_deltas": later}


class SentenceSegments:
    """The folders ``parts`` (base first, then the deltas, oldest first) read as one sentence store.

    ``garbage``: rows stored that no paper of the generation lists (duplicates included), so
    :meth:`count` is the visible count; ``listing(paper ids)``: each paper's listed sentence ids
    (the catalog), used when a paper's id prefix may match stale rows; ``lost``: listed folders a
    writer found missing or damaged and left out (its commit then writes a new base). A missing or
    damaged part raises IndexError_ (naming ``ingest --repair``) at first use, as one folder does."""

    def __init__(self, parts: list[SentenceFile], garbage: int, listing: Listing, lost: Iterable[str] = ()) -> None:
        self.parts = parts
        self.garbage = garbage
        self.listing = listing
        self.lost = list(lost)

    def __repr__(self) -> str:
        return f"SentenceSegments({[p.folder.name for p in self.parts]}, garbage={self.garbage})"

    def sizes(self) -> list[int]:
        """Rows stored in each part, base first (what ``segments.compaction_due`` weighs)."""
        return [part.count() for part in self.parts]

    def stored(self) -> int:
        """Rows stored in all parts, garbage and duplicates included."""
        return sum(self.sizes())

    def count(self) -> int:
        """Rows the generation sees: ``stored() - garbage`` (never below 0)."""
        return max(0, self.stored() - self.garbage)

    def ids(self) -> list[str]:
        """Every id any part holds, garbage included, sorted once each (reads every id array)."""
        return sorted({sid for part in self.parts for sid in part.ids()})

    def rows(self, wanted: Iterable[str]) -> dict[str, int]:
        """Those of ``wanted`` that any part holds -> their row in the newest part holding them."""
        return self._newest(wanted, lambda part, left: part.rows(left))

    def get(self, wanted: Iterable[str]) -> dict[str, tuple[str, np.ndarray]]:
        """Sentence id -> (text, float32 unit vector of shape (dimension,)), each from the newest part
        holding it. An id names one text (it carries the paper's content hash), so a row kept as
        garbage in an older part is the same sentence when a paper lists its id again."""
        return self._newest(wanted, lambda part, left: part.get(left))

    def _newest(self, wanted: Iterable[str], read: Callable[[SentenceFile, list[str]], dict[str, T]]) -> dict[str, T]:
        """``read(part, ids)`` over the parts, newest first, each asked only for the ids no newer part held."""
        left = list(dict.fromkeys(wanted))
        out: dict[str, T] = {}
        for part in reversed(self.parts):
            if not left:
                break
            found = read(part, left)
            out.update(found)
            left = [sid for sid in left if sid not in found]
        return out

    def nearest(self, vector: np.ndarray, paper_ids: Iterable[str], n: int) -> list[tuple[str, str, float]]:
        """The ``n`` visible sentences of ``paper_ids`` most similar to the unit ``vector`` (dimension,):
        (sentence id, paper id, cosine), best first (ties by id). One folder without garbage holds
        only listed rows: its id-prefix search, no catalog read. Otherwise the papers' listed ids
        (one catalog lookup for them all) are read by id, so a replaced paper's stale rows are never
        scored."""
        if len(self.parts) == 1 and not self.garbage:
            return self.parts[0].nearest(vector, paper_ids, n)
        pids = list(dict.fromkeys(paper_ids))
        listed = self.listing(pids) if pids else {}
        owner = {sid: pid for pid in pids for sid in listed.get(pid, [])}
        found = self._newest(owner, _vectors)  # each id from the newest part holding it; no text is read
        if not found:
            return []
        sids = list(found)
        # einsum, not BLAS (see SentenceFile.nearest)
        scores = np.einsum("ij,j->i", np.stack(list(found.values())), np.asarray(vector, dtype="float32"))
        hits = [(sid, owner[sid], float(score)) for sid, score in zip(sids, scores.tolist(), strict=True)]
        return sorted(hits, key=lambda hit: (-hit[2], hit[0]))[: max(n, 0)]

    def close(self) -> None:
        for part in self.parts:
            part.close()


def _vectors(part: SentenceFile, ids: list[str]) -> dict[str, np.ndarray]:
    """Those of ``ids`` that ``part`` holds -> their float32 vector (one read of their rows)."""
    rows = part.rows(ids)
    return dict(zip(rows, part.vectors_at(list(rows.values())), strict=True)) if rows else {}


def open_segments(root: Path, manifest: Manifest, *, skip_damaged: bool = False) -> SentenceSegments:
    """The sentence folders ``manifest`` lists under ``root`` (``sentence_dir`` must be set), read
    as one; ``paper ids -> sentence ids`` comes from ``manifest.papers`` at call time.
    ``skip_damaged`` (a writer): leave out missing or damaged folders, named in ``lost``, instead of
    raising at first use."""
    assert manifest.sentence_dir is not None, "an index with sentence folders"
    names = [manifest.sentence_dir, *manifest.sentence_deltas]
    lost = [name for name in names if not healthy(root / name)] if skip_damaged else []

    def listing(pids: list[str]) -> dict[str, list[str]]:
        return {pid: list(entry.sentence_ids) for pid, entry in manifest.papers.get_many(pids).items()}

    parts = [SentenceFile(root / name) for name in names if name not in lost]
    return SentenceSegments(parts, manifest.sentence_garbage, listing, lost)
