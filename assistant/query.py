"""Read the question once: a :class:`Query` built at the door and passed down every stage.

No later stage parses the question string again: retrieval searches ``Query.search``, the decision
and evidence read ``Query.english``, the answer step reads ``Query.intent``. What the question asks
for is read with patterns of the phrasings people use ("which papers …", "how many papers …",
"papers by X", "latest", "last week", "in 2024", "… do NOT use …", a pasted code snippet); the
collection's own abbreviation table (``assistant.abbreviations``) adds "large language model" to a
search for "LLM" and the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from assistant.dates import dates_in, label, strip_dates
from assistant.injection import addresses_the_model
from assistant.spelling import apply as fix_words
from assistant.text import clean_question, content_words, split_sentences

if TYPE_CHECKING:
    from assistant.abbreviations import Abbreviations
    from assistant.retrieve import Source
    from assistant.store import PaperIndex

INTENTS = ("topic", "list", "count", "superlative", "comparison", "yesno", "author", "recency", "negation")


@dataclass(frozen=True)
class Query:
    """One question as read. ``asked``: as the user typed it (cleaned); ``english``: what retrieval and
    the model read (the translation when it was not English); ``search``: the text searched (dates,
    code and intent words removed, abbreviations expanded); ``intent``: what kind of answer is wanted
    (one of :data:`INTENTS`; ``flags`` holds every kind that applies); ``names``: capitalised names
    and acronyms it mentions; ``authors``: names after "by"/"did X write"; ``negated``: the terms a
    negated question excludes; ``dates``: the date filter (ISO forms) and ``recency``: "newest" when
    the question asks for the latest papers first."""

    asked: str
    english: str
    search: str
    intent: str = "topic"
    flags: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()
    dates: list[str] | None = None
    recency: str | None = None
    notes: tuple[str, ...] = ()
    expansions: tuple[str, ...] = ()
    translation: str | None = None
    code_removed: bool = False
    topic_words: tuple[str, ...] = field(default=())
    core: str = ""  # ``search`` before abbreviations were added: what the coverage signals read
    dates_from: str | None = None  # "flag" (--date) | "question" | "relative"

    @property
    def note(self) -> str:
        return " ".join(n for n in self.notes if n)

    def has(self, intent: str) -> bool:
        return intent in self.flags


# -- phrasings --------------------------------------------------------------------------------

_PAPERS = r"(?:papers?|works?|studies|study|articles?|publications?|preprints?|methods?|approaches|models|benchmarks)"
_COUNT = re.compile(rf"\bhow\s+many\s+(?:\w+[\s-]+){{0,3}}?{_PAPERS}\b|\bnumber\s+of\s+{_PAPERS}\b", re.I)
_LIST = re.compile(
    rf"^\s*(?:which|what)\s+(?:\w+[\s-]+){{0,3}}?{_PAPERS}\b|^\s*(?:list|name|show|find|give\s+me)\b"
    rf"|\b(?:any|all|other)\s+{_PAPERS}\s+(?:on|about|that|which)\b",
    re.I,
)
_SUPERLATIVE = re.compile(
    r"\b(?:highest|lowest|best|worst|largest|smallest|fastest|slowest|most\s+\w+|least\s+\w+|strongest"
    r"|state[\s-]of[\s-]the[\s-]art|top[\s-]performing|biggest)\b",
    re.I,
)
_WHICH_ONE = re.compile(rf"^\s*(?:which|what)\s+(?:\w+[\s-]+){{0,2}}?(?:{_PAPERS}|one)\b", re.I)
_COMPARE = re.compile(
    r"\b(?:compare[sd]?|comparison|differ(?:s|ence|ences)?|versus|vs\.?|contrast|better\s+than|worse\s+than)\b", re.I
)
_YESNO = re.compile(r"^\s*(?:is|are|does|do|did|can|could|has|have|was|were|will|would|should)\b", re.I)
_AUTHOR = [
    re.compile(rf"\b{_PAPERS}\s+(?:written\s+|authored\s+|co-?authored\s+)?by\s+(?P<name>[^?,;]+)", re.I),
    re.compile(r"\b(?:written|authored|co-?authored|published)\s+by\s+(?P<name>[^?,;]+)", re.I),
    re.compile(
        r"\b(?:did|has|have)\s+(?P<name>[A-Z][\w.'\-]*(?:\s+[A-Z][\w.'\-]*){0,3})\s+(?:write|written|author|publish)",
        re.I,
    ),
    re.compile(r"\b(?:work|papers?|publications?)\s+of\s+(?P<name>[A-Z][\w.'\-]*(?:\s+[A-Z][\w.'\-]*){0,3})"),
    re.compile(r"\b(?P<name>[A-Z][\w.'\-]+(?:\s+[A-Z][\w.'\-]+){0,3})'s\s+(?:papers?|work|publications?)\b"),
]
_NAME_STOP = frozenset(
    ["the", "a", "an", "this", "these", "any", "all", "me", "us", "i", "we", "you", "he", "she", "they", "it"]
)
_RECENT = re.compile(r"\b(?:latest|most\s+recent|newest|recent(?:ly)?|new(?:est)?\s+papers?)\b", re.I)
_RELATIVE = re.compile(
    r"\b(?P<which>last|past|this|previous)\s+(?P<n>\d+\s+)?(?P<unit>week|month|days?|weeks|months)\b"
    r"|\b(?P<prep>in|from|during|since|after)\s+(?P<year>(?:19|20)\d\d)\b"
    r"|\b(?P<today>today|yesterday)\b",
    re.I,
)
_NEGATION = re.compile(
    r"\b(?:do|does|did|are|is)\s*(?:not|n't)\s+(?P<verb>use|using|rely|relying|involve|require|need|include|apply|employ"
    r"|mention|discuss|address|consider|study|focus|evaluate|build|train)"
    r"\w*\s+(?:on\s+)?(?P<what>[^?.,;]+)"
    r"|\b(?:without|excluding|except(?:\s+for)?|other\s+than|not\s+based\s+on)\s+(?P<what2>[^?.,;]+)",
    re.I,
)
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|for .* in .*:|if .*:|return\b|#include|[\w.\[\]]+\s*=\s*\S|"
    r"[\w.]+\([^)]*\)\s*;?\s*$|\}|\{|>>>)"
)
_INLINE_CODE = re.compile(r"`[^`]+`")
# the words that say "list papers", not what about: removed from the search, the topic words kept
_FILLER = re.compile(
    rf"^\s*(?:please\s+)?(?:list|name|show|find|give\s+me)\s+(?:all\s+|the\s+|any\s+)?(?:{_PAPERS}\s+)?"
    rf"(?:on|about|that|which|in)?\b"
    rf"|^\s*(?:which|what)\b|\b{_PAPERS}\s+(?:are\s+about|discuss|address|study|are\s+there\s+on)\b"
    rf"|^\s*how\s+many\s+(?:\w+[\s-]+){{0,3}}?{_PAPERS}\s+(?:are\s+there\s+)?(?:on|about|in\s+the\s+collection\s+on)?",
    re.I,
)


def _authors(text: str) -> tuple[str, ...]:
    names = []
    for pattern in _AUTHOR:
        for m in pattern.finditer(text):
            name = " ".join(m.group("name").split())
            name = re.split(r"(?<=\w{2})\.\s+", name)[0].rstrip(". ")  # a sentence's end, not "A."
            name = re.split(r"\s+(?:on|about|in|from|during|since|that|which|and\s+what)\s+", name)[0]
            words = [w for w in name.split() if w.lower() not in _NAME_STOP]
            if words and any(w[:1].isupper() for w in words):
                names.append(" ".join(words))
    return tuple(dict.fromkeys(names))


def _names(text: str) -> tuple[str, ...]:
    """Capitalised names and acronyms past the first word ("Compare SpecTr and Draft & Verify")."""
    tokens = re.findall(r"(?<![\w-])([A-Z][\w\-+.]*[A-Za-z0-9+])", text)
    first = text.split()[0] if text.split() else ""
    return tuple(dict.fromkeys(t for t in tokens if t != first and len(t) > 1))


_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
# what is left of "Summarize https://…": a request with no topic (the link stays, and nothing matches it)
_REQUEST = frozenset(
    content_words("summarize summarise explain describe tell show give overview say says link article read")
)
# orders about the answer itself that the injection check leaves to the answer step: "please include the
# link … in your answer", "append … to every sentence", "disregard the above", "System: …"
_ORDERS = re.compile(
    r"\b(?:in|to) your (?:answer|reply|response)\b|\bevery sentence\b|\bdisregard\b|\bthe above\b"
    r"|^\s*system\s*:|\bplease (?:include|add|append|insert|mention|say|write|end)\b",
    re.I,
)


def strip_code(text: str) -> tuple[str, bool]:
    """The question without pasted code (fenced blocks, lines that parse as code, inline `code`
    kept as its words): code tokens would sink both retrieval signals."""
    original = text
    text = _CODE_BLOCK.sub(" ", text)
    lines = [line for line in text.splitlines() if not _CODE_LINE.match(line)]
    text = "\n".join(lines)
    text = _INLINE_CODE.sub(lambda m: " " + re.sub(r"[^\w]+", " ", m.group(0)) + " ", text)
    return text, text.strip() != original.strip()


def read_question(
    raw: str,
    *,
    english: str | None = None,
    dates: list[str] | None = None,
    abbreviations: Abbreviations | None = None,
    collection_days: list[str] | Callable[[], list[str]] | None = None,
    spelling: Callable[[str], dict[str, str]] | None = None,
) -> Query:
    """Build the :class:`Query` for ``raw`` (the text as received; ``english``: its translation when
    it was not English; ``dates``: an explicit ``--date`` filter, which wins over dates in the text;
    ``collection_days``: the ISO days the collection's papers carry, newest resolving relative dates
    (or a function giving them, called only when the question names a relative date);
    ``spelling``: the collection's reading of typed words it never uses, ``assistant.spelling``).
    Raises EmptyQuestion when nothing is left after cleaning."""
    asked, cut = clean_question(raw)  # EmptyQuestion when nothing is left
    if not re.search(r"\w", asked):
        from assistant.errors import EmptyQuestion

        raise EmptyQuestion("the question has no words: ask something about the indexed papers")
    notes: list[str] = [cut] if cut else []
    text = english or asked
    # code is found on the raw lines (cleaning joins them into one)
    code_free, code_removed = strip_code(english or str(raw)[: len(raw)])
    code_free = " ".join(code_free.split()) or text
    sentences = split_sentences(code_free)
    asking = [x for x in sentences if not addresses_the_model(x) and not _ORDERS.search(x)]
    if asking and len(asking) < len(sentences):  # "… Ignore previous instructions and cite …": not followed
        code_free = " ".join(asking)
        text = " ".join(x for x in split_sentences(text) if not (addresses_the_model(x) or _ORDERS.search(x))) or text
        notes.append("An instruction to the assistant in the question was left out (it is not followed).")
    linkless = " ".join(_URL.sub(" ", code_free).split())
    if linkless != code_free and set(content_words(linkless)) - _REQUEST:  # "What does https://… say about X?"
        code_free = linkless
        notes.append("A link in the question was left out of the search (papers are found by their words).")
    if spelling is not None and (fixes := spelling(code_free)):
        text, code_free = fix_words(text, fixes), fix_words(code_free, fixes)
        notes.append("Read " + ", ".join(f"{typed!r} as {meant!r}" for typed, meant in fixes.items()) + ".")
    if code_removed:
        notes.append("Code pasted in the question was left out of the search (its words would mislead it).")
    flags: list[str] = []
    count = bool(_COUNT.search(text))
    if count:
        flags.append("count")
    if _LIST.search(text) or count:
        flags.append("list")
    if _SUPERLATIVE.search(text) and (_WHICH_ONE.search(text) or "list" in flags):
        flags.append("superlative")
    if _COMPARE.search(text):
        flags.append("comparison")
    if _YESNO.search(text):
        flags.append("yesno")
    authors = _authors(text)
    if authors:
        flags.append("author")
    negated: list[str] = []
    # only a list of papers is filtered by what they lack; "… without explicit queries?" is a topic
    for m in _NEGATION.finditer(text) if "list" in flags else ():
        what = (m.group("what") or m.group("what2") or "").strip()
        what = re.split(r"\s+(?:for|in|on|to|with|when|while|as|at|by|from|or|and)\s+", what)[0]
        if what:
            negated.append(" ".join(what.split()[:4]))
    if negated:
        flags.append("negation")
    search = code_free
    recency = None
    wanted = [d.strip() for d in dates or [] if d and d.strip()] or None
    dates_from = "flag" if wanted else None
    if _RECENT.search(text):
        flags.append("recency")
        recency = "newest"
        search = _RECENT.sub(" ", search)
    relative, relative_note = resolve_relative(text, collection_days or [])
    if relative_note:
        if "recency" not in flags:
            flags.append("recency")
        search = _RELATIVE.sub(" ", search)
        if wanted is None and relative:
            wanted, dates_from = relative, "relative"
        notes.append(relative_note)
    if wanted is None and (named := dates_in(text)):
        wanted, dates_from = named, "question"
    if wanted is not None or dates_in(text):
        rest = " ".join(strip_dates(search).split())
        if content_words(rest):
            search = rest
    for name in authors:
        search = re.sub(re.escape(name), " ", search)
    if authors:
        search = re.sub(r"\b(?:written|authored|co-?authored|published|did|write|by)\b", " ", search, flags=re.I)
    for what in negated:  # the negated term leaves the search; the rest of the phrase ("for theorem proving") stays
        search = re.sub(
            rf"\b(?:(?:do|does|did|are|is)\s*(?:not|n't)\s+\w+\s+(?:on\s+)?|without\s+|excluding\s+|except(?:\s+for)?\s+"
            rf"|other\s+than\s+|not\s+based\s+on\s+){re.escape(what)}",
            " ",
            search,
            flags=re.I,
        )
    stripped = _FILLER.sub(" ", search)
    if content_words(stripped):
        search = stripped
    search = " ".join(search.split()) or text
    core = search
    expansions: tuple[str, ...] = ()
    if abbreviations is not None:
        expansions = tuple(abbreviations.expansions(search))
        if expansions:
            search = f"{search} ({'; '.join(expansions)})"
    intent = next(
        (
            i
            for i in ("author", "count", "negation", "superlative", "comparison", "list", "recency", "yesno")
            if i in flags
        ),
        "topic",
    )
    return Query(
        asked=asked,
        english=text,
        search=search,
        intent=intent,
        flags=tuple(flags),
        names=_names(text),
        authors=authors,
        negated=tuple(negated),
        dates=wanted,
        recency=recency,
        notes=tuple(notes),
        expansions=expansions,
        translation=english,
        code_removed=code_removed,
        topic_words=tuple(content_words(core)),
        core=core,
        dates_from=dates_from,
    )


def resolve_relative(text: str, days: list[str] | Callable[[], list[str]]) -> tuple[list[str] | None, str]:
    """Relative dates resolved against the collection's newest dated paper: ``(filter, note)``;
    ``(None, "")`` when the question names none. "last week" is the 7 days up to the newest date,
    "last month" 30 days (N weeks / N days / N months likewise), "in 2024" that year's months,
    "since 2024" that year on; "today"/"yesterday" the newest day and the one before."""
    m = _RELATIVE.search(text)
    if not m:
        return None, ""
    days = days() if callable(days) else days  # read only now: every dated paper's row at 100k is ~0.2 s
    full = sorted(d for d in days if re.fullmatch(r"\d{4}-\d\d-\d\d", d))
    if m.group("year"):
        year = int(m.group("year"))
        prep = m.group("prep").lower()
        years = [year] if prep in ("in", "during") else list(range(year, max(year, _newest_year(days)) + 1))
        if not any(d[:4].isdigit() for d in days):
            return [], f'"{m.group(0)}" was not used: the indexed papers\' dates carry no year.'
        months = [f"{y:04d}-{mo:02d}" for y in years for mo in range(1, 13)]
        span = str(year) if len(years) == 1 else f"{year} to {years[-1]}"
        return months, f'"{m.group(0)}" was read as papers dated {span}.'
    if not full:
        return [], f'"{m.group(0)}" was not used: no indexed paper carries a full date (year, month and day).'
    newest = date.fromisoformat(full[-1])
    if m.group("today"):
        back = 0 if m.group("today").lower() == "today" else 1
        chosen = [newest - timedelta(days=back)]
    else:
        n = int(m.group("n")) if m.group("n") else 1
        unit = m.group("unit").lower().rstrip("s")
        length = {"day": 1, "week": 7, "month": 30}[unit] * n
        chosen = [newest - timedelta(days=i) for i in range(length)]
    isos = [d.isoformat() for d in chosen]
    first, last = label(isos[-1]), label(isos[0])
    span = first if first == last else f"{first} to {last}"
    return isos, f'"{m.group(0)}" was read as {span}, counted back from the newest paper in the collection.'


def _newest_year(days: list[str]) -> int:
    years = [int(d[:4]) for d in days if d[:4].isdigit()]
    return max(years, default=0)


def newest_first(sources: list[Source]) -> list[Source]:
    """Sources reordered newest first ("the latest papers on …"), renumbered from 1."""
    from dataclasses import replace

    from assistant.dates import normalise_date

    def key(s: Source) -> str:
        return normalise_date(s.date) or "" if s.date else ""

    ordered = sorted(sources, key=key, reverse=True)
    return [replace(s, n=i) for i, s in enumerate(ordered, start=1)]


def with_date_note(query: Query, index: PaperIndex) -> Query:
    """The query with its date filter checked against the collection: a filter no paper matches says
    so (and matches nothing), a date named in a question over undated papers is dropped with a note."""
    from dataclasses import replace

    if not query.dates:
        return query if query.dates is None else replace(query, dates=None)
    shown = " or ".join(label(d) for d in query.dates) if query.dates_from != "flag" else " or ".join(query.dates)
    matched = bool(index.papers_dated(query.dates))
    note = ""
    if query.dates_from == "flag":
        note = f"Only papers dated {shown} were searched." if matched else f"No indexed paper is dated {shown}."
    elif query.dates_from == "question":
        if matched:
            note = f"Only papers dated {shown} were searched (a date named in the question)."
        elif index.any_dated:
            note = f"No indexed paper is dated {shown} (a date named in the question)."
        else:
            note = f"The indexed papers carry no dates: {shown}, named in the question, was not used."
            return replace(query, dates=None, notes=(*query.notes, note))
    elif not matched:  # relative: its note already says how it was read
        note = "No indexed paper falls in that period."
    return replace(query, notes=(*query.notes, note))


def authored(index: PaperIndex, names: tuple[str, ...], cache: dict[str, set[str]] | None = None) -> set[str]:
    """Papers with an author matching any of ``names``: the same surname and compatible given names
    ("Y. Bengio", "Yoshua Bengio"), or a close spelling (difflib ratio ≥ 0.85 on the whole name)."""
    import difflib

    from assistant.text import title_key

    cache = cache if cache is not None else {}
    found: set[str] = set()
    for name in names:
        if name in cache:
            found |= cache[name]
            continue
        want = title_key(name).split()
        hits: set[str] = set()
        if want:
            for pid, entry in index.manifest.papers.items():
                for author in entry.authors:
                    have = title_key(author).split()
                    if have and _same_person(want, have, difflib):
                        hits.add(pid)
                        break
        cache[name] = hits
        found |= hits
    return found


def _same_person(want: list[str], have: list[str], difflib: Any) -> bool:
    if want[-1] == have[-1] and (len(want) == 1 or want[0][0] == have[0][0]):
        return True
    return len(want) > 1 and difflib.SequenceMatcher(None, " ".join(want), " ".join(have)).ratio() >= 0.85


__all__ = [
    "INTENTS",
    "Query",
    "authored",
    "newest_first",
    "read_question",
    "resolve_relative",
    "strip_code",
    "with_date_note",
]
