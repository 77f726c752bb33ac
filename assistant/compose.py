"""Compose answers that answer: one line per paper for "which papers" / "how many" / "papers by X",
the closest papers when coverage is uncertain, and the filter that keeps model prose to sentences
that add something.

Every line quotes one abstract sentence, cited to its paper and scored for support like any other
answer sentence; a paper's sentence is the one most relevant to the question (``Evidence.candidates``
ranks every sentence by embedding similarity plus word overlap), so a line answers rather than
restates the paper's background.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from assistant.evidence import short_name
from assistant.extract import clean, cue, rank, third_person, unescape_latex
from assistant.result import render
from assistant.text import content_words, split_sentences, words
from assistant.verify import AnswerSentence, evidence_text

if TYPE_CHECKING:
    from assistant.evidence import Evidence
    from assistant.query import Query
    from assistant.result import Answer
    from assistant.support import SupportScorer

CLOSEST_LEAD = "The collection may not answer exactly this question. The closest papers:"
DISPLAY_TITLE = 300  # characters of a title shown in a line (stored whole)
RELEVANT_MARGIN = 0.15  # a paper is listed when its best sentence is within this of the best paper's


def display_title(title: str, limit: int = DISPLAY_TITLE) -> str:
    """A title as shown: cut at a word boundary with "…" when longer than ``limit`` characters."""
    if len(title) <= limit:
        return title
    return title[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def best_sentence(ev: Evidence) -> str:
    """The paper's sentence that best answers the question: ``extract.rank``'s first (relevance,
    a contribution or result sentence preferred among near ties, never a code-availability notice)."""
    ranked = rank(ev)
    return ranked[0] if ranked else ""


# words of a "which papers" question that say what is asked, not what about
GENERIC = frozenset(
    content_words("use using used paper papers work works study studies propose method methods approach")
)


def relevant(evidence: list[Evidence], margin: float = RELEVANT_MARGIN, topic: tuple[str, ...] = ()) -> list[Evidence]:
    """The papers worth listing: those whose best sentence is within ``margin`` of the best paper's,
    and those whose title or abstract holds every topic word of the question (stemmed content words
    less :data:`GENERIC`): a paper about speculative decoding counts for "how many papers are about
    speculative decoding" wherever the ranking put it."""
    if not evidence:
        return []
    top = max(ev.best for ev in evidence)
    words = set(topic) - GENERIC
    out = []
    for ev in evidence:
        holds = bool(words) and words <= set(content_words(f"{ev.source.title} {ev.source.abstract}"))
        if ev.best >= top - margin or holds:
            out.append(ev)
    return out


def without_negated(evidence: list[Evidence], negated: tuple[str, ...]) -> list[Evidence]:
    """Papers whose title and abstract mention none of the negated terms ("do NOT use transformers")."""
    # by prefix on the lower-cased text: "Lean" excludes "LEAN4", "Lean4" and "LeanDojo" too
    terms = [" ".join(t.lower().split()) for t in negated if t.strip()]
    out = []
    for ev in evidence:
        text = " ".join(f"{ev.source.title} {ev.source.abstract}".lower().split())
        if not any(_uses(text, term) for term in terms):
            out.append(ev)
    return out


# "without a rehearsal buffer", "no need for replay", "does not require a buffer": the paper does not use it
_NEGATOR = re.compile(
    r"\b(?:without|no|not|never|nor|free (?:of|from)|eliminat\w*|avoid\w*|remov\w*|dispens\w* with|instead of)"
    r"\b(?:\s+\S+){0,3}\s*$"
)


