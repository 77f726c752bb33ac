"""Apply: carry out an ingest :class:`~ingest.plan.Plan` on an index open for writing.

:func:`apply` stages the plan's entry changes (kept papers' metadata, ``--prune``'s removals and
trims), chunks what it adds and updates (``ingest.chunking``), embeds only the units the vector
store lacks (a killed run's vectors are reused; a damaged store's missing ones are rebuilt from the
catalog's own text), stages the new entries and commits them (``assistant.writer.IndexWriter.commit``:
BM25, catalog rows, then the manifest), or only tidies when nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from assistant import embedding
from assistant.catalog import PaperEntry
from assistant.dates import normalise_date
from assistant.errors import IndexError_
from assistant.generations import held_count_of
from assistant.manifest import Manifest
from assistant.store import PaperIndex
from assistant.writer import IndexWriter
from ingest.chunking import Chunk, chunk_paper, missing_units, sentence_units
from ingest.merge import ORIGIN_KEYS
from ingest.paths import safe_text
from ingest.plan import Keep, Plan
from ingest.records import Paper

if TYPE_CHECKING:
    import numpy as np

    from assistant.settings import Settings

Progress = Callable[[int, int], None]  # (texts embedded so far, texts to embed)


class Encoder(Protocol):
    """``embedding.DocumentEncoder``'s interface (``ingest.distributed.RayEncoder`` has it too):
    ``encode(texts)`` -> an (n, dimension) float32 array of unit vectors; ``close()`` is optional."""

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Units:
    """What one paper of the plan embeds: ``chunks`` (empty for a kept paper that only gains its
    sentence vectors) and ``sentences`` (empty without sentence vectors)."""

    pid: str
    paper: Paper
    chunks: list[Chunk]
    sentences: list[Chunk]


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did: ``embedded`` chunk and sentence vectors computed (what the store did
    not hold already), of which ``repaired`` the catalog listed but the store had lost; ``manifest``:
    the manifest it staged (and committed, when ``committed``; else the run only tidied)."""

    embedded: int
    repaired: int
    manifest: Manifest
    committed: bool


