"""Catalog: the paper records of an index in SQLite, one row per paper per generation that wrote it.

``papers.sqlite`` in the index directory holds every paper's record (title, abstract, chunk and
sentence ids, dates, ids, sources), so neither a reader's start nor an incremental ingest reads or
rewrites all of them: a reader looks up the papers its hits belong to, and a writer adds a row for
each paper it adds or changes. ``manifest.json`` stays the small commit point (model, generation,
vector store, counts) and names the generation a reader sees.

Rows are versioned by generation, so one file serves the committed generation, the previous one
(kept for readers still on it) and a writer's next one at the same time::

    visible at generation G  <=>  added <= G  and  (removed is NULL or removed > G)

A writer stages its changes in memory (:class:`PaperTable`) and :meth:`Catalog.apply` writes them
in one SQLite transaction as generation G+1 before the manifest names G+1; rows of a run killed
before its manifest was written are invisible and are undone by the next writer
(:meth:`Catalog.discard_after`). :meth:`Catalog.forget_before` removes rows no kept generation sees.
SQLite's rollback journal makes each transaction all or nothing; readers open the file read-only
(a writer's transaction is short: a reader waits for it, up to sqlite3's 5 s busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel, Field

from assistant.errors import IndexError_

CATALOG = "papers.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS papers (
    id TEXT NOT NULL,
    added INTEGER NOT NULL,
    removed INTEGER,
    match_key TEXT NOT NULL,
    arxiv TEXT,
    doi TEXT,
    day TEXT,
    date TEXT,
    record TEXT NOT NULL,
    PRIMARY KEY (id, added)
);
CREATE INDEX IF NOT EXISTS papers_match_key ON papers (match_key);
CREATE INDEX IF NOT EXISTS papers_arxiv ON papers (arxiv) WHERE arxiv IS NOT NULL;
CREATE INDEX IF NOT EXISTS papers_doi ON papers (doi) WHERE doi IS NOT NULL;
CREATE INDEX IF NOT EXISTS papers_removed ON papers (removed) WHERE removed IS NOT NULL;
"""
_VISIBLE = "added <= :g AND (removed IS NULL OR removed > :g)"
_VISIBLE_Q = "added <= ? AND (removed IS NULL OR removed > ?)"


class PaperEntry(BaseModel):
    title: str
    abstract: str
    hash: str  # of the record whose text was embedded: the chunk and sentence ids carry it
    chunk_ids: list[str]
    sentence_ids: list[str] = Field(default_factory=list)
    date: str | None = None  # as the source gave it ("Sep 3", "2024-09-03T10:00")
    day: str | None = None  # its ISO 8601 form (assistant.dates.normalise_date), None if unparseable
    url: str | None = None
    links: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    version: int | None = None  # the arXiv version stored, so an older one never replaces it
    arxiv_id: str | None = None  # strong ids the paper is known by (ingest.identity, rule 1)
    doi: str | None = None
    # field name -> the source that gave it (ingest.merge); empty for papers stored before it was kept
    origins: dict[str, str] = Field(default_factory=dict)


