"""Dates: paper dates normalised at ingest, and the dates a question or ``--date`` names.

A paper's date is what its source gave: an ISO timestamp (``2024-09-03T10:00``) keeps its year; a
listing page's ``Sep 3`` has month and day only. Ingest stores both the raw string and its ISO 8601
form (``PaperEntry.day``): ``2024-09-03``, ``2024-09`` or, without a year, ``--09-03`` / ``--09``
(ISO 8601:2000's reduced forms); an index built before that is parsed at query time.
A wanted date matches exactly by day, or by month when it names no day; a wanted date without a
year matches any year. Unparseable strings never match by prefix (``Sep 1`` is not ``Sep 12``).
A wanted date from a user (``--date``, the UI's filter, the API's ``dates``) is checked first
(:func:`check_date`): an impossible one (``Feb 30``), a relative one (``yesterday``) or one in no
form above is a :class:`DateError` naming it, never a filter that silently matches nothing.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from assistant.errors import InputError

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_PATTERNS = [
    re.compile(rf"^{_YEAR}-(?P<mnum>[01]\d)(?:-(?P<dnum>[0-3]\d))?(?:[T ].*)?$"),
    re.compile(r"^--(?P<mnum>[01]\d)(?:-(?P<dnum>[0-3]\d))?$"),
    re.compile(rf"^{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?$", re.I),
    re.compile(rf"^{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?$", re.I),
    re.compile(rf"^{_MONTH}(?:,?\s+{_YEAR})?$", re.I),
]
# the same forms inside a question: "published on September 3", "from Aug 20, 2024", "in September"
_IN_TEXT = [
    re.compile(rf"\b{_YEAR}-(?P<mnum>[01]\d)(?:-(?P<dnum>[0-3]\d))?\b"),
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+{_YEAR}\b)?", re.I),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.I),
    re.compile(rf"\b{_MONTH}\s+{_YEAR}\b", re.I),
    re.compile(rf"\b(?:in|during|from|of|on)\s+{_MONTH}(?:\s+{_YEAR})?\b", re.I),
]


_BARE_MONTH = re.compile(rf"\b{_MONTH}\b", re.I)


def strip_dates(question: str) -> str:
    """The question with every date form above (and bare month names) removed."""
    for pattern in [*_IN_TEXT, _BARE_MONTH]:
        question = pattern.sub(" ", question)
    return question


@dataclass(frozen=True)
class Day:
    """A calendar date with optional parts: ``year`` None = any year, ``day`` None = the whole month."""

    month: int
    day: int | None = None
    year: int | None = None

    def iso(self) -> str:
        """``2024-09-03``, ``2024-09``, ``--09-03`` or ``--09``."""
        head = f"{self.year:04d}" if self.year else "-"
        return f"{head}-{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")

    def covers(self, other: Day) -> bool:
        """Does this wanted date match the paper date ``other``? Exact by day, or by month."""
        if self.month != other.month:
            return False
        if self.day is not None and self.day != other.day:
            return False
        return self.year is None or other.year is None or self.year == other.year


_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()  # noqa: SIM905


def label(iso: str) -> str:
    """A normalised date for people: ``--09-03`` → ``Sep 3``, ``2024-09`` → ``Sep 2024``."""
    day = parse_date(iso)
    if day is None:
        return iso
    text = _MONTH_NAMES[day.month - 1] + (f" {day.day}" if day.day else "")
    return text + (f", {day.year}" if day.year and day.day else f" {day.year}" if day.year else "")


def _build(month: int, day: int | None, year: int | None) -> Day | None:
    """A valid date only ("Feb 30" is none; Feb 29 is valid when no year says otherwise)."""
    if not 1 <= month <= 12:
        return None
    if day is not None and not 1 <= day <= calendar.monthrange(year or 2024, month)[1]:
        return None
    return Day(month, day, year)


def _from_match(m: re.Match[str]) -> Day | None:
    g = m.groupdict()
    if g.get("month") == "may":  # the verb, not the month ("methods may 2x ..."); "May" is the month
        return None
    month = int(g["mnum"]) if g.get("mnum") else _MONTHS[g["month"].lower().rstrip(".")]
    day_text = g.get("dnum") or g.get("day")
    return _build(month, int(day_text) if day_text else None, int(g["year"]) if g.get("year") else None)


def parse_date(text: str) -> Day | None:
    """A date string as a :class:`Day`, or None when it is not one of the forms above."""
    text = " ".join(text.split())
    for pattern in _PATTERNS:
        m = pattern.match(text)
        if m:
            return _from_match(m)
    return None


def normalise_date(text: str | None) -> str | None:
    """The ISO form of a paper's date string, or None when it cannot be parsed (kept raw then)."""
    day = parse_date(text) if text else None
    return day.iso() if day else None