def apply(
    plan: Plan,
    writer: IndexWriter,
    encoder: Callable[[], Encoder],
    settings: Settings,
    *,
    repair: bool = False,
    progress: Progress | None = None,
) -> Applied:
    """Chunk, embed, stage and commit what ``plan`` says, on ``writer`` (the index ``plan`` was made
    against). ``encoder()`` is called once, and only when something is to be embedded (its
    ``close()``, if it has one, after the last batch). ``progress(done, total)`` after each round of
    texts embedded. ``repair``: commit even when nothing changed (rewrites BM25 and the backup).

    Sets ``writer.space_wanted`` (bytes the new vectors need) before the store is copied. Raises
    what the writer raises (``IndexError_``, ``OSError`` such as a full disk: nothing committed)."""
    new = writer.manifest.staged()  # entries are replaced, never mutated in place; commit writes only these
    _stage_entries(plan, new)
    units = _units(plan, settings)
    all_chunks = [("chunks", c) for u in units for c in u.chunks]
    all_chunks += [("sentences", s) for u in units for s in u.sentences]
    # what the catalog lists but the vector store lacks (a damaged store): re-embedded from the
    # catalog's own text, so a plain re-run repairs it and nothing else is embedded again
    stored = _stored_ids(writer)  # read once: what is missing (repaired here) and what is stale (swept)
    repairs = _missing_units(new, stored, {u.pid for u in units if u.chunks}, settings)
    all_chunks += repairs
    dimension = embedding.MODELS[settings.embedding.model].dimension
    # about what the new vectors take on disk (HNSW, Chroma's SQLite, its log), checked before copying
    writer.space_wanted = sum(dimension * 12 + 3 * len(c.text) + 1024 for _, c in all_chunks)
    if all_chunks:
        writer.begin()  # writes go to a new delta store, never a committed one (crash safety: IndexWriter.begin)
    # a crashed run may have stored some already (in the copy it left, when that copy is sound)
    already = writer.existing([(kind, c.id) for kind, c in all_chunks]) if all_chunks else set()
    # Longest first across the whole run, as one encode call would order them: batches then hold
    # texts of similar length, and little of the encoder's work goes on padding.
    to_embed = sorted((kc for kc in all_chunks if kc[1].id not in already), key=lambda kc: -len(kc[1].text))
    if to_embed:
        meta = {u.pid: (u.paper.title, u.paper.date, u.paper.source) for u in units}
        repaired = new.papers.get_many(sorted({c.paper_id for _, c in to_embed} - set(meta)))
        meta |= {pid: (e.title, e.date, e.sources[0] if e.sources else "") for pid, e in repaired.items()}
        _embed(writer, to_embed, meta, settings.embedding.batch_size, encoder, progress)
    seen_in = {u.pid: u.stored.sources for u in plan.update}  # an update keeps where the paper was seen before
    for unit in units:
        if unit.chunks:
            entry = _entry(unit.paper, [c.id for c in unit.chunks], [s.id for s in unit.sentences])
            if unit.pid in seen_in:
                entry.sources = sorted(set(seen_in[unit.pid]) | set(entry.sources))
            new.papers[unit.pid] = entry
        else:  # an unchanged paper that only gained its sentence vectors
            new.papers[unit.pid] = new.papers[unit.pid].model_copy(
                update={"sentence_ids": [s.id for s in unit.sentences]}
            )
    changed = units or plan.remove or plan.entries_changed or repairs or new.generation == 0 or repair
    committing = bool(changed) or _needs_repair(writer, stored)
    if committing:
        writer.commit(new)
    else:
        writer.tidy()  # what a run killed before its commit left beside the committed state
    # what the store had lost and this run embedded again (a store left whole answers for the rest)
    lost = sum(1 for _, c in repairs if c.id not in already)
    return Applied(len(to_embed), lost, new, committing)


def _stage_entries(plan: Plan, new: Manifest) -> None:
    """Stage what changes no vector: kept papers' new metadata, ``--prune``'s removals and trims."""
    for kept in plan.keep:
        if kept.changes:
            new.papers[kept.pid] = new.papers[kept.pid].model_copy(update=kept.changes)
    for removed in plan.remove:
        del new.papers[removed.pid]
    for pid, sources in plan.trim.items():
        new.papers[pid] = new.papers[pid].model_copy(update={"sources": sources})


def _units(plan: Plan, settings: Settings) -> list[Units]:
    """The chunks and sentences of each paper the plan embeds, in the run's order."""
    size, overlap = settings.chunking.chunk_size, settings.chunking.chunk_overlap
    out: list[Units] = []
    for item in plan.to_embed():
        sentences = sentence_units(item.paper, item.pid) if plan.sentence_vectors else []
        chunks = [] if isinstance(item, Keep) else chunk_paper(item.paper, item.pid, size, overlap)
        out.append(Units(item.pid, item.paper, chunks, sentences))
    return out


def _embed(
    writer: IndexWriter,
    to_embed: list[tuple[str, Chunk]],
    meta: dict[str, tuple[str, str | None, str]],
    batch_size: int,
    encoder: Callable[[], Encoder],
    progress: Progress | None,
) -> None:
    """Encode ``to_embed`` in rounds and upsert each round into the writer's store."""
    step = max(batch_size * 16, 1024)  # per encode + store round (Chroma: big batches)
    model = encoder()
    try:
        for start in range(0, len(to_embed), step):
            batch = to_embed[start : start + step]
            vectors = model.encode([c.text for _, c in batch])
            for kind in ("chunks", "sentences"):
                rows = [i for i, (k, _) in enumerate(batch) if k == kind]
                if rows:
                    writer.upsert(
                        [batch[i][1].id for i in rows],
                        vectors[rows],
                        [batch[i][1].text for i in rows],
                        [_chunk_metadata(batch[i][1], *meta[batch[i][1].paper_id]) for i in rows],
                        kind,
                    )
            if progress:
                progress(min(start + step, len(to_embed)), len(to_embed))
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()


