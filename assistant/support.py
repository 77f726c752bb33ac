"""A heuristic, offline support scorer: does this source text back this sentence?

No NLI or cross-encoder model ships in any package we could find, so this combines what does ship
(the packaged sentence embedding) with lexical checks that catch what embeddings miss:

- similarity: cosine between the sentence and its best-matching evidence sentence (or pair);
- coverage: share of the sentence's content words (stemmed) found in the evidence;
- numbers: every number in the sentence must occur in the evidence;
- figures: a number with a unit ("40 mm per year", "12%", "3-fold") must be the evidence's figure for
  that kind of quantity, units converted ("4 mm" for "0.4 cm"): "40 mm per year" or "0.4 cm per year"
  against "0.4 mm per year" is a different figure even when "40" occurs elsewhere (``assistant.quantities``);
- names: acronyms / capitalised names / CamelCase terms in the sentence must occur in the evidence;
- negation: a negation present on one side only, around the matching sentence, is a contradiction;
- overclaim: universal words ("all", "always", "state of the art", ...) absent from the evidence.

It is reported as a heuristic everywhere; its accuracy on hand-labelled pairs is in the README
(`evals scorer`). The answer chain and the eval harness use the same scorer.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assistant.quantities import check_figures
from assistant.text import STOPWORDS, content_words, split_sentences

if TYPE_CHECKING:
    import numpy as np

_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s*(%|x|×|k|K|M|B)?")
_NEGATION = re.compile(
    r"\b(not|no|never|neither|nor|cannot|can't|fails? to|failed to|without|unable|lack|lacks|none|hardly)\b"
    r"|n't\b",
    re.I,
)
_OVERCLAIM = re.compile(
    r"\b(all|every|always|any|entirely|completely|fully|guarantees?|universally|state[- ]of[- ]the[- ]art|"
    r"best|first|only|outperforms all|solves?|eliminates?)\b",
    re.I,
)
_REVERSAL = [
    ("increase", "decrease"),
    ("improve", "degrade"),
    ("improve", "worsen"),
    ("higher", "lower"),
    ("more", "less"),
    ("faster", "slower"),
    ("better", "worse"),
    ("reduce", "increase"),
    ("outperform", "underperform"),
    ("larger", "smaller"),
    ("gain", "loss"),
]


class Encoder(Protocol):
    def encode(self, text: str) -> np.ndarray: ...


def numbers(text: str) -> set[str]:
    found = set()
    for value, _unit in _NUMBER.findall(text):
        value = value.replace(",", "")
        if value in {"1", "2", "0"}:  # small counts are too often spelled out or implicit
            continue
        found.add(value.rstrip("0").rstrip(".") if "." in value else value)
    return found


def names(text: str) -> set[str]:
    """Distinctive names: acronyms (DPO, GPT-4), CamelCase (HumanEval), mid-sentence Capitalised."""
    tokens = re.findall(r"[A-Za-z][A-Za-z0-9\-]*", text)
    found = set()
    for i, tok in enumerate(tokens):
        core = tok.strip("-")
        if len(core) < 2:
            continue
        is_acronym = sum(c.isupper() for c in core) >= 2
        is_camel = bool(re.search(r"[a-z][A-Z]", core))
        is_capital_mid = i > 0 and core[0].isupper() and core.lower() not in STOPWORDS
        if is_acronym or is_camel or (is_capital_mid and len(core) > 3):
            found.add(core.lower())
    return found


@dataclass(frozen=True)
class Judgement:
    score: float
    similarity: float
    coverage: float
    best_evidence: str
    reasons: tuple[str, ...]


class SupportScorer:
    """Score in [0, 1]; ``score >= threshold`` counts as supported. Named a heuristic wherever shown."""

    name = "heuristic (embedding similarity + lexical checks)"

    def __init__(self, encoder: Encoder, threshold: float = 0.65) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self._cache: dict[str, np.ndarray] = {}

    def score(self, sentence: str, evidence: list[str]) -> float:
        return self.judge(sentence, evidence).score

    def supported(self, sentence: str, evidence: list[str]) -> bool:
        return self.score(sentence, evidence) >= self.threshold

    def judge(self, sentence: str, evidence: list[str]) -> Judgement:
        import numpy as np

        units = [s for text in evidence for s in split_sentences(text)]
        if not sentence.strip() or not units:
            return Judgement(0.0, 0.0, 0.0, "", ("no evidence",))
        whole = " ".join(evidence)
        candidates = units + [f"{a} {b}" for a, b in itertools.pairwise(units)]
        query = self._embed(sentence)
        sims = np.array([float(query @ self._embed(c)) for c in candidates])
        best = int(sims.argmax())
        similarity = float(sims[best])
        best_text = candidates[best]

        words = content_words(sentence)
        pool = set(content_words(whole))
        coverage = sum(w in pool for w in words) / len(words) if words else 0.0

        reasons: list[str] = []
        penalty = 1.0
        figures = check_figures(sentence, whole)
        missing_numbers = numbers(sentence) - numbers(whole) - numbers(" ".join(figures.agreeing))
        if missing_numbers:
            reasons.append(f"numbers not in source: {sorted(missing_numbers)}")
            penalty *= 0.3
        if figures.conflicts:
            reasons.extend(figures.conflicts)
            penalty *= 0.3
        flat_whole = _flat(whole)
        missing_names = {n for n in names(sentence) if _flat(n) not in flat_whole}
        if missing_names:
            reasons.append(f"names not in source: {sorted(missing_names)}")
            penalty *= 0.45 if len(missing_names) == 1 else 0.3
        added_negation = {m.lower() for m in _negations(sentence)} - {m.lower() for m in _negations(whole)}
        dropped_negation = _negations(best_text) and not _negations(sentence) and similarity > 0.6
        if added_negation or dropped_negation:
            reasons.append("negation differs from the source")
            penalty *= 0.45
        if _order_swapped(sentence, best_text):
            reasons.append("numbers appear in another order than in the source")
            penalty *= 0.4
        if _reversed(sentence, best_text):
            reasons.append("direction reversed (e.g. increase vs decrease)")
            penalty *= 0.45
        claims = {m.lower() for m in _OVERCLAIM.findall(sentence)} - {m.lower() for m in _OVERCLAIM.findall(whole)}
        if claims:
            reasons.append(f"claims not in source: {sorted(claims)}")
            penalty *= 0.6

        base = 0.55 * _squash(similarity, 0.35, 0.85) + 0.45 * coverage
        return Judgement(round(base * penalty, 4), similarity, coverage, best_text, tuple(reasons))

    def _embed(self, text: str) -> np.ndarray:
        vector = self._cache.get(text)
        if vector is None:
            vector = self.encoder.encode(text)
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[text] = vector
        return vector


def _flat(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _negations(text: str) -> list[str]:
    return [m.group(0) for m in _NEGATION.finditer(text)]


def _order_swapped(sentence: str, source: str) -> bool:
    """Two numbers both in the matching source sentence but in the opposite order: a swap."""
    mine = [n for n, _ in _NUMBER.findall(sentence)]
    theirs = [n for n, _ in _NUMBER.findall(source)]
    shared = [n for n in dict.fromkeys(mine) if n in theirs and n not in {"0", "1", "2"}]
    positions = [theirs.index(n) for n in shared]
    return any(a > b for a, b in itertools.pairwise(positions))


def _squash(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


def _reversed(sentence: str, source: str) -> bool:
    s, src = sentence.lower(), source.lower()
    return any((a in s and b in src and a not in src) or (b in s and a in src and b not in src) for a, b in _REVERSAL)
