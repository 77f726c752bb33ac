"""Verify: parse the model's ``[n]`` citations per sentence and check each sentence against its sources.

The model cites paper numbers; we map numbers to titles ourselves, so a title is never invented.
A number that is not one of the retrieved papers is removed and reported, and every sentence is
scored against the evidence of the papers it cites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.evidence import data_sentences
from assistant.support import SupportScorer
from assistant.text import content_words, split_sentences

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]|\((?:paper|source)s?\s*(\d+)\)", re.I)
_TRAILING = re.compile(r"\s*(\[(?:\d+(?:\s*[,;]\s*\d+)*)\]\s*)+([.!?]?)\s*$")


@dataclass
class AnswerSentence:
    """One checked sentence: ``text`` without citation marks, the paper numbers it cites, its
    support score in [0, 1] against those papers, whether it is flagged, and why."""

    text: str
    citations: list[int]
    support: float
    flagged: bool
    note: str = ""
    lead: str = ""  # shown before the text, outside the check: a paper's name in a list ("SpecTr")

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead": self.lead,
            "text": self.text,
            "citations": self.citations,
            "support": round(self.support, 3),
            "flagged": self.flagged,
            "note": self.note,
        }


@dataclass
class CheckResult:
    sentences: list[AnswerSentence]
    removed_citations: list[int] = field(default_factory=list)


def evidence_text(title: str, abstract: str) -> str:
    """What a paper offers as evidence to the support check: "title. abstract" (answers and evals),
    without sentences addressed to an AI reader: parroting an injected instruction is not support."""
    return f"{title}. {data_sentences(abstract)}"


def parse_sentence(sentence: str) -> tuple[str, list[int]]:
    """Text without markers, and the cited numbers in order of first appearance."""
    numbers: list[int] = []
    for match in _MARKER.finditer(sentence):
        for part in re.split(r"[,;]", match.group(1) or match.group(2)):
            n = int(part.strip())
            if n not in numbers:
                numbers.append(n)
    text = _MARKER.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split()), numbers


_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # Markdown ![alt](url) and [text](url)
_DOT = r"(?:\.|\[\.\]|\(\.\))"  # "evil[.]example[.]com" is a link too
_URL = re.compile(
    r"\b(?:https?|ftp|javascript|data):[^\s)\]>\"']*|\bwww\.[^\s)\]>\"']+"
    # a lower-case host with a path or a port ("bit.ly/3xYz", "evil.de:8080"), or one under a common
    # top-level domain; "ASP.NET" and "Socket.io" (capitals) stay prose
    r"|(?-i:\b[a-z0-9-]+(?:" + _DOT + r"[a-z0-9-]+)*" + _DOT + r"[a-z]{2,24}\b(?::\d+)?/[^\s)\]>\"']*)"
    r"|(?-i:\b[a-z0-9-]+(?:" + _DOT + r"[a-z0-9-]+)*" + _DOT + r"[a-z]{2,24}:\d+\b)"
    r"|(?-i:\b(?:[a-z0-9-]+" + _DOT + r")+(?:com|org|net|io|ai|xyz|ru|cn|info|biz|co|me|app|dev|link|site|online|de|uk|"
    r"tk|top|ly|gg|sh|cc|us|eu|fr|jp|in|br|au|nl|to|ws|su|click|live|shop|store)(?:" + _DOT + r"[a-z]{2})?\b)"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:/[^\s)\]>\"']*)?",
    re.I,
)


def has_link(text: str) -> bool:
    """Does ``text`` hold a URL or a bare domain name ("see evil.example.com")?"""
    return bool(_URL.search(text) or _IMAGE_OR_LINK.search(text))


def strip_links(text: str) -> str:
    """An answer sentence without links: a model has no business writing one (an injected abstract
    asks it to), and the papers' own links come from their metadata, shown by us beside the answer."""
    text = _IMAGE_OR_LINK.sub(r"\1", text)
    text = _URL.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return " ".join(text.split())


def split_answer(answer: str) -> list[str]:
    """Sentences of a model answer; a marker after the full stop stays with its sentence."""
    answer = re.sub(r"([.!?])\s*((?:\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+)", r" \2\1 ", answer)
    return [s for s in split_sentences(" ".join(answer.split())) if re.search(r"[A-Za-z]", s)]


def check(
    answer: str,
    evidence_by_n: dict[int, str],
    scorer: SupportScorer,
    min_support: float,
    titles: list[str] | None = None,
) -> CheckResult:
    """Verify each sentence against the papers it cites; attribute uncited ones if a paper backs them."""
    result = CheckResult([])
    for raw in split_answer(answer):
        text, cited = parse_sentence(raw)
        text = strip_links(text)
        if not re.search(r"[^\W\d_]", text):
            continue
        valid = [n for n in cited if n in evidence_by_n]
        result.removed_citations += [n for n in cited if n not in evidence_by_n]
        if titles and is_title_only(text, titles):
            # small models answer by listing titles; a title is not an answer, however well "supported"
            result.sentences.append(AnswerSentence(text, valid, 0.0, True, "only restates a paper title"))
            continue
        note = ""
        if valid:
            judgement = scorer.judge(text, [evidence_by_n[n] for n in valid])
            support = judgement.score
            if judgement.contradicted:
                note = f"the cited paper says otherwise {valid}"
            if support < min_support:
                # the model may have cited the wrong paper: keep the one that does back it, if any
                best_n, best = _best_source(text, evidence_by_n, scorer)
                if best >= min_support:
                    note = f"citation corrected from {valid} to [{best_n}]"  # replaces a contradiction note
                    valid, support = [best_n], best
        else:
            best_n, support = _best_source(text, evidence_by_n, scorer)
            valid = [best_n] if support >= min_support else []
            note = f"no citation in the answer; attributed to [{best_n}]" if valid else "no citation"
        # a sentence the model left uncited or cited wrongly, given to the paper that backs it, is not
        # suspect: the note says what was done; weak support, a contradiction or a bare title is
        flagged = support < min_support or (
            bool(note) and not note.startswith(("no citation in", "citation corrected"))
        )
        result.sentences.append(AnswerSentence(text, valid, support, flagged, note))
    return result


def is_title_only(text: str, titles: list[str]) -> bool:
    """Most of the sentence's content words come from one title and it adds little else."""
    words = content_words(text)
    if not words:
        return True
    for title in titles:
        pool = set(content_words(title))
        inside = sum(w in pool for w in words)
        if inside / len(words) >= 0.8 and len(words) - inside <= 2:
            return True
    return False


def _best_source(text: str, evidence_by_n: dict[int, str], scorer: SupportScorer) -> tuple[int, float]:
    scored = [(scorer.score(text, [ev]), n) for n, ev in evidence_by_n.items()]
    if not scored:
        return 0, 0.0
    best, n = max(scored)
    return n, best
