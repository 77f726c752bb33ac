"""Decide abstention: does the collection cover the question well enough to answer at all?

Decided from retrieval, never by the language model (small models answer off-topic sources
confidently). Several signals, each cheap and taken from retrieval (:class:`Signals`):

- ``dense``: cosine similarity of the best chunk; ``sentence``: of the best abstract sentence;
- ``lexical``: IDF-weighted share of the question's content terms found in the title or abstract of
  one of the top papers (a distinctive name or acronym weighs most);
- ``bm25``: the best BM25 score divided by the summed IDF of the question's known terms;
- ``agree``: 1 when dense and BM25 rank the same paper first.

A term no indexed chunk contains ("sourdough") counts in ``lexical`` at the highest IDF and is named
in the reason; as a signal of its own it measured worse (paraphrases use words a collection lacks).

A logistic model over the standardised signals turns them into a calibrated score, the estimated
probability that the question is answerable from this collection. It is fitted per collection at
ingest, without labels (``assistant.calibrate``: pseudo-questions asked with their paper present
and masked), and stored with the index. The question is refused below the threshold that refuses
``abstention.target_refused`` of the answerable pseudo-questions. Without a stored calibration
(an index too small to calibrate, or built before calibration) :data:`DEFAULT_CALIBRATION` applies.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.dates import strip_dates
from assistant.errors import IndexError_
from assistant.evidence import named_papers, short_name
from assistant.text import content_words, stemmer, words

if TYPE_CHECKING:
    from assistant.evidence import Evidence
    from assistant.query import Query
    from assistant.retrieve import Retrieval
    from assistant.store import PaperIndex

FEATURES = ("dense", "sentence", "lexical", "bm25", "agree")
CALIBRATION_FILE = "calibration.json"
# chosen on realistic dev and the old dev split: no answerable question below it, every off-topic one
DEFAULT_TARGET_NONE = 0.02
# A question whose best chunk is less similar than nearly every answerable pseudo-question's is about
# nothing here, however many of its few words a paper shares ("best lasagna recipe": 0.20, "What is the
# capital of France?": 0.13, where a lexical match to "recipe" or "capital" lifted the score to "closest").
# On the bundled corpus the 0.5% quantile is 0.23; the lowest answerable dev question (realistic or old) is at 0.44.
DENSE_FLOOR_QUANTILE = 0.005
# And the other way: a question whose best chunk is as similar as a quarter of the answerable
# pseudo-questions' has something close in the collection, so it is never "none" (at worst "closest"):
# a typo, a pasted URL or chatty words sank the lexical signal of questions whose paper ranked first
# ("contiual learning with promts": 0.47). 0.41 on the bundled corpus; off-topic dev questions reach 0.31.
CLOSEST_DENSE_QUANTILE = 0.25


@dataclass(frozen=True)
class Signals:
    """Evidence that the collection covers a question; all in [0, 1] except ``bm25`` (~[0, 2])."""

    dense: float
    sentence: float
    lexical: float
    bm25: float
    agree: float
    rare_terms_missing: tuple[str, ...] = ()  # the question's terms no indexed paper contains

    def vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in FEATURES]

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in FEATURES}


def signals(
    question: str, retrieval: Retrieval, index: PaperIndex, papers: int = 3, exclude: Collection[str] = ()
) -> Signals:
    """The signals for one retrieval (``papers``: how many top papers the lexical check reads;
    ``exclude``: papers the retrieval treated as absent, so their terms count as unseen too)."""
    lists = retrieval.lists
    dense_best = lists.get("dense", {})
    bm25_best = lists.get("bm25", {})
    sentence_best = lists.get("sentence", {})
    dense = max(dense_best.values(), default=retrieval.top_similarity)
    sentence = max(sentence_best.values(), default=dense)
    wanted = set(content_words(question))
    idf = [(t, w) for t, w in index.term_idf(question, exclude) if t in wanted]
    total_docs = max(index.paper_count, 1)
    ceiling = math.log(1 + (total_docs + 0.5) / 0.5)  # what a term no chunk contains would weigh
    mass = sum(w if w is not None else ceiling for _, w in idf) or 1.0
    missing_stems = {t for t, w in idf if w is None}
    missing = tuple(dict.fromkeys(w for w in words(question) if missing_stems and stem(w) in missing_stems))
    lexical = 0.0
    for source in retrieval.sources[:papers]:
        terms = set(content_words(f"{source.title} {source.abstract}"))
        covered = sum((w if w is not None else ceiling) for t, w in idf if t in terms) / mass
        lexical = max(lexical, covered)
    known = sum(w for _, w in idf if w is not None)
    bm25 = max(bm25_best.values(), default=0.0) / known if known else 0.0
    agree = 0.0
    if dense_best and bm25_best:
        top_dense = max(dense_best, key=lambda p: dense_best[p])
        top_bm25 = max(bm25_best, key=lambda p: bm25_best[p])
        agree = float(top_dense == top_bm25)
    return Signals(dense, sentence, lexical, bm25, agree, missing)


def stem(word: str) -> str:
    return str(stemmer().stemWord(word))


@dataclass
class Calibration:
    """A fitted decision: ``score = sigmoid(coef · (signals - mean) / scale + intercept)``;
    refuse below ``threshold``. ``fitted_on`` says what it was fitted on; ``estimates`` the
    cross-validated rates on the pseudo-questions (``refused_answerable``, ``answered_near_miss``)."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float
    target_refused: float
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    fitted_on: dict[str, Any] = field(default_factory=dict)
    estimates: dict[str, float] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)  # answerable pseudo-questions' scores, sorted
    floor: float | None = None  # the fitted floor: the ``target_none`` quantile of all their scores
    target_none: float = DEFAULT_TARGET_NONE
    # below this best-chunk cosine similarity the question is "none" whatever the score: the
    # :data:`DENSE_FLOOR_QUANTILE` of the answerable pseudo-questions' (None: fitted before it existed)
    dense_floor: float | None = None
    # at or above this best-chunk similarity a question is at least "closest", never "none": the
    # :data:`CLOSEST_DENSE_QUANTILE` of the answerable pseudo-questions' (None: fitted before it existed)
    closest_dense: float | None = None

    def score(self, s: Signals) -> float:
        z = self.intercept
        for x, m, sd, w in zip(s.vector(), self.mean, self.scale, self.coef, strict=True):
            z += w * (x - m) / (sd or 1.0)
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def threshold_for(self, target_refused: float | None) -> float:
        """The threshold refusing ``target_refused`` of the answerable pseudo-questions (the fitted
        one when None or equal to the fitted target)."""
        if target_refused is None or not self.scores or target_refused == self.target_refused:
            return self.threshold
        import numpy as np

        return float(np.quantile(self.scores, target_refused))  # linear interpolation

    def floor_for(self, target_none: float | None) -> float:
        """The score below which a question is "not covered": the ``target_none`` quantile of the
        answerable pseudo-questions' scores (:data:`DEFAULT_TARGET_NONE` when None)."""
        import numpy as np

        if self.floor is not None and (target_none is None or target_none == self.target_none):
            return self.floor
        if not self.scores:
            return 0.0
        return float(np.quantile(self.scores, DEFAULT_TARGET_NONE if target_none is None else target_none))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Fitted by ``assistant.calibrate`` on the bundled corpus with the default settings (502 papers,
# 300 sampled, seed 0, target_refused 0.08, target_none 0.02; pseudo-questions in five forms) and no labels:
# `ingest data --recalibrate`, then .papers/calibration.json. Used only for an index without a
# calibration of its own (fewer than 30 papers, or calibration off). ``scores`` keeps every 5th
# percentile of the answerable pseudo-questions' scores, so ``abstention.target_refused`` and
# ``target_none`` still move the threshold and the floor.
DEFAULT_CALIBRATION = Calibration(
    mean=[0.4767, 0.0, 0.6354, 0.0, 0.2717],
    scale=[0.118, 1.0, 0.265, 1.0, 0.4448],
    coef=[0.0619, 0.0, 1.8334, 0.0, 0.6205],
    intercept=-0.0035,
    threshold=0.3037,
    target_refused=0.08,
    fitted_on={"collection": "bundled corpus (data/)", "papers": 502, "pseudo_questions": 600},
    estimates={"refused_answerable": 0.08, "answered_near_miss": 0.2767},
    floor=0.1164,
    target_none=0.02,
    dense_floor=0.23,
    closest_dense=0.415,
    scores=[
        *(0.036, 0.2096, 0.3713, 0.4664, 0.5835, 0.6516, 0.7011, 0.7413, 0.7843, 0.8243, 0.8768),
        *(0.8872, 0.8914, 0.8947, 0.8989, 0.9133, 0.9287, 0.9505, 0.9706, 0.9737, 0.9776),
    ],
)


def load_calibration(index_dir: Path) -> Calibration | None:
    """The calibration stored with an index, or None when there is none (an IndexError_ if damaged)."""
    path = index_dir / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibration = Calibration(**data)
        if calibration.features != list(FEATURES):
            return None  # fitted on other signals (an older version): treated as uncalibrated
        if not isinstance(calibration.fitted_on, dict) or not isinstance(calibration.estimates, dict):
            raise ValueError("fitted_on and estimates must be objects")
        vectors = (calibration.mean, calibration.scale, calibration.coef)
        numbers = [*calibration.mean, *calibration.scale, *calibration.coef, calibration.intercept]
        numbers += [calibration.threshold, *calibration.scores, calibration.target_none]
        numbers += [calibration.floor] if calibration.floor is not None else []
        numbers += [v for v in (calibration.dense_floor, calibration.closest_dense) if v is not None]
        if any(len(v) != len(FEATURES) for v in vectors) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in numbers
        ):
            raise ValueError("its numbers do not have the shape of a fitted decision")
        return calibration
    except (OSError, ValueError, TypeError) as exc:
        raise IndexError_(f"{path} is damaged ({exc}): run `ingest --recalibrate` to fit it again") from exc