def _uses(text: str, term: str) -> bool:
    """Does lower-cased ``text`` say the paper uses ``term`` (matched by prefix)? A mention preceded within
    four words by a negator, followed by "-free" ("rehearsal-free"), or in a sentence about other work
    ("Top-performing methods usually require a rehearsal buffer": :func:`assistant.extract.cue`) does not count."""
    pattern = re.compile(rf"(?<!\w){re.escape(term.rstrip('s'))}[\w-]*")
    clauses = [c for sentence in split_sentences(text) or [text] for c in _CLAUSE.split(sentence)]
    for clause in clauses:
        for found in pattern.finditer(clause):
            before = clause[max(0, found.start() - 60) : found.start()]
            if found.group(0).endswith("-free") or _NEGATOR.search(before) or cue(clause.strip()) < 0:
                continue
            return True
    return False


# "Typical methods rely on a buffer, while this work …": the contrast splits what others do from what it does
_CLAUSE = re.compile(r",\s*(?:while|whereas|but|unlike)\b|;\s*")


def paper_lines(evidence: list[Evidence], question: Query, scorer: SupportScorer) -> list[AnswerSentence]:
    """One line per paper: "Name — the sentence that answers [n]." (cited and scored; ``lead`` holds
    the name, which each medium renders its own way: bold in Markdown)."""
    lines = []
    for ev in evidence:
        text = best_sentence(ev)
        if not text:
            continue
        prose = third_person(clean(text))
        support = scorer.score(prose, [unescape_latex(evidence_text(ev.source.title, ev.source.abstract))])
        name = short_name(ev.source.title) or display_title(ev.source.title, 120)
        lines.append(AnswerSentence(prose, [ev.source.n], support, False, "extracted", lead=name))
    return lines


def count_lead(n: int, query: Query, matching: int | None = None) -> str:
    """The count for a "how many papers" question: the papers of the whole collection holding every
    topic word (``matching``) when known, and how many of the most relevant are listed."""
    noun = "paper" if n == 1 else "papers"
    if matching is None:
        return f"{n} retrieved {noun} match this question (those whose evidence is relevant; more may exist):"
    stems = set(query.topic_words) - GENERIC
    shown = [w for w in dict.fromkeys(words(query.core)) if content_words(w) and content_words(w)[0] in stems]
    said = ", ".join(repr(w) for w in shown) or ", ".join(repr(w) for w in sorted(stems))
    many = "paper" if matching == 1 else "papers"
    return (
        f"{matching} {many} in the collection mention {said} in the title or abstract; "
        f"the {n} most relevant to the question:"
    )


def superlative_note() -> str:
    return (
        "The abstracts report their own figures on their own benchmarks; they are listed here, not ranked "
        "against each other, since no abstract compares them on one scale."
    )


# -- prose that answers ------------------------------------------------------------------------

_GLUED_TITLE = re.compile(r"^\*\*[^*]{3,300}\*\*\s*[:\-–—]?\s*")
_MARKUP = re.compile(r"\*\*|__|^#+\s*|^\s*[-*•]\s+|`")
_FIRST_PERSON = re.compile(r"\b(?:we|our|us)\b", re.I)
_FRAGMENT_START = re.compile(r"^(?:cites?|see|and|or|but|which|that|for a|e\.g\.|i\.e\.)\b", re.I)
_VERB_HINT = re.compile(
    r"\b(?:is|are|was|were|be|been|has|have|had|can|could|may|might|will|would|should|does|do|did)\b|\w+(?:es|ed|s)\b"
)


def tidy(text: str, titles: list[str]) -> str:
    """A model sentence without markup copied from the prompt (``**Title**:``, bullets, backticks) and
    without a paper title glued onto its start; "we/our" rewritten to "the authors/their"."""
    out = _GLUED_TITLE.sub("", text.strip())
    for title in sorted(titles, key=len, reverse=True):
        if title and out.startswith(title) and len(out) > len(title) + 3:
            rest = out[len(title) :].lstrip(" :-–—")
            if rest[:1].isupper():
                out = rest
    out = unescape_latex(_MARKUP.sub("", out).strip())
    if _FIRST_PERSON.search(out):
        out = third_person(out)
    return out


