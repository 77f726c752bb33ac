"""Similar papers: the papers nearest one paper, from the vectors stored at ingest (no model call).

``papers similar "TITLE or id" [--k N] [--json]`` (registered under the ``papers.commands`` entry
points in ``pyproject.toml``). The paper is found by (:func:`resolve`):

1. its paper id as stored (``arxiv:2409.00001``, ``doi:…``, ``title:<hash>``);
2. an arXiv id or abs/pdf URL (``2409.00001v2``, ``https://arxiv.org/abs/2409.00001``) or a DOI
   (``10.1145/…``, ``https://doi.org/10.1145/…``), looked up in the catalog's id columns;
3. its title, compared case-, accent- and punctuation-insensitively (``assistant.text.title_key``,
   the key the catalog indexes every paper by).

Not found: :class:`PaperNotFound`, one line with up to three "did you mean" titles (BM25 over the
chunks for the words given, ranked by how closely each title matches).

The paper's vector is the mean of its stored chunk vectors (unit-normalised); the dense chunk index
is queried with it, each other paper scores its best chunk's cosine similarity, and the paper
itself is left out. Cost: one Chroma ``get`` by id, one HNSW query, two catalog lookups
(``benchmarks/similar.py`` measures it; target p95 <= 50 ms on the bundled corpus).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.dates import shown_date
from assistant.display import short_title
from assistant.errors import EXIT_USAGE, IndexError_, InputError, handle_errors
from assistant.settings import MAX_K
from assistant.text import title_key

if TYPE_CHECKING:
    import numpy as np

    from assistant.store import PaperIndex

__all__ = ["PaperNotFound", "Similar", "main", "paper_vector", "resolve", "similar", "suggestions"]


class PaperNotFound(InputError):
    """No paper of the index has this id or title (the message suggests close titles)."""


@dataclass(frozen=True)
class Similar:
    """One near paper: its id, title, cosine similarity of its best chunk to the paper's mean vector."""

    paper_id: str
    title: str
    score: float
    date: str | None = None
    url: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "title": short_title(self.title), "score": round(self.score, 4)}


_ARXIV = re.compile(
    r"^(?:arxiv:|https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)?"
    r"(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Za-z]{2})?/\d{7})(?:v\d+)?(?:\.pdf)?/?$",
    re.I,
)
_DOI = re.compile(r"^(?:doi:|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)$", re.I)


def _strong_ids(text: str) -> list[str]:
    """The catalog ids ``text`` may name: ``arxiv:<id>`` (version dropped) or ``doi:<doi>`` (lower-cased)."""
    out = []
    if m := _ARXIV.match(text):
        out.append("arxiv:" + m.group(1).lower())
    if m := _DOI.match(text):
        out.append("doi:" + m.group(1).lower())
    return out


def resolve(index: PaperIndex, text: str) -> str:
    """The paper id ``text`` names (see the module docstring); PaperNotFound otherwise, or when
    several papers share the title (their ids are listed: give one)."""
    wanted = " ".join(text.split())
    if not wanted:
        raise PaperNotFound("give a paper title or id")
    papers = index.manifest.papers
    if wanted in papers:
        return wanted
    catalog = papers.catalog
    for strong in _strong_ids(wanted):
        if catalog is not None and (pid := catalog.by_strong_id(strong, papers.generation)):
            return pid
        if strong in papers:
            return strong
    key = title_key(wanted)
    if key:
        if catalog is not None:
            found = catalog.by_match_key(key, papers.generation)
        else:  # an index in the old inline format: no catalog to look titles up in
            found = [pid for pid, entry in papers.items() if title_key(entry.title) == key]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(found)
            raise PaperNotFound(f"{len(found)} papers have the title {wanted!r}: give one of the ids {ids}")
    close = suggestions(index, wanted)
    hint = "; did you mean " + " or ".join(repr(short_title(t, 120)) for t in close) + "?" if close else ""
    raise PaperNotFound(f"no paper titled or identified {short_title(wanted, 120)!r} in {index.root}{hint}")


