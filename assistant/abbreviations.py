"""Abbreviations a collection defines, so that a question's "LLM" finds abstracts that spell out
"large language model" and the other way round.

Pairs are read from the abstracts themselves with the algorithm of Schwartz & Hearst, "A simple
algorithm for identifying abbreviation definitions in biomedical text" (PSB 2003): a short form in
parentheses after its long form, "large language models (LLMs)", the long form being the shortest
run of preceding words whose letters contain the short form's characters in order, the first
character starting a word. A short form maps to its most frequent long forms (at most
:data:`MAX_LONG_FORMS`), a long form to its short form.

The table is built once per committed generation, after the commit (``assistant.calibrate.refresh``
writes ``abbreviations.json`` beside the manifest); an index without the file builds it in memory
on first use.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.text import content_words

ABBREVIATIONS_FILE = "abbreviations.json"
MAX_LONG_FORMS = 1  # the most frequent long form: a second one ("meta-reinforcement learning") adds noise
# a short form is expanded when at least this many abstracts define it: a field's shared term ("LLM",
# "RL", "GNN"), not one paper's method name ("SOAP" would send "cold-process SOAP" to an optimiser)
MIN_COUNT = 2

_PAREN = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9}?)(s?)\s*\)")
_WORD = re.compile(r"[\w\-]+")


def _long_form(short: str, words: list[str]) -> str | None:
    """Schwartz & Hearst's best long form for ``short`` ending right before the parenthesis."""
    chars = [c.lower() for c in short if c.isalnum()]
    if len(chars) < 2 or not any(c.isalpha() for c in chars):
        return None
    window = words[-min(len(chars) + 5, 2 * len(chars)) :]
    text = " ".join(window).lower()
    s_i, l_i = len(chars) - 1, len(text) - 1
    while s_i >= 0:
        c = chars[s_i]
        while l_i >= 0 and (text[l_i] != c or (s_i == 0 and l_i > 0 and text[l_i - 1].isalnum())):
            l_i -= 1
        if l_i < 0:
            return None
        l_i -= 1
        s_i -= 1
    start = text.rfind(" ", 0, l_i + 1) + 1
    long = " ".join(text[start:].split())
    if len(long.split()) < 2 or long.lower().replace(" ", "") == short.lower():
        return None
    return long


def find_pairs(text: str) -> list[tuple[str, str]]:
    """``(short, long)`` definitions in one text: "… large language models (LLMs) …" → ("LLM", "large
    language models")."""
    out = []
    for m in _PAREN.finditer(text):
        short = m.group(1)
        if not any(c.isupper() for c in short):
            continue
        before = _WORD.findall(text[max(0, m.start() - 200) : m.start()])
        long = _long_form(short, before)
        if long:
            out.append((short, long))
    return out


@dataclass
class Abbreviations:
    """Short form → long forms (most frequent first), and each long form's stemmed key → short."""

    expand: dict[str, list[str]] = field(default_factory=dict)
    generation: int | None = None

    @classmethod
    def build(cls, abstracts: Iterable[str], generation: int | None = None) -> Abbreviations:
        counts: dict[str, Counter[str]] = {}
        for text in abstracts:
            for short, long in dict.fromkeys(find_pairs(text)):  # an abstract counts once per definition
                key = _singular(long)
                counts.setdefault(short, Counter())[key] += 1
        expand = {
            short: [long for long, _ in c.most_common(MAX_LONG_FORMS)]
            for short, c in counts.items()
            if sum(c.values()) >= MIN_COUNT
        }
        return cls({k: v for k, v in expand.items() if v}, generation)

    def save(self, path: Path) -> None:
        from assistant.storage import write_atomic

        write_atomic(path, json.dumps({"generation": self.generation, "expand": self.expand}, indent=0))

    @classmethod
    def load(cls, path: Path) -> Abbreviations | None:
        """The stored table, or None when the file is missing or not one (it is rebuilt then)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            expand = data["expand"]
            if not isinstance(expand, dict) or not all(
                isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
                for k, v in expand.items()
            ):
                return None
            return cls(expand, data.get("generation"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def expansions(self, text: str) -> list[str]:
        """Terms to add to a search for ``text``: the long forms of the short forms it uses ("LLMs"
        → "large language model") and the short forms of the long forms it spells out."""
        added: list[str] = []
        for token in set(re.findall(r"[A-Za-z][A-Za-z0-9\-]{1,9}", text)):
            short = token if token in self.expand else token[:-1] if token.endswith("s") else None
            if short and short in self.expand and any(c.isupper() for c in short):
                added += self.expand[short]
        stems = " " + " ".join(content_words(text)) + " "
        for short, longs in self.expand.items():
            if short in text:
                continue
            for long in longs:
                key = " ".join(content_words(long))
                if key and len(key.split()) >= 2 and f" {key} " in stems:
                    added.append(short)
                    break
        return list(dict.fromkeys(a for a in added if a.lower() not in text.lower()))


def _singular(long: str) -> str:
    words = long.split()
    last = words[-1]
    if last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        words[-1] = last[:-1]
    return " ".join(words)


__all__ = ["ABBREVIATIONS_FILE", "Abbreviations", "find_pairs"]
