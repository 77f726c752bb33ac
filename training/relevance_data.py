"""The relevance model's training pairs (question, passage, label), generated from a seed.

Sources (licences in docs/models.md):

- **SciFact train claims** (``<scifact>/qrels/train.tsv`` only, read through ``evals.beir.load_beir``):
  each judged abstract is a positive, twice; BM25 hits on the SciFact corpus that the qrels do not
  list are the negatives (two per positive).
- **Synthetic queries** for the abstracts of the bundled corpus (``data/``, read by ``ingest``'s own
  readers) and of a seeded sample of the SciFact corpus, written by templates in five styles:
  ``keyword`` (2–4 content words of high tf-idf), ``paraphrase`` (an abstract sentence with words
  dropped and swapped, sometimes as a question), ``conversational`` ("I'm working on … is there work
  on …?"), ``broad`` (words the paper shares with its BM25 neighbours) and ``title``. Each query gets
  one positive (its paper) and one negative: a BM25 hit for the query at ranks 2–12 (a neighbouring
  paper) with probability 0.7, else a random paper; ``broad`` queries take random negatives only,
  since their neighbours are plausibly relevant too. A language model writing the questions
  (doc2query / InPars) would give better queries, but the embedded Qwen2.5-0.5B writes about one
  question per 2–4 s here: 10,000 questions would be most of a day on the shared 2 cores.

Never read: ``evals/support_pairs.jsonl``, ``evals/questions/*``, ``realistic.jsonl``, SciFact test
claims. The SciFact test qrels are read for their document ids only, to leave those abstracts out of
synthetic query generation (so no synthetic query is written for a test-gold abstract).

``python -m training.relevance_data --out pairs.jsonl`` writes the pairs; the same seed gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.crossencoder import passage_text
from assistant.text import STOPWORDS, split_sentences

SCIFACT = Path("../shared/benchmarks/scifact")
DATA = Path("data")
STYLES = ("keyword", "paraphrase", "conversational", "broad", "title")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")

CONVERSATIONAL = (
    "I'm working on {a}; is there any work on {b}?",
    "I'm working on {a}. Is there work on {b}?",
    "Are there papers about {b}?",
    "has anyone studied {b} for {a}?",
    "I need references on {b}",
    "what papers discuss {b}",
    "Looking for research on {b} in the context of {a}.",
    "Is there a paper that looks at {b}?",
    "which studies report {b}",
    "any work on {a} that uses {b}?",
)
BROAD = ("{w}", "papers on {w}", "research about {w}", "what is known about {w}?", "{w} studies")
PARAPHRASE_PREFIX = ("", "", "", "how ", "does ", "what is known about ", "is it true that ", "evidence that ")


@dataclass(frozen=True)
class Doc:
    """One abstract: ``corpus`` is ``bundled`` or ``scifact``."""

    id: str
    title: str
    abstract: str
    corpus: str

    @property
    def text(self) -> str:
        return passage_text(self.title, self.abstract)


def surface_words(text: str) -> list[str]:
    """Words as written (hyphenated compounds whole), without stopwords and very short words."""
    return [w for w in _WORD.findall(text) if len(w) > 2 and w.lower() not in STOPWORDS]


class Corpus:
    """Documents of one corpus with a BM25 index (bm25s, stemmed) and tf-idf keywords."""

    def __init__(self, docs: list[Doc]) -> None:
        import bm25s
        import Stemmer

        self.docs = docs
        self._stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize([d.text for d in docs], stopwords="en", stemmer=self._stemmer, show_progress=False)
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokens, show_progress=False)
        df: Counter[str] = Counter()
        for d in docs:
            df.update({w.lower() for w in surface_words(d.text)})
        self.idf = {w: math.log(len(docs) / (1 + n)) for w, n in df.items()}

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        """Document positions of the top ``k`` BM25 hits per query."""
        import bm25s

        tokens = bm25s.tokenize(queries, stopwords="en", stemmer=self._stemmer, show_progress=False)
        docs, _ = self.bm25.retrieve(tokens, k=min(k, len(self.docs)), show_progress=False, n_threads=1)
        return [[int(i) for i in row] for row in docs]

    def keywords(self, doc: Doc, n: int = 8) -> list[str]:
        """The doc's ``n`` highest tf-idf surface words (first spelling seen), best first."""
        counts: Counter[str] = Counter()
        spelling: dict[str, str] = {}
        for w in surface_words(doc.text):
            counts[w.lower()] += 1
            spelling.setdefault(w.lower(), w)
        ranked = sorted(counts, key=lambda w: -counts[w] * self.idf.get(w, 0.0))
        return [spelling[w] for w in ranked[:n]]


