"""Segments: an index's chunk vectors as one base store plus append-only delta stores.

A commit never writes a store the manifest already names (Chroma rewrites its HNSW files in
place, and a torn store crashes its loader: chroma-core/chroma#7238). Instead of copying the whole
committed store, a writer adds its vectors to a new, empty *delta* store
(``chroma-<gen>-<token>-delta/``) and the manifest lists the base and its deltas
(``Manifest.chroma_dir`` + ``Manifest.chroma_deltas``). A replaced or removed paper's vectors are
not deleted from the older stores: they stay as *garbage*, invisible because readers keep only the
ids a paper of their generation's catalog lists (``PaperIndex.owners``); the manifest counts them
(``Manifest.chunk_garbage`` = vectors stored in the listed stores minus ``chunk_count``).

:class:`Segments` presents the listed stores as one collection-like object (``count``, ``get``,
``query``, ``upsert``, ``delete``), newest store first where an id is held twice. :func:`nearest`
is the dense search over them with garbage filtered out; :func:`compaction_due` says when the next
commit should write a new base instead (the amortised full copy, ``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

MAX_DELTAS = 8  # a commit that finds this many deltas writes a new base (every query searches each one)
MAX_SHARE = 0.25  # ... or when the deltas' vectors plus the garbage exceed this share of the base's
MARGIN = 10  # extra hits asked of each store beyond n (what a single store was always asked for)
PAGE = 5000  # ids per Chroma get (its SQLite variable limit is far above this)


def delta_name(generation: int, token: str) -> str:
    """The folder of a delta store written by the commit of ``generation``."""
    return f"chroma-{generation}-{token}-delta"


def is_delta(name: str) -> bool:
    return name.endswith("-delta")


class Segments:
    """Chroma collections read as one: ``parts`` oldest first (the base, then the deltas); the last
    is where ``upsert`` writes. ``garbage``: stored vectors no paper of the generation lists, so that
    :meth:`count` is the visible count (what the manifest's ``chunk_count`` is checked against).
    With one part every call is passed through unchanged."""

    def __init__(self, parts: Sequence[Any], garbage: int = 0) -> None:
        if not parts:
            raise ValueError("Segments needs at least one store")
        self.parts = list(parts)
        self.garbage = garbage
        self._sizes: list[int] | None = None

    @property
    def _client(self) -> Any:
        return self.parts[-1]._client

    @property
    def name(self) -> str:
        return str(self.parts[0].name)

    def sizes(self) -> list[int]:
        """Vectors stored in each part (counted once: a Segments object is per opened generation,
        and a writer's counts change only in its last part, which is counted afresh)."""
        if self._sizes is None:
            self._sizes = [int(p.count()) for p in self.parts[:-1]]
        return [*self._sizes, int(self.parts[-1].count())]

    def stored(self) -> int:
        """Vectors stored in all parts, garbage and duplicates included."""
        return sum(self.sizes())

    def count(self) -> int:
        """Vectors the generation sees: ``stored() - garbage`` (never below 0)."""
        return max(0, self.stored() - self.garbage)

    def ids(self) -> set[str]:
        """Every id any part holds (garbage included), read in pages."""
        out: set[str] = set()
        for part in self.parts:
            offset = 0
            while True:
                got = part.get(include=[], limit=PAGE, offset=offset)["ids"]
                out.update(got)
                if len(got) < PAGE:
                    break
                offset += PAGE
        return out

    def pages(self, include: list[str]) -> Any:
        """Yield ``(ids, fields)`` pages of every part, newest part first (``fields``: Chroma's dict)."""
        for part in reversed(self.parts):
            offset = 0
            while True:
                got = part.get(include=include, limit=PAGE, offset=offset)
                yield got["ids"], got
                if len(got["ids"]) < PAGE:
                    break
                offset += PAGE

    def get(self, ids: list[str] | None = None, include: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Chroma's ``get`` over every part: an id held by several parts comes once, from the newest.
        ``limit``/``offset`` apply to the merged result (in part order, newest first)."""
        include = ["metadatas", "documents"] if include is None else include
        if len(self.parts) == 1:
            return self.parts[0].get(ids=ids, include=include, **kwargs)
        limit, offset = kwargs.pop("limit", None), kwargs.pop("offset", None) or 0
        merged: dict[str, dict[str, Any]] = {}
        wanted = None if ids is None else list(dict.fromkeys(ids))
        for part in reversed(self.parts):
            if wanted is not None and not wanted:
                break
            cap = None if limit is None else offset + limit + len(merged)
            got = part.get(ids=wanted, include=include, limit=cap, **kwargs)
            for i, uid in enumerate(got["ids"]):
                if uid not in merged:
                    merged[uid] = {field: got[field][i] for field in include}
            if wanted is not None:
                wanted = [uid for uid in wanted if uid not in merged]
            if limit is not None and len(merged) >= offset + limit:
                break
        keys = list(merged)[offset : None if limit is None else offset + limit]
        out: dict[str, Any] = {"ids": keys}
        for field in ("embeddings", "documents", "metadatas"):
            out[field] = [merged[k][field] for k in keys] if field in include else None
        return out

    def query(
        self, query_embeddings: list[Any], n_results: int, include: list[str], where: Any = None
    ) -> dict[str, Any]:
        """Chroma's ``query`` (one query vector) over every part, merged by distance, an id once."""
        if len(self.parts) == 1:
            return self.parts[0].query(
                query_embeddings=query_embeddings, n_results=n_results, include=include, where=where
            )
        found: dict[str, float] = {}
        for part, size in zip(self.parts, self.sizes(), strict=True):
            if size:
                got = part.query(
                    query_embeddings=query_embeddings,
                    n_results=min(n_results, size),
                    include=["distances"],
                    where=where,
                )
                for uid, dist in zip(got["ids"][0], got["distances"][0], strict=True):
                    found[uid] = min(dist, found.get(uid, dist))
        best = sorted(found.items(), key=lambda kv: kv[1])[:n_results]
        return {"ids": [[k for k, _ in best]], "distances": [[d for _, d in best]]}

    def upsert(self, **kwargs: Any) -> None:
        """Into the last part (a writer's delta or copy): no other part is ever written."""
        self.parts[-1].upsert(**kwargs)

    def delete(self, ids: list[str]) -> None:
        """Delete from the last part only (the writer's own store: a copy, or a server collection)."""
        self.parts[-1].delete(ids=ids)


def nearest(
    store: Segments,
    vector: Any,
    n: int,
    where: dict[str, Any] | None,
    owners: Callable[[list[str]], dict[str, str]],
) -> list[tuple[str, str, float]]:
    """The ``n`` visible vectors of ``store`` nearest ``vector``: ``(id, paper id, cosine distance)``,
    nearest first. ``owners(ids)`` maps the ids a paper of the generation lists to their paper.

    The bound: each part is asked for ``n + MARGIN`` hits, and asked again for 4x as many while it
    yields fewer than ``n`` visible hits and holds more; so garbage, however much, never crowds out a
    visible hit (up to the approximation of each part's HNSW search). With one part and no garbage
    this is the single query of ``n + MARGIN`` it always was."""
    found: dict[str, tuple[float, str]] = {}
    for part, size in zip(store.parts, store.sizes(), strict=True):
        k, visible, owner = min(n + MARGIN, size), [], {}
        while k > 0:
            got = part.query(query_embeddings=[vector], n_results=k, include=["distances"], where=where)
            ids, dists = got["ids"][0], got["distances"][0]
            owner = owners(ids)
            visible = [(uid, float(d)) for uid, d in zip(ids, dists, strict=True) if uid in owner]
            if len(visible) >= n or k >= size or len(ids) < k:
                break
            k = min(k * 4, size)
        for uid, dist in visible:
            if uid not in found or dist < found[uid][0]:
                found[uid] = (dist, owner[uid])
    ranked = sorted(found.items(), key=lambda kv: kv[1][0])  # stable: one part keeps Chroma's order
    return [(uid, pid, dist) for uid, (dist, pid) in ranked[:n]]


def compaction_due(store: Segments, deltas: int) -> bool:
    """Should the next commit write a new base? When ``deltas`` (listed delta stores) reach
    ``MAX_DELTAS``, or the deltas' vectors plus the garbage exceed ``MAX_SHARE`` of the base's
    (``store``: the committed stores, base first, with the manifest's garbage)."""
    if deltas >= MAX_DELTAS:
        return True
    sizes = store.sizes()
    base = sizes[0]
    return sum(sizes[1:]) + store.garbage > MAX_SHARE * base
