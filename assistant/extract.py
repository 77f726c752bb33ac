"""Extract: the cited extractive answer, the fallback when no generated sentence survives the checks.

The answer is abstract sentences themselves, each cited to its paper, rewritten from the authors'
"we" into "the authors" and cleaned of what only makes sense inside the paper (reference marks
``[12]``, ``[3, 4]``, ``Kong et al. [2023]``; LaTeX quotes ````x''``). Among a paper's most relevant
sentences, one that states a contribution or a result ("we propose", "outperforms", "by 12%") is
preferred over background ("Recent years have witnessed…", "Unfortunately, …"): the cue weights
below are a ranking nudge of the size of the gap between neighbouring relevance scores. It is also
what ``auto`` mode answers when the model fails (the error is still reported).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assistant.verify import AnswerSentence, evidence_text, has_link

if TYPE_CHECKING:
    from assistant.evidence import Evidence
    from assistant.support import SupportScorer

_BACKGROUND = re.compile(
    r"^(?:recent(?:ly)?\b|in recent years|over the (?:past|last)|nowadays|with the (?:rapid|rise|advent|growing)|"
    r"however\b|unfortunately|despite\b|although\b|while\b|existing\b|current\b|traditional(?:ly)?\b|"
    r"prior\b|previous(?:ly)?\b|conventional\b|motivated by|inspired by|"
    r"a (?:great|good|large|growing) (?:deal|body|number|amount)\b|(?:scholars|researchers|practitioners)\b|"
    r"many (?:works|studies|methods|approaches|researchers)\b|"
    r"(?:typical|most|top-performing|standard|common|popular|mainstream)\b[^.]{0,30}\b(?:methods|approaches|works)\b)"
    r"|\b(?:methods|approaches|works|models) (?:usually|typically|often|commonly|generally) (?:rely|require|use|need)"
    r"|\b(?:has|have) (?:\w+ly )?(?:attracted|gained|received|drawn|become|emerged|witnessed|seen)\b"
    r"|\b(?:has|have) been (?:widely|extensively|increasingly|commonly)\b"
    r"|\bremains? (?:a |an )?(?:\w+ )?(?:challeng|open|unclear|difficult|limited|underexplored|problem)"
    r"|\b(?:is|are) (?:an? )?(?:crucial|essential|important|critical|fundamental|ubiquitous|widely used|"
    r"exciting|promising|popular|key to)\b",
    re.I,
)
_CONTRIBUTION = re.compile(
    r"\b(?:we|this (?:paper|work|study)|the authors|our (?:method|approach|model|framework|results?|experiments?))\s+"
    r"(?:\w+ly\s+)?(?:propose|present|introduce|develop|design|show|demonstrate|find|found|achieve|prove|"
    r"establish|release|report|observe|reveal)"
    r"|\b(?:results?|experiments?|evaluations?|analys[ie]s)\s+(?:\w+\s+){0,3}(?:show|demonstrate|indicate|reveal|confirm)"
    r"|\boutperform|\bstate[- ]of[- ]the[- ]art\b|\bsurpass|\bimprov\w* (?:\w+ ){0,3}by\b"
    r"|\d(?:\.\d+)?\s?%|\b\d+(?:\.\d+)?x\b",
    re.I,
)
# where the code lives, not what the paper found: never quoted while another sentence is left
_BOILERPLATE = re.compile(
    r"https?://|\bgithub\b|\b(?:code|data|models?|datasets?|checkpoints?|weights)\b[^.]{0,40}\b(?:is|are|will be) "
    r"(?:publicly |freely |openly )?(?:available|released)|\bcan be found at\b|\bproject page\b",
    re.I,
)
CUE_WEIGHT = 0.05
CANDIDATES = 4  # a paper's sentences considered, by relevance

# a numeric citation ([12], [3, 4], [1-3]: numbers from 1, no decimals; never an interval such as
# [0, 1] or an index such as x[0]) or an author-year one ([Kong et al., 2023])
_REF_MARKS = re.compile(
    r"(?<![\w\]])\s*\[(?:[1-9]\d*(?:\s*[-–,]\s*[1-9]\d*)*|[A-Z][A-Za-z]+(?: et al\.?)?,? \d{4}[a-z]?)\](?![\w(])"
)
_ET_AL_YEAR = re.compile(r"(\bet al\.?)[\s~]*[\[(]\d{4}[a-z]?[\])]")
_PAREN_CITES = re.compile(r"\s*\((?:[A-Z][A-Za-z-]+(?: et al\.?| and [A-Z][A-Za-z-]+)?,? \d{4}[a-z]?(?:;\s*)?)+\)")
_LATEX_QUOTES = re.compile(r"``(.*?)''")


# a bracket after these words is an interval or a set, not a citation: "p in [1, 2]"
_INTERVAL_BEFORE = re.compile(r"(?:\b(?:in|within|between|from|to|of|range|interval|at)|[=∈:])\s*$", re.I)


def _drop_citation(m: re.Match[str]) -> str:
    return m.group(0) if _INTERVAL_BEFORE.search(m.string[: m.start()]) else ""


def clean(sentence: str) -> str:
    """Remove reference marks and LaTeX quoting; keep everything else as the authors wrote it."""
    out = _ET_AL_YEAR.sub(r"\1", sentence)
    out = _REF_MARKS.sub(_drop_citation, out)
    out = re.sub(r"\((?:see|cf\.?|e\.g\.,?)\s*\)", "", out)  # "(see [5])" once the mark is gone
    out = _PAREN_CITES.sub("", out)
    out = _LATEX_QUOTES.sub(r'"\1"', out).replace("``", '"').replace("''", '"')
    out = re.sub(r"^%\s*", "", out)  # a LaTeX comment sign the abstract's source left at a line start
    out = unescape_latex(out)
    out = re.sub(r"\s+([,.;:])", r"\1", out)
    return " ".join(out.split())


_LATEX_ESCAPE = re.compile(r"\\([%&_$#])")
_LATEX_SYMBOLS = (
    (re.compile(r"\\textless\s*"), "<"),
    (re.compile(r"\\textgreater\s*"), ">"),
    (re.compile(r"\\(?:rightarrow|to)\b\s*"), "→ "),
    (re.compile(r"(?<=\s)rightarrow(?=\s)"), "→"),  # its backslash lost: "51.9% rightarrow 67.8%"
    (re.compile(r"\\infty\b|(?<=\w{2})infty\b"), "∞"),
    (re.compile(r"(?<=[\w)])~(?=[\w(\[])"), " "),  # a LaTeX non-breaking space: "models~(DMs)"
    (re.compile(r"\{([=<>+-])\}"), r"\1"),  # "D{=}1"
)


def unescape_latex(text: str) -> str:
    """``15.9\\%`` -> ``15.9%``: the LaTeX that abstracts keep (and a model copies) shown as what it
    stands for: escaped special characters, ``\\textless``, arrows, ``~``, ``{=}``, ````x''`` quotes."""
    out = _LATEX_ESCAPE.sub(r"\1", text)
    for pattern, replacement in _LATEX_SYMBOLS:
        out = pattern.sub(replacement, out)
    return _LATEX_QUOTES.sub(r'"\1"', out).replace("``", '"').replace("''", '"')


def third_person(sentence: str) -> str:
    """Abstract sentences speak as "we"; an answer quoting them reads better as "the authors"."""
    out = re.sub(
        r"^(In this (?:paper|work),?\s+)?[Ww]e\b(?!['’])", lambda m: (m.group(1) or "") + "the authors", sentence
    )
    out = re.sub(r"\b([Oo]ur)\b", "their", out)
    out = re.sub(r"(?<=[,;:] )we\b(?!['’])|(?<= and )we\b(?!['’])", "they", out)
    return out[0].upper() + out[1:] if out else out


def cue(sentence: str) -> float:
    """+1 for a contribution or result sentence, -1 for background, -10 for a code/URL notice."""
    if _BOILERPLATE.search(sentence) or has_link(sentence):
        return -10.0
    if _CONTRIBUTION.search(sentence):
        return 1.0
    return -1.0 if _BACKGROUND.search(sentence) else 0.0


def rank(ev: Evidence) -> list[str]:
    """A paper's sentences for quoting, best first: relevance plus the cue nudge, over the most
    relevant ``CANDIDATES`` (``ev.candidates``, or its evidence sentences when those are absent)."""
    pool = ev.candidates[:CANDIDATES] or sorted(zip(ev.scores, ev.sentences, strict=True), reverse=True)
    return [text for _, text in sorted(pool, key=lambda p: -(p[0] + CUE_WEIGHT * cue(p[1])))]


def extract(evidence: list[Evidence], scorer: SupportScorer, per_paper: int | None = None) -> list[AnswerSentence]:
    """The best two sentences of the first paper and the best one of each other paper (or
    ``per_paper`` each), in that order, each cited to its paper and scored (heuristic support)."""
    sentences: list[AnswerSentence] = []
    for ev in evidence:
        take = per_paper or (2 if not sentences else 1)
        for text in rank(ev)[:take]:
            prose = third_person(clean(text))
            support = scorer.score(prose, [unescape_latex(evidence_text(ev.source.title, ev.source.abstract))])
            sentences.append(AnswerSentence(prose, [ev.source.n], support, False, "extracted"))
    return sentences
