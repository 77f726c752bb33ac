"""Figures with their units, so the support check can tell "40 mm per year" from "0.4 mm per year".

The support scorer (``assistant.support``) already asks that every number of a sentence occur
somewhere in the evidence; that passes "the growth rate is 40 mm per year" when the evidence
says "0.4 mm per year" and counts "40 samples", and passes "0.4 cm per year" outright. Here a
figure is a value (or a range) with its unit, a rate's denominator ("per year", "/yr", "a day")
and the words around it; two figures are the same quantity when their units measure the same thing
(length per time, a share, a factor …), and equal when their values agree after converting units
(4 mm = 0.4 cm; SI prefixes and the usual time units) or the sentence's value is the evidence's
rounded to the digits the sentence gives (two significant digits at least).

:func:`check_figures` reports a sentence figure that the evidence gives only with another value for
the same kind of quantity ("figure differs"), or whose number the evidence gives only with a unit of
another kind ("unit differs": "40%" against "40-fold"). When the evidence's equal figures are all
about other words (the content words of their clause) and a different value shares two of the
sentence figure's words ("energy use fell 12%" against "loads fell by 12% and energy use fell by
5%"), that is a conflict too. A bare number (no unit) is left to the scorer's number check, and a
number right after a label ("Round 1", "Table 2") is a name, not a quantity.

Numbers in words ("ten thousand", "two hundred and fifty", "ninety-nine", "a dozen") are read as their
digits (:func:`spelled_numbers`), so "five percent" is a figure; a spelled number without a unit is held
to the scorer's rule for digits: it must be a number of the evidence ("ten thousand adolescents" against
"100 adolescents" is "number differs"), and digits the evidence spells out agree (issue 21 review C).

Units recognised: percent ("%", "percent", "per cent"), percentage points ("pp", "points"),
factors ("3x", "3×", "3-fold", "threefold", "3 times"), counts ("7B", "1.5M", "10k", "million",
"billion"), and SI-prefixed metres, grams, seconds (plus minutes, hours, days, weeks, months,
years), litres, molar, hertz, watts, watt-hours, joules, electronvolts, volts, pascals and bytes,
with °C, bar, atm, ppm and ppb; a rate is any of them per another ("mm per year", "mg/kg").
Sources of the rules: SI prefixes and units (BIPM SI Brochure, 9th ed.); the Julian year (365.25
days) and mean month (1/12 of it) for converting rates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assistant.text import content_words

_PREFIX = {"n": 1e-9, "µ": 1e-6, "μ": 1e-6, "u": 1e-6, "m": 1e-3, "c": 1e-2, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
# symbol -> (kind, factor to the kind's base unit); prefixed forms are generated below
_BASE = {"m": "length", "g": "mass", "s": "time", "L": "volume", "M": "molar", "Hz": "frequency", "W": "power",
         "Wh": "energy", "J": "energy", "eV": "particle-energy", "V": "voltage", "Pa": "pressure",
         "B": "bytes"}  # fmt: skip
_SYMBOLS: dict[str, tuple[str, float]] = {}
for _symbol, _kind in _BASE.items():
    _SYMBOLS[_symbol] = (_kind, 1.0)
    for _p, _f in _PREFIX.items():
        if not (_symbol == "B" and _f < 1) and not (_symbol == "m" and _p == "M"):
            _SYMBOLS[_p + _symbol] = (_kind, _f)
_SYMBOLS.update({"min": ("time", 60.0), "h": ("time", 3600.0), "hr": ("time", 3600.0), "KB": ("bytes", 1e3),
                 "yr": ("time", 31557600.0), "°C": ("temperature", 1.0), "ppm": ("fraction", 1e-6),
                 "ppb": ("fraction", 1e-9), "%": ("percent", 1.0), "pp": ("points", 1.0), "x": ("fold", 1.0),
                 "×": ("fold", 1.0), "bar": ("pressure", 1e5), "kbar": ("pressure", 1e8),
                 "atm": ("pressure", 101325.0)})  # fmt: skip
_SYMBOLS.pop("Ms", None)  # megaseconds: never meant; "Ms" is a title
_WORDS = {"percent": ("percent", 1.0), "per cent": ("percent", 1.0), "percentage points": ("points", 1.0),
          "percentage point": ("points", 1.0), "points": ("points", 1.0), "point": ("points", 1.0),
          "fold": ("fold", 1.0), "times": ("fold", 1.0), "thousand": ("count", 1e3), "million": ("count", 1e6),
          "billion": ("count", 1e9), "trillion": ("count", 1e12), "seconds": ("time", 1.0), "second": ("time", 1.0),
          "minutes": ("time", 60.0), "minute": ("time", 60.0), "hours": ("time", 3600.0), "hour": ("time", 3600.0),
          "days": ("time", 86400.0), "day": ("time", 86400.0), "weeks": ("time", 604800.0),
          "week": ("time", 604800.0), "months": ("time", 2629800.0), "month": ("time", 2629800.0),
          "years": ("time", 31557600.0), "year": ("time", 31557600.0), "degrees": ("temperature", 1.0)}  # fmt: skip
for _name, _symbol in {"metre": "m", "meter": "m", "gram": "g", "litre": "L", "liter": "L", "watt": "W",
                       "joule": "J", "volt": "V", "hertz": "Hz", "byte": "B"}.items():  # fmt: skip
    for _word, _p in {"": "", "nano": "n", "micro": "µ", "milli": "m", "centi": "c", "kilo": "k", "mega": "M",
                      "giga": "G"}.items():  # fmt: skip
        if _p + _symbol in _SYMBOLS:
            _WORDS[f"{_word}{_name}s"] = _WORDS[f"{_word}{_name}"] = _SYMBOLS[_p + _symbol]
_WORDS["microns"] = _WORDS["micron"] = _SYMBOLS["µm"]
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "bn": 1e9, "T": 1e12}  # attached: "7B", "1.5M", "10k"
_SPELLED = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
            "twenty": 20, "fifty": 50, "hundred": 100, "thousand": 1000}  # fmt: skip

# Numbers written in words (issue 21 review C): "ten thousand", "two hundred and fifty", "ninety-nine",
# "a dozen". English cardinal words as in the Chicago Manual of Style, ch. 9 "Numbers" (hyphenated
# compounds "twenty-one", "and" after "hundred"), on the short scale (billion = 10^9).
_ONES = {
    w: i
    for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    )
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_MULTIPLIERS = {"hundred": 100.0, "dozen": 12.0, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_MULTIPLIER = r"(?:" + "|".join(_MULTIPLIERS) + r")\b"
_NUMBER_WORD = (
    r"(?:(?:" + "|".join(_TENS) + r")(?:[- ](?:" + "|".join(list(_ONES)[1:10]) + r"))?|"
    + "|".join(sorted(_ONES, key=len, reverse=True)) + r"|" + _MULTIPLIER + r")"
)  # fmt: skip
# A run starts with a number word, or "a" before a multiplier ("a dozen"); a bare multiplier belongs to
# digits ("1.5 million", read as a figure) or to nothing.
_SPELLED_NUMBER = re.compile(
    r"(?<![\w-])(?:a\s+(?=" + _MULTIPLIER + r")|(?!" + _MULTIPLIER + r"))"
    + _NUMBER_WORD + r"(?:(?:\s+and\s+|\s+|-)" + _NUMBER_WORD + r")*(?![\w])",
    re.I,
)  # fmt: skip
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_UNIT = (
    r"(?P<unit>"
    + "|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True))
    + r"|(?-i:"
    + "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
    + r"))"
)
_PER = r"(?:\s*(?:/|\bper\s+|\ban?\s+)(?P<per>" + _UNIT.replace("?P<unit>", "?:") + r")(?![\w°%]))"
_FIGURE = re.compile(
    r"(?<![\w.,^])(?<![A-Za-z][-‐])(?P<low>" + _NUM + r")(?:(?-i:(?P<scale>k|K|M|B|bn|T))\b)?"
    r"(?:\s*(?P<sep>-|–|—|\bto\b|\band\b)\s*(?P<high>" + _NUM + r")(?-i:(?P=scale))?)?"
    r"(?:\s*-?\s*" + _UNIT + r"(?![\w°%]|\s*\d))?" + _PER + r"?",
    re.I,
)
_UNIT_WORDS = frozenset(w for name in [*_WORDS, *_SYMBOLS] for w in name.lower().split()) | {"per"}
_SPELLED_FOLD = re.compile(r"\b(" + "|".join(_SPELLED) + r")[- ]?(fold|times)\b", re.I)


@dataclass(frozen=True)
class SpelledNumber:
    """A number written in words: its value, the words, and where they are in the text."""

    value: float
    text: str
    start: int
    end: int


def _kind(token: str) -> str:
    if token in _TENS:
        return "ten"
    if token in _ONES:
        return "teen" if _ONES[token] >= 10 else "one"
    return "a" if token == "a" else "and" if token == "and" else "hundred" if token in {"hundred", "dozen"} else "scale"


def _groups(run: re.Match[str]) -> list[list[re.Match[str]]]:
    """The words of a run of number words, one list per number: a word that cannot continue the
    number starts the next ("two three", "twenty thirty"), and "and" only joins after "hundred" or a
    scale word ("two hundred and fifty", but "two and three")."""
    groups: list[list[re.Match[str]]] = [[]]
    last = ""
    for word in re.finditer(r"[a-z]+", run.group(0), re.I):
        kind = _kind(word.group(0).lower())
        if kind == "and":
            if last not in {"hundred", "scale"}:
                groups.append([])
            continue
        if (kind in {"one", "teen", "ten", "a"} and last in {"one", "teen"}) or (
            kind in {"teen", "ten"} and last == "ten"
        ):
            groups.append([])
        groups[-1].append(word)
        last = "one" if kind == "a" else kind
    return [g for g in groups if g]


def spelled_numbers(text: str) -> list[SpelledNumber]:
    """Every number written in words in ``text``: "ten thousand" (10,000), "two hundred and fifty",
    "ninety-nine", "a dozen", "three million two hundred thousand". Words that cannot continue one
    number start the next ("two and three"); "threefold", "tens" and "1.5 million" are not read here."""
    found: list[SpelledNumber] = []
    for run in _SPELLED_NUMBER.finditer(text):
        for group in _groups(run):
            total = current = 0.0
            for word in group:
                token = word.group(0).lower()
                if token in {"hundred", "dozen"}:
                    current = (current or 1.0) * _MULTIPLIERS[token]
                elif token in _MULTIPLIERS:
                    total, current = total + (current or 1.0) * _MULTIPLIERS[token], 0.0
                else:
                    current += 1.0 if token == "a" else float(_ONES.get(token) or _TENS.get(token) or 0)
            start, end = run.start() + group[0].start(), run.start() + group[-1].end()
            found.append(SpelledNumber(total + current, text[start:end], start, end))
    return found


def in_digits(text: str) -> tuple[str, list[tuple[SpelledNumber, int]]]:
    """``text`` with its numbers in words written in digits ("ten thousand" -> "10000"), and each
    spelled number with where its digits start in the new text."""
    parts: list[str] = []
    placed: list[tuple[SpelledNumber, int]] = []
    done = 0
    length = 0
    for number in spelled_numbers(text):
        parts.append(text[done : number.start])
        length += number.start - done
        digits = f"{number.value:.0f}"  # always whole: products and sums of whole numbers
        placed.append((number, length))
        parts.append(digits)
        length += len(digits)
        done = number.end
    parts.append(text[done:])
    return "".join(parts), placed


@dataclass(frozen=True)
class Figure:
    """A value or range in its kind's base unit, its kind ("length/time"), the text as written, the
    number of significant digits given, and the content words around it."""

    low: float
    high: float
    kind: str
    text: str
    digits: int
    context: frozenset[str]

    @property
    def is_range(self) -> bool:
        return self.low != self.high


def _value(text: str) -> float:
    return float(text.replace(",", ""))


def _significant(text: str) -> int:
    return len(text.replace(",", "").replace(".", "").lstrip("0")) or 1


def _unit(symbol: str | None) -> tuple[str, float] | None:
    if not symbol:
        return None
    return _WORDS.get(symbol.lower()) or _SYMBOLS.get(symbol) or _SYMBOLS.get(symbol.replace("u", "µ", 1))


_CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:and|but|while|whereas|than|versus|vs)\b", re.I)


def _context(text: str, start: int, end: int) -> frozenset[str]:
    """Content words among the five words before the figure and the three after it, within its clause
    (up to a comma, "and", "while", "than" …), units left out."""
    head = _CLAUSE_BREAK.split(text[:start])[-1]
    tail = _CLAUSE_BREAK.split(text[end:])[0]
    before = [w for w in re.findall(r"[^\W\d_]+", head) if w.lower() not in _UNIT_WORDS][-5:]
    after = [w for w in re.findall(r"[^\W\d_]+", tail) if w.lower() not in _UNIT_WORDS][:3]
    return frozenset(content_words(" ".join(before + after)))


# A number right after one of these names a thing ("Round 1", "Table 2", "stage 3"), not a quantity.
_LABEL = re.compile(
    r"(?:\b(?!(?:between|from|about|approximately|roughly|nearly|almost|around|only|over|under|up|with|in|at|by|"
    r"of|to|for|and|or|than|some|just|within|after|before)\b)(?-i:[A-Z][A-Za-z]*)|\b(?:round|step|stage|epoch|layer|level|phase|version|no|top|table|fig|figure|"
    r"section|sec|eq|grade|type|class|group|arm|cohort|experiment|task|model|dataset|split|fold|run|trial|week|day)"
    r")\.?\s*$",
    re.I,
)


def _is_change(sep: str, before: str) -> bool:
    """ "from 70 to 85%" and "12 and 15%" are two figures; "3-5%", "3 to 5 mm", "between 3 and 5 mm" a range."""
    sep = sep.lower()
    if sep == "to":
        return bool(re.search(r"\bfrom\s*$", before, re.I))
    return sep == "and" and not re.search(r"\bbetween\s*$", before, re.I)


def figures(text: str) -> list[Figure]:
    """Every figure with a unit in ``text`` ("0.4 mm per year", "3-5%", "2.5-fold", "7B"); bare
    numbers are left out. "From 70 to 85%" is a change, two figures; "3 to 5 mm" is a range. Numbers
    in words are read as their digits ("five percent", "ten thousand words" is a bare number)."""
    text = in_digits(text)[0]
    found: list[Figure] = []
    for m in _FIGURE.finditer(text):
        unit = _unit(m["unit"])
        if (unit is None and not m["scale"]) or (m["unit"] == "s" and m.start("unit") == m.end("low")):
            continue  # a bare number, or a plural ("the 1990s"), not seconds
        kind, factor = unit or ("count", 1.0)
        factor *= _SCALE[m["scale"]] if m["scale"] else 1.0
        if m["per"]:
            per = _unit(m["per"])
            if per is None:
                continue
            kind, factor = f"{kind}/{per[0]}", factor / per[1]
        context = _context(text, m.start(), m.end())
        low = _value(m["low"]) * factor
        if m["high"] and _LABEL.search(text[: m.start()]):  # "in Round 1 to 82.1%": "1" names a round
            high = _value(m["high"]) * factor
            second = m.group(0)[m.start("high") - m.start() :].strip()
            found.append(Figure(high, high, kind, second, _significant(m["high"]), context))
        elif not m["high"]:
            found.append(Figure(low, low, kind, m.group(0).strip(), _significant(m["low"]), context))
        elif _is_change(m["sep"], text[: m.start()]):
            high = _value(m["high"]) * factor
            found.append(Figure(low, low, kind, m["low"], _significant(m["low"]), context))
            second = m.group(0)[m.start("high") - m.start() :].strip()
            found.append(Figure(high, high, kind, second, _significant(m["high"]), context))
        else:
            high = _value(m["high"]) * factor
            digits = min(_significant(m["low"]), _significant(m["high"]))
            found.append(Figure(min(low, high), max(low, high), kind, m.group(0).strip(), digits, context))
    for m in _SPELLED_FOLD.finditer(text):
        value = float(_SPELLED[m.group(1).lower()])
        found.append(Figure(value, value, "fold", m.group(0), len(str(int(value))), _context(text, m.start(), m.end())))
    return found


def _close(mine: float, theirs: float, digits: int) -> bool:
    """Equal, or ``theirs`` rounded to the significant digits ``mine`` gives (two at least)."""
    if math.isclose(mine, theirs, rel_tol=1e-6, abs_tol=1e-12):
        return True
    if digits < 2 or mine == 0 or theirs == 0:
        return False
    exponent = math.floor(math.log10(abs(mine))) - digits + 1
    return math.isclose(round(theirs / 10**exponent) * 10**exponent, mine, rel_tol=1e-6)


def same_value(mine: Figure, theirs: Figure) -> bool:
    """Same kind and value: a point equals a point or either end of a range; a range equals a range."""
    if mine.kind != theirs.kind:
        return False
    if mine.is_range:
        return (
            theirs.is_range
            and _close(mine.low, theirs.low, mine.digits)
            and _close(mine.high, theirs.high, mine.digits)
        )
    return any(_close(mine.low, end, mine.digits) for end in {theirs.low, theirs.high})


def _number(figure: Figure) -> str:
    match = re.search(_NUM, figure.text)
    return match.group(0).replace(",", "") if match else ""


@dataclass(frozen=True)
class FigureCheck:
    """``conflicts``: why a figure of the sentence is not the evidence's (empty when none is);
    ``agreeing``: the numbers, as written, of the sentence's figures the evidence gives (perhaps in
    another unit: "4 mm" for "0.4 cm")."""

    conflicts: tuple[str, ...]
    agreeing: frozenset[str]


def check_figures(sentence: str, evidence: str) -> FigureCheck:
    """Compare every figure with a unit in ``sentence`` with the figures of ``evidence`` (module
    docstring)."""
    theirs = figures(evidence)
    reasons: list[str] = []
    agreeing: set[str] = set()
    _check_spelled(sentence, evidence, theirs, reasons, agreeing)
    for mine in figures(sentence):
        same_kind = [f for f in theirs if f.kind == mine.kind]
        equal = [f for f in same_kind if same_value(mine, f)]
        if equal:
            agreeing.update(n.replace(",", "") for n in re.findall(_NUM, mine.text))
        if not same_kind:
            other = [f for f in theirs if _number(f) == _number(mine)]
            if other:
                reasons.append(f"unit differs: {mine.text!r} where the source has {other[0].text!r}")
            continue
        if not equal:
            nearest = max(same_kind, key=lambda f: len(f.context & mine.context))
            reasons.append(f"figure differs: {mine.text!r} where the source has {nearest.text!r}")
            continue
        # another quantity: the equal figures are about other words (known: their context is not empty)
        # while a different value shares two of this figure's words
        best_equal = max(len(f.context & mine.context) for f in equal)
        rivals = [f for f in same_kind if f not in equal and len(f.context & mine.context) >= 2]
        if best_equal == 0 and all(f.context for f in equal) and rivals:
            reasons.append(f"figure differs: {mine.text!r} where the source has {rivals[0].text!r} for it")
    return FigureCheck(tuple(reasons), frozenset(agreeing))


def _check_spelled(sentence: str, evidence: str, theirs: list[Figure], reasons: list[str], agreeing: set[str]) -> None:
    """Numbers in words, held to the scorer's rule for digits (``assistant.support.numbers``): a
    number the sentence spells out ("ten thousand adolescents") must be a number of the evidence, in
    digits or words; 0, 1 and 2 are left out as there, and a number with a unit is a figure, compared
    above. A number in digits the evidence spells out ("100" for "one hundred") agrees."""
    written, spelled = in_digits(sentence)
    evidence_digits, evidence_spelled = in_digits(evidence)
    known = {_value(n) for n in re.findall(_NUM, evidence_digits)} | {v for f in theirs for v in (f.low, f.high)}
    for number, at in spelled:
        if number.value in {0, 1, 2}:
            continue
        match = _FIGURE.match(written, at)
        if match and (_unit(match["unit"]) or match["scale"]):
            continue
        if not any(math.isclose(number.value, value, rel_tol=1e-9) for value in known):
            reasons.append(f"number differs: {number.text!r} ({number.value:,.0f}) is not in the source")
    spelled_values = {number.value for number, _ in evidence_spelled}
    agreeing.update(n.replace(",", "") for n in re.findall(_NUM, sentence) if _value(n) in spelled_values)


def figure_conflicts(sentence: str, evidence: str) -> list[str]:
    """Reasons why a figure of ``sentence`` is not the evidence's figure for the same quantity
    (module docstring); [] when every figure with a unit agrees or has nothing to compare with."""
    return list(check_figures(sentence, evidence).conflicts)