def _phrase(rng: random.Random, sentence: str) -> str:
    """A contiguous span of 2–4 words of ``sentence`` that starts and ends on a content word."""
    words = _WORD.findall(sentence)
    spans = [
        (i, j)
        for i in range(len(words))
        for j in range(i + 2, min(i + 5, len(words) + 1))
        if words[i].lower() not in STOPWORDS and words[j - 1].lower() not in STOPWORDS and len(words[i]) > 2
    ]
    if not spans:
        return " ".join(surface_words(sentence)[:3])
    i, j = rng.choice(spans)
    return " ".join(words[i:j])


def _casing(rng: random.Random, text: str) -> str:
    return text.lower() if rng.random() < 0.5 else text


def write_query(rng: random.Random, corpus: Corpus, doc: Doc, style: str, neighbours: list[int]) -> str:
    """One synthetic query of ``style`` for ``doc``; ``neighbours`` are its BM25 neighbours' positions."""
    sentences = split_sentences(doc.abstract) or [doc.abstract]
    keys = corpus.keywords(doc)
    if style == "keyword":
        picked = rng.sample(keys[:6], k=min(len(keys[:6]), rng.randint(2, 4)))
        return _casing(rng, " ".join(picked))
    if style == "paraphrase":
        words = sentences[rng.randrange(len(sentences))].rstrip(".").split()[:24]
        kept = [w for i, w in enumerate(words) if i == 0 or rng.random() > (0.5 if w.lower() in STOPWORDS else 0.2)]
        if len(kept) > 3 and rng.random() < 0.6:
            i = rng.randrange(len(kept) - 1)
            kept[i], kept[i + 1] = kept[i + 1], kept[i]
        prefix = rng.choice(PARAPHRASE_PREFIX)
        text = prefix + " ".join(kept[:18])
        return _casing(rng, text + ("?" if prefix and rng.random() < 0.7 else ""))
    if style == "conversational":
        a = " ".join(
            rng.sample(surface_words(doc.title) or keys[:2], k=min(2, len(surface_words(doc.title) or keys[:2])))
        )
        b = _phrase(rng, sentences[rng.randrange(len(sentences))])
        return _casing(rng, rng.choice(CONVERSATIONAL).format(a=a.lower(), b=b))
    if style == "broad":
        mine = {w.lower() for w in surface_words(doc.text)}
        shared: Counter[str] = Counter()
        for pos in neighbours[:5]:
            shared.update(sorted(mine & {w.lower() for w in surface_words(corpus.docs[pos].text)}))
        common = [w for w, n in shared.most_common(6) if n >= 2] or [k.lower() for k in keys[:3]]
        picked = rng.sample(common, k=min(len(common), rng.randint(1, 3)))
        return rng.choice(BROAD).format(w=" ".join(picked))
    if style == "title":
        title = doc.title.rstrip(".")
        return rng.choice((title, title.lower(), f"the paper {title}", f"{title}?"))
    raise ValueError(f"unknown style {style!r}")


def synthetic_pairs(rng: random.Random, corpus: Corpus, doc_positions: list[int], per_doc: int) -> list[dict[str, Any]]:
    """``per_doc`` queries per listed document, each with one positive and one negative pair."""
    jobs = [
        (pos, rng.choice(STYLES) if per_doc == 1 else STYLES[(n + pos) % len(STYLES)])
        for pos in doc_positions
        for n in range(per_doc)
    ]
    neighbour_lists = corpus.search([corpus.docs[pos].text[:600] for pos, _ in jobs], k=8)
    queries = [
        write_query(rng, corpus, corpus.docs[pos], style, nb)
        for (pos, style), nb in zip(jobs, neighbour_lists, strict=True)
    ]
    hits = corpus.search(queries, k=13)
    pairs: list[dict[str, Any]] = []
    for (pos, style), query, ranked in zip(jobs, queries, hits, strict=True):
        doc = corpus.docs[pos]
        group = f"{doc.corpus}:{doc.id}:{style}:{len(pairs)}"
        others = [p for p in ranked[1:] if p != pos]
        hard = style != "broad" and others and rng.random() < 0.7
        neg = (
            rng.choice(others) if hard else rng.choice([p for p in rng.sample(range(len(corpus.docs)), 3) if p != pos])
        )
        kind = "hard" if hard else "random"
        base = {"query": query, "source": doc.corpus, "style": style, "group": group}
        pairs.append({**base, "passage": doc.text, "label": 1, "negative": None})
        pairs.append({**base, "passage": corpus.docs[neg].text, "label": 0, "negative": kind})
    return pairs


