"""BEIR-format benchmarks (e.g. SciFact): read them, and bridge their document ids to our paper ids.

Layout: ``corpus.jsonl`` ``{_id, title, text}``, ``queries.jsonl`` ``{_id, text}`` and
``qrels/<split>.tsv`` (``query-id  corpus-id  score`` with a header row). The corpus goes through
the normal ingest path (written out as JSONL with ``title``/``abstract``/``id``), so what is
measured is the product's own retrieval. Ingest merges records whose normalised titles are equal,
so two BEIR documents with one title become one paper; the mapping below makes both ids point to
that paper and counts how often it happened, rather than hiding it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputError
from evals.questions import Question
from ingest.identity import title_key
from ingest.records import clean_text


@dataclass
class BeirSet:
    root: Path
    split: str
    corpus: dict[str, dict[str, str]]  # _id -> {"title", "text"}
    queries: dict[str, str]  # _id -> text, only queries judged in this split
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance > 0}

    def questions(self) -> list[Question]:
        """One question per judged query; gold = its relevant document ids (binary relevance)."""
        out = []
        for qid, text in self.queries.items():
            gold = sorted(self.qrels.get(qid, {}))
            out.append(Question(qid, text, [], gold, None, "multi" if len(gold) > 1 else "single"))
        return out


@dataclass
class DocMapping:
    """BEIR doc id -> indexed paper id, with what could not be mapped one to one."""

    paper_of: dict[str, str] = field(default_factory=dict)
    merged_docs: int = 0  # documents folded into another with the same normalised title
    unindexed: list[str] = field(default_factory=list)  # documents ingest skipped

    def as_dict(self) -> dict[str, object]:
        return {
            "docs_mapped": len(self.paper_of),
            "docs_merged_by_title": self.merged_docs,
            "docs_not_indexed": len(self.unindexed),
        }


def is_beir_dir(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def load_beir(root: Path, split: str = "test") -> BeirSet:
    if not is_beir_dir(root):
        raise InputError(f"{root} is not a BEIR directory (no corpus.jsonl)")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise InputError(f"no qrels for split {split!r} in {root} (have: {', '.join(have) or 'none'})")
    corpus = {}
    for rec in _jsonl(root / "corpus.jsonl"):
        corpus[str(rec["_id"])] = {"title": str(rec.get("title") or ""), "text": str(rec.get("text") or "")}
    all_queries = {str(rec["_id"]): str(rec.get("text") or "") for rec in _jsonl(root / "queries.jsonl")}
    qrels = read_qrels(qrels_path)
    unknown = [q for q in qrels if q not in all_queries]
    if unknown:
        raise InputError(f"{qrels_path}: query ids not in queries.jsonl, e.g. {unknown[0]!r}")
    queries = {q: all_queries[q] for q in qrels}
    return BeirSet(root, split, corpus, queries, qrels)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Relevant documents per query; rows scored 0 are judged irrelevant and dropped."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["query-id", "corpus-id"]:
            raise InputError(f"{path}: expected a header row 'query-id<TAB>corpus-id<TAB>score'")
        for number, row in enumerate(rows, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 3:
                raise InputError(f"{path}:{number}: expected three tab-separated columns")
            try:
                score = int(float(row[2]))
            except ValueError as exc:
                raise InputError(f"{path}:{number}: score {row[2]!r} is not a number") from exc
            qrels.setdefault(row[0].strip(), {})
            if score > 0:
                qrels[row[0].strip()][row[1].strip()] = score
    return {q: docs for q, docs in qrels.items() if docs}


def write_corpus_jsonl(beir: BeirSet, path: Path) -> Path:
    """The corpus as the JSONL reader expects it (``id`` = BEIR _id); rewritten only if changed."""
    lines = [
        json.dumps({"id": doc_id, "title": doc["title"], "abstract": doc["text"]}, ensure_ascii=False)
        for doc_id, doc in beir.corpus.items()
    ]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # keeps ingest's view of it stable
        path.write_text(text, encoding="utf-8")
    return path


def map_docs(beir: BeirSet, indexed_titles: dict[str, str]) -> DocMapping:
    """Map each BEIR doc to the paper holding its normalised title (``title_key`` -> paper id)."""
    mapping = DocMapping()
    counts = Counter(title_key(clean_text(doc["title"])) for doc in beir.corpus.values())
    for doc_id, doc in beir.corpus.items():
        key = title_key(clean_text(doc["title"]))
        pid = indexed_titles.get(key)
        if pid is None:
            mapping.unindexed.append(doc_id)
        else:
            mapping.paper_of[doc_id] = pid
    mapping.merged_docs = sum(n - 1 for key, n in counts.items() if n > 1 and key in indexed_titles)
    return mapping


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise InputError(f"missing {path}")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: malformed JSON: {exc.msg}") from exc
        if not isinstance(rec, dict) or "_id" not in rec:
            raise InputError(f"{path}:{number}: expected an object with '_id'")
        out.append(rec)
    return out