def shown_date(text: str | None) -> str | None:
    """A paper's date as every paper list shows it: its day (``2024-09-24T12:00:00Z`` -> ``2024-09-24``)
    when the date carries a year, month and day, else as the source gave it ("Sep 3")."""
    if not text:
        return None
    iso = normalise_date(text)
    return iso if iso and len(iso) == 10 else text


def date_matches(paper_date: str, wanted: str) -> bool:
    """Does a paper dated ``paper_date`` (raw or ISO) match ``wanted`` (``--date`` text)?"""
    have, want = parse_date(paper_date), parse_date(wanted)
    if have is None or want is None:
        return " ".join(paper_date.split()).casefold() == " ".join(wanted.split()).casefold()
    return want.covers(have)


def dates_in(question: str) -> list[str]:
    """The dates a question names, in ISO form ("published on September 3" → ``--09-03``)."""
    spans: list[tuple[int, int, Day | None]] = []
    for pattern in _IN_TEXT:  # most specific first; a later match inside an earlier one is skipped
        for m in pattern.finditer(question):
            if m.group(0).lower().startswith("may") and m.group(0).startswith("may"):
                continue  # the verb
            if not any(a < m.end() and m.start() < b for a, b, _ in spans):
                # an impossible date ("Sep 31") still takes its place: it must not become "in Sep"
                spans.append((m.start(), m.end(), _from_match(m)))
    return list(dict.fromkeys(day.iso() for _, _, day in sorted(spans, key=lambda s: s[0]) if day is not None))


class DateError(InputError):
    """A wanted date that can match no paper: impossible, relative, or in no form we read."""


MAX_DATES = 20  # dates one question may filter by (every door)
_RELATIVE = re.compile(
    r"\b(?:today|yesterday|tomorrow|tonight|now|recent|recently|latest|ago|last|this|next|past|previous|"
    r"current|coming|week|weeks|weekend|fortnight|days|months|years|"
    r"mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b",
    re.I,
)
FORMS = "'Sep 3', '3 September 2024', '2024-09-03', '2024-09' or 'September'"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:59] + "…")


def check_date(text: str) -> str:
    """``text`` if it is a date a paper can carry (a lower-case "may" made "May"); else DateError
    saying why: an impossible day or month, a relative date, or a form we do not read."""
    text = " ".join(text.split())
    if parse_date(text) is not None:
        return text
    titled = re.sub(r"^may\b", "May", text)  # "may 3": the month (in a question, "may" is the verb)
    if parse_date(titled) is not None:
        return titled
    for pattern in _PATTERNS:
        m = pattern.match(titled)
        if m:
            g = m.groupdict()
            month = int(g["mnum"]) if g.get("mnum") else _MONTHS[g["month"].lower().rstrip(".")]
            if not 1 <= month <= 12:
                raise DateError(f"{_shown(text)} is not a date: there is no month {month}")
            year = int(g["year"]) if g.get("year") else None
            day_text = g.get("dnum") or g.get("day")
            if day_text and int(day_text) == 0:
                raise DateError(f"{_shown(text)} is not a date: there is no day 0")
            days = calendar.monthrange(year or 2024, month)[1]
            name = calendar.month_name[month] + (f" {year}" if year else "")
            raise DateError(f"{_shown(text)} is not a date: {name} has {days} days")
    if _RELATIVE.search(text):
        raise DateError(
            f"{_shown(text)} is a relative date; name the day itself, e.g. 'Sep 3' or '2024-09-03' "
            "(papers carry calendar dates)"
        )
    raise DateError(f"{_shown(text)} is not a date the filter reads; use a form such as {FORMS}")


def check_dates(dates: list[str] | tuple[str, ...] | None) -> list[str] | None:
    """Each non-blank date checked (:func:`check_date`), at most MAX_DATES; None when none is left."""
    wanted = [d for d in (" ".join(x.split()) for x in dates or []) if d]
    if len(wanted) > MAX_DATES:
        raise DateError(f"at most {MAX_DATES} dates may be given, not {len(wanted)}")
    return [check_date(d) for d in wanted] or None