COVERAGE = ("answered", "closest", "none")


@dataclass(frozen=True)
class Decision:
    """The coverage decision. ``coverage``: "answered" (score at or above ``threshold``), "closest"
    (between ``floor`` and ``threshold``: the collection may not answer exactly this, so the closest
    papers are shown as such) or "none" (below ``floor``: nothing close enough to show);
    ``relevance``: the calibrated score in [0, 1] (estimated probability that the collection answers
    the question); ``reason``: one line for the user."""

    coverage: str
    relevance: float
    threshold: float
    reason: str
    signals: dict[str, float] = field(default_factory=dict)
    calibrated: bool = True  # False: the built-in default decision (this index has no calibration)
    floor: float = 0.0
    text: str = ""  # a "none" whose cause is not closeness says it in the answer ("" = the usual refusal)

    @property
    def abstain(self) -> bool:
        """Not answered outright (``closest`` or ``none``)."""
        return self.coverage != "answered"

    def as_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "abstained": self.abstain,
            "score": round(self.relevance, 4),
            "threshold": round(self.threshold, 4),
            "floor": round(self.floor, 4),
            "reason": self.reason,
            "signals": self.signals,
            "calibrated": self.calibrated,
        }


def decide(
    s: Signals | None,
    calibration: Calibration | None,
    target_refused: float | None = None,
    target_none: float | None = None,
) -> Decision:
    """Answered at or above the threshold, closest between the floor and the threshold, none below
    the floor or when nothing was retrieved (``target_none``: the share of answerable pseudo-questions
    the floor may put in "none"; see :meth:`Calibration.threshold_for`)."""
    calibrated = calibration is not None
    model = calibration or DEFAULT_CALIBRATION
    threshold = model.threshold_for(target_refused)
    floor = min(model.floor_for(target_none), threshold)
    if s is None:
        return Decision("none", 0.0, threshold, "no paper was retrieved", {}, calibrated, floor)
    score = model.score(s)
    if model.dense_floor is not None and s.dense < model.dense_floor:
        reason = (
            f"nothing in the collection is about it: the best passage's similarity {s.dense:.2f} is below "
            f"{'this collection' if calibrated else 'the default'}'s floor {model.dense_floor:.2f}"
        )
        if s.rare_terms_missing:
            reason += "; no indexed paper contains " + ", ".join(repr(t) for t in s.rare_terms_missing[:3])
        return Decision("none", score, threshold, reason, s.as_dict(), calibrated, floor)
    if score >= threshold:
        return Decision("answered", score, threshold, "", s.as_dict(), calibrated, floor)
    why = [f"best sentence similarity {s.sentence:.2f}", f"{s.lexical:.0%} of the question's key terms in a top paper"]
    if s.rare_terms_missing:
        why.append("no indexed paper contains " + ", ".join(repr(t) for t in s.rare_terms_missing[:3]))
    whose = "this collection's threshold" if calibrated else "the default threshold"
    coverage = "closest" if score >= floor else "none"
    if coverage == "none" and model.closest_dense is not None and s.dense >= model.closest_dense:
        coverage = "closest"  # below the floor, but a passage is as close as for many answerable questions
    bound = f"below {whose} {threshold:.2f}"
    if coverage == "none":
        bound = f"below the floor {floor:.2f} under {whose} {threshold:.2f}"
    reason = f"coverage score {score:.2f} is {bound} ({'; '.join(why)})"
    if not calibrated:
        reason += "; no calibration of this collection is in use"
    return Decision(coverage, score, threshold, reason, s.as_dict(), calibrated, floor)


