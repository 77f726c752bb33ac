"""Turn a follow-up question into a standalone retrieval query, using the conversation so far.

Retrieval sees one query, not a chat: "which datasets do they use?" retrieves nothing useful on its
own. Two condensers:

- ``heuristic`` (the default): deterministic and instant. A question counts as a follow-up when it
  refers back (it/its/they/them/their, "this method", "the paper", "the authors", ...), opens like
  a continuation ("and", "what about", "how so", ...) or has almost no content words of its own.
  A follow-up gets the salient words of the previous standalone query prepended.
- ``llm``: the chat model rewrites the question (through ``assistant.llm``). Off by
  default: the tiny embedded model is slow at it and unmeasured; any failure or an implausible
  rewrite falls back to the heuristic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from assistant.errors import PapersError
from assistant.evidence import data_sentences
from assistant.prompt import sanitize
from assistant.text import STOPWORDS, TERM_PATTERN
from assistant.verify import strip_links

if TYPE_CHECKING:
    from assistant.settings import Settings

Method = Literal["heuristic", "llm"]
METHODS: tuple[Method, ...] = ("heuristic", "llm")


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what the user typed, the standalone query it became, the answer."""

    question: str
    query: str
    answer: str = ""


@dataclass(frozen=True)
class Condensed:
    question: str
    query: str
    method: str  # "none" (no history or standalone), "heuristic", "llm", "llm→heuristic" (fallback)
    reason: str = ""

    @property
    def rewritten(self) -> bool:
        return self.query != self.question


_NOUNS = (
    r"papers?|methods?|approach(?:es)?|models?|works?|techniques?|frameworks?|systems?|datasets?|"
    r"benchmarks?|results?|findings?|ideas?|studies|study|authors?|architectures?|algorithms?|tasks?|"
    r"ones?|setting|settings|problem|experiments?|evaluation|metric|metrics|losses?|objective"
)
_ANAPHORA = re.compile(
    r"\b(?:it|its|it's|they|them|their|theirs|itself|themselves)\b"
    rf"|\b(?:this|that|these|those|such|said)\s+(?:{_NOUNS})\b"
    r"|\b(?:this|that|these|those)\s*[?.!]?\s*$"
    r"|\bthe\s+(?:paper|papers|authors|same|former|latter|above|previous|first one|second one|last one)\b"
    r"|\b(?:the|this|that)\s+(?:first|second|third|last|other)\s+(?:one|paper|method)\b",
    re.I,
)
_OPENERS = re.compile(
    r"^\s*(?:and|also|but|so|then|what about|how about|why not|how so|how come|in what way|"
    r"tell me more|more on|more about|elaborate|explain more|go on|compared to what|which ones?|"
    r"any others?|what else|is that|are those|does that|do they)\b",
    re.I,
)
# "Is it possible to ...", "it is known that ...": a dummy "it" refers to nothing.
_DUMMY_IT = re.compile(
    r"\b(?:(?:is|was|isn't|wasn't|would|will)\s+it|it\s+(?:is|was|seems))\s+"
    r"(?:possible|true|feasible|necessary|known|worth|better|common|hard|easy|useful|enough|likely)\b",
    re.I,
)
_TOKEN = re.compile(TERM_PATTERN)  # assistant.text's surface terms (compounds kept whole)
# Words that carry no topic: question words and requests, on top of the shared stopword list.
_GENERIC = frozenset(
    """what which who whom whose how why when where does do did is are was were can could would should
    tell explain describe give list show summarize summarise about more else other others any kind
    kinds way ways example examples mean means meaning please me i my need want know find papers
    there any one ones thing things compare compared difference differ main key""".split()  # noqa: SIM905
)
MAX_SALIENT = 8


def content_terms(text: str) -> list[str]:
    """Topic words of ``text`` in order, surface forms kept, case-insensitively unique."""
    out: list[str] = []
    seen: set[str] = set()
    for token in _TOKEN.findall(text):
        low = token.lower()
        if low in STOPWORDS or low in _GENERIC or low in seen or (len(low) < 3 and not token.isupper()):
            continue
        seen.add(low)
        out.append(token)
    return out


# A name the question is about: an acronym or mixed-case word ("CHECK-MAT", "ProtoGCD", "GPT-4"),
# or any capitalised word after the first ("What is Mirostat?").
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w-]*\b|\b\w*[a-z][A-Z]\w*\b|\b[A-Z0-9]{2,}(?:-[\w]+)*\b")
_QUESTION_WORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "how",
        "why",
        "when",
        "where",
        "is",
        "are",
        "does",
        "do",
        "can",
        "could",
        "should",
        "would",
    ]
)


_DEFINITION = re.compile(r"^\s*(?:(?:what|who)\s+(?:is|are)|explain|define|describe|summari[sz]e)\b", re.I)
# what a follow-up asks about an earlier paper: "What are the limitations?" is not a definition question
_PARTS = frozenset(
    """limitation limitations dataset datasets data baseline baselines result results metric metrics
    code benchmark benchmarks experiment experiments contribution contributions drawback drawbacks
    advantage advantages difference differences performance accuracy cost size setup assumption
    assumptions finding findings conclusion conclusions weakness weaknesses strength strengths
    evaluation ablation ablations""".split()  # noqa: SIM905
)