def _stored_ids(writer: IndexWriter) -> tuple[set[str], set[str]] | None:
    """(chunk ids, sentence ids) in the store this run starts from; none when it starts empty; None
    (nothing read) when the store holds exactly as many of each as the manifest lists: then nothing
    is missing and nothing is stale, and an incremental run reads no id it does not add."""
    if writer.fresh or not writer.store_present():
        return set(), set()
    if (writer.collection.count(), held_count_of(writer.sentences)) == writer.expected_counts():
        return None
    try:
        sentences = writer.stored_ids("sentences")
    except IndexError_:  # a missing or damaged sentence folder: every sentence is re-embedded
        sentences = set()
    return writer.stored_ids(), sentences


def _needs_repair(index: PaperIndex, stored: tuple[set[str], set[str]] | None) -> bool:
    """A crash after upserting but before commit leaves chunks no manifest owns; sweep them."""
    bm25_ok = (index.root / f"bm25-{index.manifest.generation}" / "ids.json").is_file()
    if index.legacy_sentences:
        return True  # an index built before assistant.sentvec: its commit moves the sentences out of Chroma
    if stored is None:
        return not bm25_ok
    chunks, sentences = stored
    return not bm25_ok or bool(chunks - set(index.owner)) or bool(sentences - set(index.sentence_owner))


def _chunk_metadata(chunk: Chunk, title: str, date: str | None, source: str) -> dict[str, Any]:
    """Chroma's metadata of one chunk: every value a str (or the int position) Chroma accepts, whatever
    bytes a file name or a record held (``ingest.paths.safe_text``)."""
    position = int(chunk.id.rsplit(":", 1)[1].lstrip("s"))
    texts = {"paper_id": chunk.paper_id, "title": title, "date": date or "", "source": source}
    return {key: safe_text(value) for key, value in texts.items()} | {"position": position}


def _missing_units(
    manifest: Manifest, stored: tuple[set[str], set[str]] | None, rechunked: set[str], settings: Settings
) -> list[tuple[str, Chunk]]:
    """Chunks and sentences that ``manifest`` lists (for papers this run does not re-chunk) and the
    ``stored`` ids lack (all of them when the run starts from an empty store), as ``(kind, Chunk)``
    rebuilt from the manifest (``missing_units``). ``stored`` None: the counts agree, none missing."""
    if stored is None:
        return []
    listed = {c for pid, e in manifest.papers.items() if pid not in rechunked for c in [*e.chunk_ids, *e.sentence_ids]}
    missing = listed - stored[0] - stored[1]
    if not missing:
        return []
    size, overlap = settings.chunking.chunk_size, settings.chunking.chunk_overlap
    out: list[tuple[str, Chunk]] = []
    for pid, entry in manifest.papers.items():
        if pid not in rechunked and not missing.isdisjoint([*entry.chunk_ids, *entry.sentence_ids]):
            out += missing_units(pid, entry, missing, size, overlap)
    return out


def _entry(paper: Paper, chunk_ids: list[str], sentence_ids: list[str]) -> PaperEntry:
    entry = PaperEntry(
        title=paper.title,
        abstract=paper.abstract,
        hash=paper.content_hash,
        chunk_ids=chunk_ids,
        sentence_ids=sentence_ids,
        date=paper.date,
        day=normalise_date(paper.date),
        url=paper.url or (paper.links[0] if paper.links else None),
        links=paper.links,
        authors=paper.authors,
        sources=[paper.source],
        version=paper.arxiv_version,
        arxiv_id=paper.arxiv_id,
        doi=paper.doi,
    )
    # which source gave each field the entry holds ("" where an older index did not record it)
    entry.origins = {key: paper.origins.get(key, paper.source) for key in ORIGIN_KEYS.values() if getattr(entry, key)}
    return entry