# -- the question's own word on coverage ------------------------------------------------------


def overrule(decision: Decision, query: Query, evidence: list[Evidence], authored: set[str] | None) -> Decision:
    """Cases where the question itself says the collection answers it, whatever the scores: a
    question that asks only for a date that matched, one naming retrieved papers by their short name,
    one asking for papers by an author the collection lists."""
    if not evidence:
        return decision
    if not decision.abstain:
        # the reverse: a paper matched by its name alone ("cold-process SOAP" and the optimiser SOAP)
        named = named_papers(query.english, evidence)
        if named and evidence[0] in named and not _about(query.english, evidence[0], named):
            name = short_name(evidence[0].source.title)
            why = f"the question names {name!r}, but its other words are not about that paper"
            return replace(decision, coverage="closest", reason=why)
        return decision
    if authored:
        names = " or ".join(query.authors)
        return replace(decision, coverage="answered", reason=f"papers by {names} are indexed")
    if query.dates and not _topic_beyond_date(query.english):
        # "Which papers were published on Sep 3?": the date is the whole question, and it matched
        return replace(decision, coverage="answered", reason="the question asks only for a date, which matched")
    if named := _named_about(query.english, evidence):
        # the question names a retrieved paper by the name its title gives ("Compare Happy and ProtoGCD")
        names = ", ".join(repr(short_name(ev.source.title)) for ev in named)
        return replace(decision, coverage="answered", reason=f"the question names indexed papers: {names}")
    if decision.coverage == "none" and (named := named_papers(query.english, evidence)):
        # "What BLEU score does SpecTr reach on WMT?": SpecTr is here, the rest of the question is not in it
        name = short_name(named[0].source.title)
        why = f"the question names {name!r}, which is indexed, but its other words are not in that paper"
        return replace(decision, coverage="closest", reason=why)
    return decision