# words that carry no finding of their own: a sentence whose only new words are these restates
_NO_CONTENT = frozenset(
    content_words(
        "also paper papers work study method methods approach approaches model models propose proposes proposed "
        "present presents introduce introduces use uses used using provide provides providing way ways better "
        "accurate efficient effective new novel several various different"
    )
)


def adds_nothing(text: str, question: str, title: str = "") -> bool:
    """A sentence that only restates the question and the cited title: every content word it has is
    the question's, the title's, or one that carries no finding ("… by providing a more accurate and
    efficient way to generate code [1]" to a question about generating code). A figure counts as a
    finding ("It reduces blade loads by 12% [1]"). Whether its new words are *true* is the support
    check's job, not this one's."""
    own = set(content_words(text))
    given = set(content_words(question)) | set(content_words(title)) | _NO_CONTENT
    return not (own - given)


def is_fragment(text: str) -> bool:
    """Not a sentence: too short, starting as a continuation ("cites for …"), or with no verb."""
    body = re.sub(r"\s*(?:\[\d+\])+\s*", " ", text).strip()
    if len(body.split()) < 4 or _FRAGMENT_START.match(body) or body[:1].islower():
        return True
    return not _VERB_HINT.search(body)


def closest_answer(result: Answer, query: Query, evidence: list[Evidence], scorer: SupportScorer) -> str:
    """Coverage uncertain: say so and show the 1–3 closest papers, each with its sentence most
    relevant to the question (cited and checked like any answer sentence)."""
    lines = paper_lines(relevant(evidence)[:3], query, scorer)
    result.sentences, result.preamble = lines, CLOSEST_LEAD
    result.answer = "\n".join([CLOSEST_LEAD, *(render(s) for s in lines)])
    result.mode = "closest"
    return result.answer


def list_answer(
    result: Answer, query: Query, evidence: list[Evidence], scorer: SupportScorer, matching: int | None = None
) -> str:
    """ "Which papers …", "how many papers …", "papers by X", "… do NOT use …": one line per paper."""
    head: list[str] = []
    topic = query.topic_words
    papers = evidence if query.authors else relevant(evidence, topic=topic)
    if query.negated:
        kept = without_negated(evidence, query.negated)
        left = len([ev for ev in papers if ev not in kept])
        terms = ", ".join(repr(t) for t in query.negated)
        if not set(topic) - GENERIC:
            head.append(
                f"A search cannot list papers by what they do not do ({terms}) without a topic to search: "
                'ask for a topic as well, for example "Which diffusion papers do not use transformers?"'
            )
            result.coverage, result.abstained = "closest", True
            if result.decision is not None:  # one outcome everywhere: ``abstention.coverage`` says it too
                why = "the question names only what papers do not do, with no topic to search"
                result.decision = replace(result.decision, coverage="closest", reason=why)
        else:
            head.append(
                f"Papers that mention {terms} were left out ({left} of the relevant ones), as the question asks:"
            )
        # the relevant papers that do not mention it (the rest of the collection is not about the topic)
        papers = [ev for ev in papers if ev in kept] if set(topic) - GENERIC else []
    if query.has("count"):
        head.insert(0, count_lead(len(papers), query, matching))
    if query.has("superlative"):
        head.append(superlative_note())
    lines = paper_lines(papers, query, scorer)
    result.sentences, result.preamble = lines, " ".join(head)
    if not lines:
        result.answer = " ".join([*head, "No retrieved paper fits."]).strip()
    else:
        result.answer = "\n".join([*head, *(render(s) for s in lines)])
    if result.mode in ("auto", "extract"):
        result.mode = "extract"
    return result.answer


__all__ = [
    "CLOSEST_LEAD",
    "DISPLAY_TITLE",
    "adds_nothing",
    "best_sentence",
    "closest_answer",
    "count_lead",
    "display_title",
    "is_fragment",
    "list_answer",
    "paper_lines",
    "relevant",
    "superlative_note",
    "tidy",
    "without_negated",
]
