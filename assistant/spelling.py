"""Spelling: a typed word the collection never uses, read as the neighbour one slip away that it uses.

Researchers type fast ("speculativ decodng", "contiual learning with promts"). A word that no indexed
chunk contains weighs most in the lexical coverage signal (``assistant.abstain``), so one typo could
turn a question whose paper ranks first into a refusal. Here each such word is compared with the
strings one typing slip away (:func:`edits1`, after Norvig, "How to Write a Spelling Corrector", 2007)
and read as the candidate whose BM25 term (stem) the most chunks hold. Only lower-case words of at
least :data:`MIN_LENGTH` letters are read this way: a capitalised word or an acronym is a name ("Coq",
"GPTQ"), and a name the collection lacks must stay missing. Nor is a word of English's common
vocabulary (a whole word of the MiniLM word-piece vocabulary that ships in
``assistant/models/tokenizer.json``): "bread" the collection lacks is not a typo of "broad".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache

from assistant.crossencoder import MODELS_DIR, TOKENIZER
from assistant.text import STOPWORDS, bm25_stopwords, stemmer

MIN_LENGTH = 5  # shorter words have too many one-edit neighbours that are words of their own
MIN_CHUNKS = 2  # a candidate's term must be in at least this many chunks (not a typo of the corpus)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_INFLECTIONS = ("est", "ers", "er", "es", "s", "ed", "ing", "ly")
_WORD = re.compile(r"(?<![\w-])[a-z]+(?![\w-])")


def edits1(word: str) -> set[str]:
    """The strings one slip of typing away from ``word``: a letter left out (an insertion puts it back),
    two letters swapped, or a letter doubled (a deletion undoes it). A replaced letter is not tried: it
    turned absent words into other words ("struct" into "strict", "federated" into "fewerated")."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    undoubled = [a + b[1:] for a, b in splits if b and a[-1:] == b[0]]
    transposes = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    inserts = [a + c + b for a, b in splits for c in _LETTERS]
    return set(undoubled + transposes + inserts)


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """The whole lower-case words of the shipped word-piece vocabulary (about 22,000; empty if absent)."""
    try:
        vocab = json.loads((MODELS_DIR / TOKENIZER[0]).read_text(encoding="utf-8"))["model"]["vocab"]
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()
    return frozenset(w for w in vocab if w.isalpha() and w.islower())


def american(word: str) -> set[str]:
    """The US spellings of a British one ("quantisation" -> "quantization", "behaviour" -> "behavior")."""
    out = {re.sub(r"is(ation|e|ed|es|ing|er|ers)$", r"iz\1", word), re.sub(r"our(s|ed|ing)?$", r"or\1", word)}
    out.add(re.sub(r"yse(s|d)?$", r"yze\1", word))  # analyse -> analyze
    out.discard(word)
    return out


def corrections(
    text: str, chunks_with: Callable[[str], int], writes: Callable[[str], bool] | None = None
) -> dict[str, str]:
    """``{typed: corrected}`` for the words of ``text`` to read otherwise; ``chunks_with(term)`` is how
    many indexed chunks hold a BM25 term (a stemmed word), ``writes(word)`` whether a chunk holds the
    word as written (a candidate sharing only a stem, "logists" for "logits", is no word of the
    collection). Ties go to a common word, then the alphabetically first."""
    stem = stemmer().stemWord
    out: dict[str, str] = {}
    for word in dict.fromkeys(_WORD.findall(text)):
        if len(word) < MIN_LENGTH or word in STOPWORDS or word in common_words() or chunks_with(stem(word)) > 0:
            continue
        if any(word.endswith(end) and chunks_with(stem(word[: -len(end)])) > 0 for end in _INFLECTIONS):
            continue  # "quickest", "boosters": a form the stemmer keeps whole of a word the collection has
        scored = [(chunks_with(stem(c)), c) for c in sorted(edits1(word) | american(word)) if c not in bm25_stopwords()]
        # most chunks first; among one stem's spellings a common word ("models", not "modeles"); then a-z
        scored.sort(key=lambda p: (p[0], p[1] in common_words(), [-ord(ch) for ch in p[1]]), reverse=True)
        for count, candidate in scored[:3]:
            if count >= MIN_CHUNKS and (writes is None or writes(candidate)):
                out[word] = candidate
                break
    return out


def apply(text: str, fixes: dict[str, str]) -> str:
    """``text`` with each typed word (whole lower-case word) replaced by its correction."""
    if not fixes:
        return text
    return _WORD.sub(lambda m: fixes.get(m.group(0), m.group(0)), text)


__all__ = ["MIN_CHUNKS", "MIN_LENGTH", "american", "apply", "common_words", "corrections", "edits1"]
