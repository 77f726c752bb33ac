"""Text utilities shared by every stage: one sentence splitter, one tokenizer.

- Sentences: ``sentencex`` (Wikimedia's rule-based segmenter, ~300 languages). It keeps
  "U.S.", "e.g.", "et al.", "Fig. 3" and "3.5%" inside their sentence and splits on "。".
  Chunking (llama-index's ``SentenceSplitter``), evidence sentences stored at ingest and the
  support check all split with it, so NLTK is never consulted.
- Words: bm25s's tokenizer (scikit-learn's ``(?u)\\b\\w\\w+\\b`` pattern, bm25s's English stopwords,
  Snowball stemming by PyStemmer). BM25 indexes exactly :func:`index_terms`; the support check and
  follow-up condensing use the same tokens with a larger stopword list (:data:`STOPWORDS`: the
  field's filler words such as "propose", "model", "results" carry no topic in an abstract).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's default, from scikit-learn's CountVectorizer
_TOKEN = re.compile(TOKEN_PATTERN)
# Surface terms for rewriting a query (condense): the same word characters, with hyphenated and
# dotted compounds ("mixture-of-experts", "GPT-4", "3.5") kept whole so the rewritten query reads right.
TERM_PATTERN = r"(?u)\w+(?:[-.]\w+)*"

_DOMAIN_STOPWORDS = frozenset(
    """a an the of in on for to and or but with by from as at into over under about between through
    this that these those it its their they them we our us you your he she his her is are was were be
    been being has have had do does did can could may might will would should shall also such than
    then there here which who whom whose what when where why how while both each either other another
    some more most much many very so too just only even via using use used based new paper work study
    show shows shown propose proposes proposed present presents introduce introduces approach method
    methods results result model models
    make made makes making get gets got getting way ways anyone someone something thing things know
    want wants need needs really actually possible whether kind sort lot lots help helps anything everything
    publish published""".split()  # noqa: SIM905
)  # the last two lines: the filler of questions as people type them ("how can X be made faster?")


@lru_cache(maxsize=1)
def bm25_stopwords() -> frozenset[str]:
    """bm25s's English stopword list: what BM25 drops."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return bm25_stopwords() | _DOMAIN_STOPWORDS


class _Stopwords:
    """``word in STOPWORDS``: bm25s's English list plus the field's filler words (lazy: no import cost)."""

    def __contains__(self, word: object) -> bool:
        return word in _stopwords()

    def __iter__(self) -> Any:
        return iter(_stopwords())


STOPWORDS = _Stopwords()


@lru_cache(maxsize=1)
def stemmer() -> Any:
    """The Snowball English stemmer (PyStemmer), shared with BM25."""
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased tokens of ``text`` by bm25s's pattern (two or more word characters)."""
    return _TOKEN.findall(text.lower())


def index_terms(text: str) -> list[str]:
    """Exactly the terms BM25 indexes for ``text`` (bm25s stopwords removed, stemmed)."""
    stop = bm25_stopwords()
    return stemmer().stemWords([w for w in words(text) if w not in stop])


def bm25_tokenize(texts: list[str]) -> Any:
    """``bm25s.tokenize`` with this module's pattern, stopwords and stemmer (a ``Tokenized``)."""
    import bm25s

    stop = sorted(bm25_stopwords())
    return bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords=stop, stemmer=stemmer(), show_progress=False)


def content_words(text: str) -> list[str]:
    """Stemmed topic words of ``text``: the BM25 terms without the field's filler words."""
    return stemmer().stemWords([w for w in words(text) if w not in STOPWORDS])


SEGMENTER = "sentencex-en+abbrev-1"  # recorded in every content hash: changing the splitter re-chunks the index


# Abbreviations of scientific prose that sentencex's English list lacks: a span ending in one of
# them continues in the next ("as in Eq. 2", "approx. 1M tokens").
_CONTINUES = re.compile(
    r"(?:\b(?:Eqs?|Figs?|Tabs?|Secs?|Refs?|Thms?|Lemm?|Props?|Defs?|Algs?|App|Ch|Apps|approx|resp|cf|vs|No|Nos|i\.e|e\.g)\.)\s*$",
    re.I,
)


def sentence_spans(text: str) -> list[str]:
    """Sentences with their trailing whitespace, so that ``"".join(spans) == text`` (for chunkers)."""
    import sentencex

    spans: list[str] = []
    for span in sentencex.segment("en", text):
        if spans and _CONTINUES.search(spans[-1]):
            spans[-1] += span
        else:
            spans.append(span)
    return spans


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in sentence_spans(text) if s.strip())


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order, stripped; "" gives []. Cached: abstracts are split repeatedly."""
    return list(_split(" ".join(text.split())))


# -- questions, as every door takes them (CLI, UI, /chat, POST /api/ask, AnswerChain) ------------

MAX_QUESTION_CHARS = 2000  # MiniLM reads 256 tokens; 2,000 characters keep a pasted paragraph whole


def clean_question(text: str, limit: int | None = MAX_QUESTION_CHARS) -> tuple[str, str]:
    """``(question, note)``: terminal escape sequences and control and format characters (Unicode
    categories Cc, Cf, Cs, Co, e.g. NUL, zero-width and bidi overrides) removed, whitespace
    collapsed to single spaces, and a question longer than ``limit`` characters (None: no limit)
    cut at the last word boundary before it, ``note`` saying so ("" otherwise). Raises
    ``EmptyQuestion`` when nothing is left."""
    import unicodedata

    from assistant.errors import EmptyQuestion

    text = _ANSI.sub(" ", str(text))  # a terminal escape goes whole, not just its ESC
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
    )
    question = " ".join(kept.split())
    if not question:
        raise EmptyQuestion("the question is empty: ask something about the indexed papers")
    note = ""
    if limit is not None and len(question) > limit:
        cut = question[: limit + 1].rsplit(" ", 1)[0] if " " in question[: limit + 1] else question[:limit]
        question = cut[:limit].rstrip()
        note = f"The question was cut to its first {len(question):,} characters (at most {limit:,} are read)."
    return question, note


_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")  # ECMA-48 CSI, OSC, Fe


def title_key(title: str) -> str:
    """Case-, accent- and punctuation-insensitive key that keeps every script's letters and digits:
    ``"Graphs & Networks"`` -> ``"graphs networks"``, ``"Schrödinger"`` -> ``"schrodinger"``,
    ``"Μάθηση χωρίς επίβλεψη"`` -> ``"μαθηση χωρις επιβλεψη"`` (NFKD, combining marks dropped, casefold)."""
    decomposed = unicodedata.normalize("NFKD", title)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    folded = unicodedata.normalize("NFKC", stripped).casefold()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in folded)
    return " ".join(kept.split())