def _named_about(question: str, evidence: list[Evidence]) -> list[Evidence]:
    named = named_papers(question, evidence)
    return [ev for ev in named if _about(question, ev, named)]


_COMPARING = frozenset(
    content_words("compare comparison better worse differ difference common similar versus vs relate")
)


def _about(question: str, ev: Evidence, named: list[Evidence]) -> bool:
    """Is a question that names this paper about it? Without the names of every paper it names
    and the words of a comparison, its content words are none ("What is Mirostat?", "Compare Happy
    and ProtoGCD") or at least half of them are in the paper's title or abstract ("… how does each
    handle bias?"); "Happy birthday: which song …?" is not about "Happy: …"."""
    rest = question
    for other in named:
        rest = re.sub(re.escape(short_name(other.source.title) or ""), " ", rest, flags=re.I)
    words = set(content_words(rest)) - _COMPARING
    if not words:
        return True
    found = words & set(content_words(f"{ev.source.title} {ev.source.abstract}"))
    return 2 * len(found) >= len(words)


_DATE_WORDS = frozenset(["publish", "appear", "releas", "date", "day", "month", "dated", "paper"])


def _topic_beyond_date(question: str) -> bool:
    """Does the question ask about a topic, beyond naming a date? (stemmed content words)"""
    without = strip_dates(question)
    return any(w not in _DATE_WORDS and not w.isdigit() for w in content_words(without))
