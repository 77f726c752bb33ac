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

It is reported as a heuristic everywhere; its accuracy on hand-labelled pairs is in
docs/evaluation.md (`evals scorer`). The answer chain and the eval harness use the same scorer.
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

    from assistant.settings import AnswerSettings

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
    """``score``: the support score in [0, 1] (learned × lexical when a model is used, else the
    heuristic); ``heuristic``: the heuristic's own score; ``learned``: the support cross-encoder's
    best probability over the evidence windows (None without a model); ``contradicted``: the
    evidence is on the sentence's topic and the model reads it as saying otherwise."""

    score: float
    similarity: float
    coverage: float
    best_evidence: str
    reasons: tuple[str, ...]
    heuristic: float = 0.0
    learned: float | None = None
    contradicted: bool = False


class Scorer(Protocol):
    def logits(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray: ...


def windows(evidence: str) -> list[str]:
    """The support model's evidence units for one paper's text ("title. abstract"): its first
    sentence (the title) followed by each run of up to three consecutive abstract sentences, as in
    training (``training.relevance_data.window``; MiniCheck scores chunks the same way)."""
    units = split_sentences(evidence)
    if len(units) <= 4:
        return [" ".join(units)] if units else []
    head, rest = units[0], units[1:]
    return [f"{head} " + " ".join(rest[i : i + 3]) for i in range(len(rest) - 2)]


# The learned score below which a sentence whose best evidence is on its topic (cosine >= ON_TOPIC) is
# read as contradicted, not merely unsupported. Chosen on the held-out SciFact claims fold and the
# held-out synthetic groups (docs/models.md), never on evals/support_pairs.jsonl.
CONTRADICTED = 0.1
ON_TOPIC = 0.6


class SupportScorer:
    """Score in [0, 1]; ``score >= threshold`` counts as supported.

    Without ``model`` the score is the heuristic (named so wherever shown). With the shipped support
    cross-encoder (``assistant.crossencoder``, trained here) it is the model's best probability over
    the evidence windows times the penalties of the lexical checks the model does not do better
    (numbers, figures with units, names); negation, reversal and overclaim are the model's to judge.
    """

    def __init__(self, encoder: Encoder, threshold: float = 0.65, model: Scorer | None = None) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self.model = model
        self._cache: dict[str, np.ndarray] = {}
        self._learned: dict[tuple[str, str], float] = {}

    @property
    def name(self) -> str:
        if self.model is None:
            return "heuristic (embedding similarity + lexical checks)"
        return "learned (support cross-encoder × number, figure and name checks)"

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
        lexical = penalty  # numbers, figures and names: what the learned model is not trusted with
        heuristic_only: list[str] = []
        added_negation = {m.lower() for m in _negations(sentence)} - {m.lower() for m in _negations(whole)}
        dropped_negation = _negations(best_text) and not _negations(sentence) and similarity > 0.6
        if added_negation or dropped_negation:
            heuristic_only.append("negation differs from the source")
            penalty *= 0.45
        if _order_swapped(sentence, best_text):
            heuristic_only.append("numbers appear in another order than in the source")
            penalty *= 0.4
        if _reversed(sentence, best_text):
            heuristic_only.append("direction reversed (e.g. increase vs decrease)")
            penalty *= 0.45
        claims = {m.lower() for m in _OVERCLAIM.findall(sentence)} - {m.lower() for m in _OVERCLAIM.findall(whole)}
        if claims:
            heuristic_only.append(f"claims not in source: {sorted(claims)}")
            penalty *= 0.6

        base = 0.55 * _squash(similarity, 0.35, 0.85) + 0.45 * coverage
        heuristic = round(base * penalty, 4)
        if self.model is None:
            return Judgement(heuristic, similarity, coverage, best_text, tuple(reasons + heuristic_only), heuristic)
        learned = self.learned(sentence, evidence)
        contradicted = learned < CONTRADICTED and similarity >= ON_TOPIC
        if contradicted:
            reasons.append(f"the cited paper says otherwise (learned support {learned:.2f})")
        elif learned < self.threshold:
            reasons.append(f"learned support {learned:.2f}")
        score = round(learned * lexical, 4)
        return Judgement(score, similarity, coverage, best_text, tuple(reasons), heuristic, learned, contradicted)

    def learned(self, sentence: str, evidence: list[str]) -> float:
        """The support model's best probability for ``sentence`` over the windows of ``evidence``."""
        import numpy as np

        assert self.model is not None
        pairs = [(sentence, w) for text in evidence for w in windows(text)]
        todo = [p for p in dict.fromkeys(pairs) if p not in self._learned]
        if todo:
            if len(self._learned) > 20000:
                self._learned.clear()
            logits = self.model.logits(todo)
            self._learned.update({p: float(1.0 / (1.0 + np.exp(-x))) for p, x in zip(todo, logits, strict=True)})
        return max((self._learned[p] for p in pairs), default=0.0)

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


def make_scorer(encoder: Encoder, settings: AnswerSettings) -> SupportScorer:
    """The support check ``settings.support`` names, at ``settings.support_threshold``; the learned
    one loads the shipped support cross-encoder (a ``ModelError`` if its file is missing or altered)."""
    model = None
    if settings.support == "learned":
        from assistant.crossencoder import CrossEncoder

        model = CrossEncoder.load("support")
    return SupportScorer(encoder, settings.support_threshold, model)