class Catalog:
    """One ``papers.sqlite``; ``writable`` opens it for a writer (creating it), else read-only.

    Raises IndexError_ (naming ``ingest --repair``) when the file is missing or unreadable.
    """

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        self.path = path
        try:
            if writable:
                self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=DELETE")  # readers of a read-only folder need no -shm file
                self.db.executescript(_SCHEMA)
            else:
                if not path.is_file():
                    raise sqlite3.OperationalError("the file is missing")
                self.db = _open_reader(path)
        except sqlite3.Error as exc:
            raise IndexError_(
                f"the paper catalog {path} is unreadable ({exc}): repair the index with `ingest --repair PATHS` "
                "(re-reads your sources, embedding only what the vector store lacks)"
            ) from exc

    def close(self) -> None:
        self.db.close()

    def get_many(self, ids: list[str], generation: int) -> dict[str, str]:
        """Record JSON of each of ``ids`` visible at ``generation``."""
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT id, record FROM papers WHERE id IN ({marks}) AND {_VISIBLE_Q}",
                [*part, generation, generation],
            )
            out.update(rows)
        return out

    def ids(self, generation: int) -> list[str]:
        return [row[0] for row in self.db.execute(f"SELECT id FROM papers WHERE {_VISIBLE}", {"g": generation})]

    def records(self, generation: int) -> Iterator[tuple[str, str]]:
        yield from self.db.execute(f"SELECT id, record FROM papers WHERE {_VISIBLE} ORDER BY id", {"g": generation})

    def dates(self, generation: int) -> list[tuple[str, str | None, str | None]]:
        """(id, ISO day, raw date) of every dated paper."""
        query = f"SELECT id, day, date FROM papers WHERE {_VISIBLE} AND (day IS NOT NULL OR date IS NOT NULL)"
        return list(self.db.execute(query, {"g": generation}))

    def any_dated(self, generation: int) -> bool:
        """Does any paper of ``generation`` carry a date? (one row read, not every dated paper's)"""
        query = f"SELECT 1 FROM papers WHERE {_VISIBLE} AND (day IS NOT NULL OR date IS NOT NULL) LIMIT 1"
        return self.db.execute(query, {"g": generation}).fetchone() is not None

    def by_match_key(self, key: str, generation: int) -> list[str]:
        query = f"SELECT id FROM papers WHERE match_key = :k AND {_VISIBLE} ORDER BY added, id"
        return [row[0] for row in self.db.execute(query, {"k": key, "g": generation})]

    def by_strong_id(self, strong: str, generation: int) -> str | None:
        """The paper known by ``arxiv:<id>`` or ``doi:<doi>`` (its own id or a field of its record)."""
        kind, _, value = strong.partition(":")
        column = {"arxiv": "arxiv", "doi": "doi"}.get(kind)
        if column is None:
            return None
        query = f"SELECT id FROM papers WHERE (id = :s OR {column} = :v) AND {_VISIBLE} ORDER BY added, id LIMIT 1"
        row = self.db.execute(query, {"s": strong, "v": value, "g": generation}).fetchone()
        return row[0] if row else None

    def written_between(self, after: int, upto: int) -> int:
        """Papers that generations ``after`` + 1 .. ``upto`` added, rewrote or removed (counted from the
        rows still kept: a removal older than the previous generation is forgotten)."""
        query = (
            "SELECT COUNT(DISTINCT id) FROM papers "
            "WHERE (added > :a AND added <= :u) OR (removed > :a AND removed <= :u)"
        )
        return int(self.db.execute(query, {"a": after, "u": upto}).fetchone()[0])

    # -- writing ---------------------------------------------------------------------------------

    def discard_after(self, generation: int) -> None:
        """Undo what a writer killed before its commit left: rows of later generations."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM papers WHERE added > ?", (generation,))
            self.db.execute("UPDATE papers SET removed = NULL WHERE removed > ?", (generation,))

    def apply(
        self,
        changes: Mapping[str, PaperEntry | None],
        generation: int,
        match_key: Callable[[str, PaperEntry], str],
        *,
        clear: bool = False,
    ) -> None:
        """Write ``changes`` (None: removed) as generation ``generation`` in one transaction: the
        rows they replace get ``removed = generation``. ``match_key(id, entry)``: the key identity
        matching looks papers up by (``ingest.identity.match_key``). ``clear``: every paper not in
        ``changes`` is removed too (a rebuild)."""
        rows = [
            (pid, generation, match_key(pid, e), e.arxiv_id, e.doi, e.day, e.date, e.model_dump_json())
            for pid, e in changes.items()
            if e is not None
        ]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if clear:
                self.db.execute("UPDATE papers SET removed = ? WHERE removed IS NULL", (generation,))
            self.db.executemany(
                "UPDATE papers SET removed = ? WHERE id = ? AND removed IS NULL AND added < ?",
                [(generation, pid, generation) for pid in changes],
            )
            self.db.executemany("INSERT OR REPLACE INTO papers VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)", rows)

    def forget_before(self, generation: int) -> None:
        """Delete rows no generation from ``generation`` on sees."""
        with self.db:
            self.db.execute("DELETE FROM papers WHERE removed IS NOT NULL AND removed <= ?", (generation,))


def catalog_readable(path: Path) -> bool:
    """Does the catalog at ``path`` open? (False: missing tables or a damaged file)"""
    try:
        Catalog(path).close()
    except IndexError_:
        return False
    return True


def _open_reader(path: Path) -> sqlite3.Connection:
    """A reader's connection, query_only whatever the mode.

    Read-write where this process may write the file and its folder: a writer killed inside its
    transaction leaves a hot journal that only a read-write connection rolls back (a read-only one
    reports the file unreadable). Where it may not (a read-only mount, a folder of another user):
    ``mode=ro``, and if SQLite cannot open even that way (no locking on the medium) and no journal
    is left to roll back, ``immutable=1`` (nothing can change a file on a read-only medium)."""
    writable_here = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    modes = ["mode=rw"] if writable_here else ["mode=ro", "mode=ro&immutable=1"]
    journal = path.with_name(path.name + "-journal")
    for number, mode in enumerate(modes):
        uri = f"file:{quote(os.fsencode(path))}?{mode}"  # any bytes a name holds, percent-encoded
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            db.execute("PRAGMA query_only = ON")
            db.execute("SELECT 1 FROM papers LIMIT 1").fetchall()
            return db
        except sqlite3.Error as exc:
            db.close()
            last = number == len(modes) - 1
            if last or journal.exists():
                if journal.exists() and not writable_here:
                    raise sqlite3.OperationalError(
                        f"{exc}; an interrupted write left {journal.name}, which only a writable open rolls back: "
                        "open the index once where it is writable"
                    ) from exc
                raise
    raise sqlite3.OperationalError("no mode opened it")  # pragma: no cover - the loop returns or raises


class PaperTable(Mapping[str, PaperEntry]):
    """The papers visible at one generation, as a mapping id -> :class:`PaperEntry`, with a writer's
    staged changes on top (``table[pid] = entry``, ``del table[pid]``). Entries read are cached.

    Either backed by a :class:`Catalog` or, for an index written before the catalog existed
    (manifest format 1, papers inline), by a plain dict.
    """

    def __init__(self, catalog: Catalog | None, generation: int, inline: dict[str, PaperEntry] | None = None) -> None:
        self.catalog = catalog
        self.generation = generation
        self.inline = inline
        self.staged: dict[str, PaperEntry | None] = {}
        self.cleared = False  # the base is ignored: a rebuild, or a manifest recovered from the sources
        self._cache: dict[str, PaperEntry] = {}
        self._ids: list[str] | None = None

    def clear_base(self) -> None:
        """From now on only staged papers exist (the commit retires the rest)."""
        self.cleared = True
        self.inline = None if self.catalog is not None else {}
        self._ids = []
        self._cache = {}

    def staged_copy(self) -> PaperTable:
        """A writer's view: the same papers, changes staged apart from this table."""
        table = PaperTable(self.catalog, self.generation, self.inline)
        table.staged = dict(self.staged)
        table.cleared = self.cleared
        table._cache = self._cache
        table._ids = self._ids
        return table

    # -- reading -------------------------------------------------------------------------------

    def _base_ids(self) -> list[str]:
        if self._ids is None:
            if self.inline is not None:
                self._ids = list(self.inline)
            else:
                self._ids = self.catalog.ids(self.generation) if self.catalog else []
        return self._ids

    def _load(self, ids: list[str]) -> None:
        wanted = [pid for pid in ids if pid not in self._cache]
        if not wanted or self.cleared:
            return
        if self.inline is not None:
            self._cache.update((pid, self.inline[pid]) for pid in wanted if pid in self.inline)
        elif self.catalog is not None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            for pid, record in self.catalog.get_many(wanted, self.generation).items():
                self._cache[pid] = PaperEntry.model_validate_json(record)

    def get_many(self, ids: list[str]) -> dict[str, PaperEntry]:
        """The entries of those of ``ids`` that exist (one query for all)."""
        self._load([pid for pid in ids if pid not in self.staged])
        out = {}
        for pid in ids:
            if pid in self.staged:
                if (entry := self.staged[pid]) is not None:
                    out[pid] = entry
            elif pid in self._cache:
                out[pid] = self._cache[pid]
        return out

    def __getitem__(self, pid: str) -> PaperEntry:
        found = self.get_many([pid])
        if pid not in found:
            raise KeyError(pid)
        return found[pid]

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, str) and bool(self.get_many([pid]))

    def __iter__(self) -> Iterator[str]:
        for pid in self._base_ids():
            if pid not in self.staged or self.staged[pid] is not None:
                yield pid
        base = set(self._base_ids())
        yield from (pid for pid, entry in self.staged.items() if entry is not None and pid not in base)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> list[tuple[str, PaperEntry]]:  # type: ignore[override]
        """Every paper, read in one pass (not entry by entry)."""
        return list(self.iter_items())

    def iter_items(self) -> Iterator[tuple[str, PaperEntry]]:
        if self.inline is not None or self.catalog is None or self.cleared:
            for pid in self:
                yield pid, self[pid]
            return
        for pid, record in self.catalog.records(self.generation):
            if pid in self.staged:
                continue
            yield pid, self._cache.get(pid) or PaperEntry.model_validate_json(record)
        yield from ((pid, e) for pid, e in self.staged.items() if e is not None)

    def values(self) -> list[PaperEntry]:  # type: ignore[override]
        return [entry for _, entry in self.iter_items()]

    def dates(self) -> list[tuple[str, str | None, str | None]]:
        """(id, ISO day, raw date) of every dated paper, staged changes included."""
        if self.inline is not None or self.catalog is None or self.cleared:
            return [(pid, e.day, e.date) for pid, e in self.items() if e.day or e.date]
        rows = [r for r in self.catalog.dates(self.generation) if r[0] not in self.staged]
        return rows + [(pid, e.day, e.date) for pid, e in self.staged.items() if e is not None and (e.day or e.date)]

    def any_dated(self) -> bool:
        """Does any paper carry a date? (staged changes included; without them one catalog row is read)"""
        if self.inline is not None or self.catalog is None or self.cleared or self.staged:
            return bool(self.dates())
        return self.catalog.any_dated(self.generation)

    # -- staging -------------------------------------------------------------------------------

    def __setitem__(self, pid: str, entry: PaperEntry) -> None:
        self.staged[pid] = entry

    def __delitem__(self, pid: str) -> None:
        if pid not in self:
            raise KeyError(pid)
        self.staged[pid] = None