def window(doc: Doc, sents: list[str], i: int) -> str:
    """The evidence: the title and up to three sentences around sentence ``i``."""
    start = max(0, min(i - 1, len(sents) - 3))
    return f"{doc.title.rstrip('.')}. " + " ".join(sents[start : start + 3])


def load_bundled(data: Path) -> list[Doc]:
    """The bundled corpus through ingest's readers (records that fail validation are skipped)."""
    from ingest.readers import read_paths
    from ingest.records import Paper

    seen: dict[str, Doc] = {}
    for item in read_paths([data]):
        if isinstance(item, Paper):
            seen.setdefault(item.title.lower(), Doc(item.title.lower(), item.title, item.abstract, "bundled"))
    return list(seen.values())


def load_scifact(root: Path) -> tuple[list[Doc], Any, set[str]]:
    """SciFact corpus, its *train* split (queries + qrels), and the test-gold doc ids (ids only)."""
    from evals.beir import load_beir, read_qrels

    train = load_beir(root, "train")
    docs = [Doc(i, d["title"], d["text"], "scifact") for i, d in train.corpus.items() if d["text"].strip()]
    test_gold = {doc for judged in read_qrels(root / "qrels" / "test.tsv").values() for doc in judged}
    return docs, train, test_gold


def scifact_claim_pairs(rng: random.Random, corpus: Corpus, train: Any) -> list[dict[str, Any]]:
    """Each (train claim, judged abstract) twice as a positive; two BM25 negatives the qrels do not list."""
    position = {d.id: i for i, d in enumerate(corpus.docs)}
    qids = sorted(train.queries)
    hits = corpus.search([train.queries[q] for q in qids], k=20)
    pairs: list[dict[str, Any]] = []
    for qid, ranked in zip(qids, hits, strict=True):
        gold = [position[d] for d in train.qrels[qid] if d in position]
        negatives = [p for p in ranked if corpus.docs[p].id not in train.qrels[qid]]
        base = {"query": train.queries[qid], "source": "scifact-train", "style": "claim", "group": f"claim:{qid}"}
        for pos in gold:
            for neg in rng.sample(negatives[:10], k=min(2, len(negatives[:10]))):
                pairs.append({**base, "passage": corpus.docs[pos].text, "label": 1, "negative": None})
                pairs.append({**base, "passage": corpus.docs[neg].text, "label": 0, "negative": "hard"})
    return pairs


def build(
    seed: int = 13,
    scifact: Path = SCIFACT,
    data: Path = DATA,
    bundled_per_doc: int = 10,
    scifact_docs: int = 2200,
    parts: tuple[str, ...] = ("claims", "bundled", "scifact"),
) -> list[dict[str, Any]]:
    """All pairs, shuffled with ``seed``. ``parts`` selects sources (for ablations)."""
    rng = random.Random(seed)
    pairs: list[dict[str, Any]] = []
    sci_docs, train, test_gold = load_scifact(scifact)
    sci = Corpus(sci_docs)
    if "claims" in parts:
        pairs += scifact_claim_pairs(rng, sci, train)
    if "bundled" in parts:
        bundled = Corpus(load_bundled(data))
        pairs += synthetic_pairs(rng, bundled, list(range(len(bundled.docs))), bundled_per_doc)
    if "scifact" in parts:
        eligible = [i for i, d in enumerate(sci.docs) if d.id not in test_gold]
        pairs += synthetic_pairs(rng, sci, sorted(rng.sample(eligible, min(scifact_docs, len(eligible)))), 1)
    rng.shuffle(pairs)
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--bundled-per-doc", type=int, default=10)
    parser.add_argument("--scifact-docs", type=int, default=2200)
    parser.add_argument("--parts", default="claims,bundled,scifact")
    args = parser.parse_args()
    pairs = build(
        args.seed, args.scifact, args.data, args.bundled_per_doc, args.scifact_docs, tuple(args.parts.split(","))
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    counts = Counter((p["source"], p["style"], p["label"]) for p in pairs)
    print(
        json.dumps(
            {
                "pairs": len(pairs),
                "by_source_style_label": {"/".join(map(str, k)): v for k, v in sorted(counts.items())},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