def names(question: str) -> list[str]:
    """Names in the question: acronyms, mixed-case words and capitalised words after the first."""
    return [m.group(0) for m in _NAME.finditer(question.strip()) if m.group(0).lower() not in _QUESTION_WORDS]


def follow_up_reason(question: str) -> str:
    """Why ``question`` reads as a follow-up, or "" when it stands on its own.

    A pronoun refers back only when the question has not named its own subject before it ("How do
    LLM agents improve their planning?" stands alone: "their" is the agents); a bare "Why?" or
    "Why is that?" continues, but "Why do diffusion models need many steps?" does not; a short
    question that names something ("What is Mirostat?") stands alone.
    """
    match = _ANAPHORA.search(_DUMMY_IT.sub(" ", question))
    if match and len(content_terms(question[: match.start()])) < 2:
        return f"refers back ({match.group(0).strip()!r})"
    match = _OPENERS.search(question)
    if match:
        return f"continues the conversation ({match.group(0).strip()!r})"
    terms = content_terms(question)
    if re.match(r"^\s*why\b", question, re.I) and len(terms) < 2:
        return "continues the conversation ('why')"
    # a fragment ("the datasets?", "What are the limitations?", "How big?") leans on the chat; a
    # question asking what something is ("What is attention?", "Explain the transformer
    # architecture") does not, unless that something is a part of "the" earlier paper
    whole = _DEFINITION.match(question) and terms and not all(t.lower() in _PARTS for t in terms)
    if len(terms) <= 2 and not names(question) and not whole:
        return "too short to stand alone"
    return ""


def condense_heuristic(question: str, turns: Sequence[Turn]) -> Condensed:
    question = " ".join(question.split())
    if not turns:
        return Condensed(question, question, "none", "first question")
    reason = follow_up_reason(question)
    if not reason:
        return Condensed(question, question, "none", "stands alone")
    have = {t.lower() for t in content_terms(question)}
    previous = turns[-1].query or turns[-1].question
    salient = [t for t in content_terms(previous) if t.lower() not in have][:MAX_SALIENT]
    if not salient:
        return Condensed(question, question, "none", f"{reason}, but the previous query adds nothing")
    return Condensed(question, f"{' '.join(salient)}: {question}", "heuristic", reason)


CONDENSE_PROMPT = """Rewrite the user's last question as one standalone search query about research papers.
Use the earlier questions only to resolve what "it", "they", "this method" and similar words refer to.
If the last question already stands alone, repeat it unchanged.
Reply with the query only: one line, no explanation, no quotes."""


def build_condense_messages(question: str, turns: Sequence[Turn], keep: int = 3) -> list[dict[str, str]]:
    """The condenser's prompt. Earlier questions and answers are data, sanitised as evidence is
    (``assistant.prompt.sanitize``: chat-template tokens and citation marks removed), without links,
    and without sentences addressed to an AI reader, which an extractive answer may have quoted."""
    lines = []
    for turn in turns[-keep:]:
        lines.append(f"User: {_as_data(turn.query or turn.question)}")
        if turn.answer:
            lines.append(f"Assistant: {_clip(_as_data(turn.answer), 300)}")
    user = "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {_as_data(question)}\nStandalone query:"
    return [{"role": "system", "content": CONDENSE_PROMPT}, {"role": "user", "content": user}]


def condense_llm(question: str, turns: Sequence[Turn], settings: Settings, model: str | None = None) -> Condensed:
    from assistant.llm import get_model

    question = " ".join(question.split())
    if not turns:
        return Condensed(question, question, "none", "first question")
    try:
        raw = get_model(model, settings).complete(build_condense_messages(question, turns))
    except PapersError as exc:
        return _fallback(question, turns, f"LLM condenser failed: {exc}")
    query = _clean(raw)
    if not query or len(query) > 300 or len(query) < 0.5 * min(len(question), 40):
        return _fallback(question, turns, f"LLM condenser gave an unusable query ({raw[:60]!r})")
    if query == question:
        return Condensed(question, question, "llm", "the model kept the question")
    return Condensed(question, query, "llm", "rewritten by the model")


def condense(
    question: str,
    turns: Sequence[Turn],
    *,
    method: Method = "heuristic",
    settings: Settings | None = None,
    model: str | None = None,
) -> Condensed:
    """The standalone query for ``question`` after ``turns`` (oldest first)."""
    if method == "llm":
        if settings is None:
            raise ValueError("the LLM condenser needs settings")
        return condense_llm(question, turns, settings, model)
    return condense_heuristic(question, turns)


def _fallback(question: str, turns: Sequence[Turn], why: str) -> Condensed:
    result = condense_heuristic(question, turns)
    return Condensed(result.question, result.query, "llm→heuristic", f"{why}; {result.reason}")


def _clean(raw: str) -> str:
    lines = [line.strip() for line in raw.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(r"^(?:standalone\s+)?(?:query|question)\s*:\s*", "", lines[0], flags=re.I)
    return " ".join(line.strip(" \"'`").split())


def _as_data(text: str) -> str:
    return strip_links(sanitize(data_sentences(text)))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