def suggestions(index: PaperIndex, text: str, n: int = 3) -> list[str]:
    """Up to ``n`` titles close to ``text``: papers BM25 finds for its words, ranked by how closely
    the title matches (the difflib ratio of title keys, or the share of the words given that the
    title holds when that is higher, so a few words of a long title find it; at least 0.4)."""
    key = title_key(text)
    if not key:
        return []
    hits = index.sparse(text, 40)
    ids = list(dict.fromkeys(h.paper_id for h in hits))
    titles = [e.title for e in index.manifest.papers.get_many(ids).values()]
    words = set(key.split())

    def closeness(title: str) -> float:
        other = title_key(title)
        ratio = difflib.SequenceMatcher(None, key, other).ratio()
        return max(ratio, len(words & set(other.split())) / len(words))

    scored = [(closeness(t), t) for t in titles]
    scored.sort(key=lambda pair: -pair[0])
    return [t for ratio, t in scored[:n] if ratio >= 0.4]


def paper_vector(index: PaperIndex, paper_id: str) -> np.ndarray:
    """The unit mean of the paper's stored chunk vectors. IndexError_ if the store has none of them."""
    import numpy as np

    chunk_ids = index.manifest.papers[paper_id].chunk_ids
    got = index.collection.get(ids=chunk_ids, include=["embeddings"]) if chunk_ids else {"embeddings": []}
    vectors = np.asarray(got["embeddings"], dtype="float32")
    if vectors.size == 0:
        raise IndexError_(
            f"the vector store of {index.root} holds no vector of {paper_id}: repair it with `ingest --repair`"
        )
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def similar(index: PaperIndex, paper_id: str, k: int = 5) -> list[Similar]:
    """The ``k`` papers nearest ``paper_id`` (best first), itself excluded. Chunks are over-fetched
    by the index's chunks per paper, and the search widened until ``k`` other papers are found or
    every chunk was ranked."""
    vector = paper_vector(index, paper_id)
    manifest = index.manifest
    per_paper = max(1.0, manifest.chunk_count / max(manifest.paper_count, 1))
    n = math.ceil((k + 1) * per_paper * 2) + 10
    total = max(manifest.chunk_count, 1)
    while True:
        best: dict[str, float] = {}
        for hit in index.dense(vector, n):
            if hit.paper_id != paper_id and hit.score > best.get(hit.paper_id, -2.0):
                best[hit.paper_id] = hit.score
        if len(best) >= k or n >= total:
            break
        n = min(n * 4, total)
    ranked = sorted(best.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
    entries = manifest.papers.get_many([pid for pid, _ in ranked])
    return [
        Similar(pid, entries[pid].title, score, entries[pid].date, entries[pid].url)
        for pid, score in ranked
        if pid in entries
    ]


@click.command()
@click.argument("paper")
@click.option("--k", type=click.IntRange(1, MAX_K), default=5, show_default=True, help="Papers to list.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@handle_errors
def main(paper: str, k: int, index_dir: Path | None, as_json: bool) -> None:
    """List the papers most similar to PAPER (a title, paper id, arXiv id or DOI), from the stored
    vectors: no model runs."""
    from assistant.settings import load_settings
    from assistant.store import PaperIndex

    if not paper.split():  # a usage error, as an empty question is at every door (exit 2)
        message = "give a paper title or id"
        if as_json:
            click.echo(json.dumps({"error": message}))
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_USAGE)
    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    index = PaperIndex.open(settings)
    try:
        index.check_complete()
        pid = resolve(index, paper)
        found = similar(index, pid, k)
        entry = index.manifest.papers[pid]
    finally:
        index.close()
    if as_json:
        payload = {"paper_id": pid, "title": short_title(entry.title), "similar": [s.as_dict() for s in found]}
        click.echo(json.dumps(payload))
        return
    click.echo(f"Papers similar to: {short_title(entry.title)} ({pid})")
    if not found:
        click.echo("  (no other paper in the index)")
    for i, s in enumerate(found, start=1):
        extra = ", ".join(x for x in [shown_date(s.date), s.url] if x)
        line = f"  {i}. [{s.score:.3f}] {short_title(s.title)} ({s.paper_id})"
        click.echo(line + (f" — {extra}" if extra else ""))
