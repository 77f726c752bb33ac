"""BibTeX for stored papers: escaped field values, stable unique keys, ``@misc`` entries.

Input: ``{paper id: PaperEntry}`` (``assistant.catalog``: title, authors, date/day, url, arxiv_id,
doi, version). Output: BibTeX text, one ``@misc`` per paper, in the order given::

    @misc{happydebiased-3f2a1c,
      title = {{Happy: A Debiased Learning Framework for ... Discovery}},
      month = sep,
    }

An arXiv paper gets ``eprint``, ``archivePrefix = {arXiv}``, ``url`` (its abs page) and, when its
record has no year, the year and month its arXiv id encodes; any paper gets ``author``, ``year``,
``month`` (a month macro), biblatex's ``date``, ``doi`` and ``url`` when its record holds them.
Nothing is invented: a Daily Papers listing gives "Sep 3", so such an entry has a month and no year.

Keys (:func:`cite_key`) are a pure function of the paper: ``<first author's last name or first title
word><year><next title word>-<6 hex of sha256(paper id)>``, so the same paper has the same key in
every export, except when another paper cited in the same file would get the same key: then both
get a longer hash in that file (:func:`unique_keys`).

Escaping is our own small function (:func:`escape_text`) rather than a library's: the rules needed
are few and exact, and a product dependency (latexcodec, pylatexenc) would decode as much as it
encodes. A title is text, so every LaTeX special character is written as the command that prints
it; braces become ``\\textbraceleft{}``/``\\textbraceright{}`` (BibTeX counts even backslashed
braces, so ``\\{`` in an unbalanced title would break the file); accented Latin letters become
brace-protected accent commands (``{\\"{o}}``), which survive BibTeX's case changes and sorting
under pdfLaTeX; other non-ASCII characters are kept as UTF-8 (biber, XeLaTeX, LuaLaTeX and
pdfLaTeX's default UTF-8 input read them). One exception: an inline math span ``$...$`` whose
commands are all in a small list of math symbols and fonts (``$\\ell_1$``, ``$O(n^2)$``) is kept as
written, since arXiv titles are LaTeX; any other ``\\command`` (``\\input``, ``\\write``, a
``\\textbf`` in prose) is text, so a scraped title cannot make LaTeX read a file or run anything.
``tests/test_export.py`` parses every paper of the bundled corpus with pybtex and decodes the
titles back with pylatexenc.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING

from assistant.text import title_key

if TYPE_CHECKING:
    from assistant.catalog import PaperEntry

__all__ = ["bibtex", "cite_key", "entry", "escape_text", "unique_keys"]

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_ACCENTS = {  # combining mark -> LaTeX accent command
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0306": "u",
    "\u0307": ".",
    "\u0308": '"',
    "\u030a": "r",
    "\u030b": "H",
    "\u030c": "v",
    "\u0323": "d",
    "\u0327": "c",
    "\u0328": "k",
    "\u0331": "b",
}
_LETTERS = {
    "ß": r"{\ss}",
    "æ": r"{\ae}",
    "Æ": r"{\AE}",
    "œ": r"{\oe}",
    "Œ": r"{\OE}",
    "ø": r"{\o}",
    "Ø": r"{\O}",
    "ł": r"{\l}",
    "Ł": r"{\L}",
    "ı": r"{\i}",
    "ȷ": r"{\j}",
}
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi varpi "
    "rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma "
    "Upsilon Phi Psi Omega"
)
_SYMBOLS = (
    "ell infty partial nabla times cdot cdots ldots dots pm mp le leq ge geq neq ne ll gg approx sim simeq "
    "equiv propto to rightarrow leftarrow Rightarrow Leftarrow leftrightarrow mapsto in notin subset subseteq "
    "supset cup cap setminus forall exists emptyset sum prod int oint log ln exp sin cos tan max min arg "
    "argmax argmin lim sup inf det dim deg sqrt frac tfrac dfrac binom hat widehat tilde widetilde bar vec "
    "dot ddot overline underline mathcal mathbb mathbf mathrm mathit mathsf mathtt mathfrak boldsymbol text "
    "textrm operatorname left right big Big bigl bigr langle rangle lceil rceil lfloor rfloor star ast circ "
    "prime top perp mid parallel quad qquad bot wedge vee oplus otimes odot cdotp colon"
)
MATH_COMMANDS = frozenset((_GREEK + " " + _SYMBOLS).split())  # what a kept $...$ span may use
_MATH_SPAN = re.compile(r"(?<![\\$])\$([^$]+)\$(?!\$)")
_STOP_WORDS = (
    "a an the of for and on in with to via from by is are at as towards toward we our do does not can "
    "how what when why which"
)
_STOP = frozenset(_STOP_WORDS.split())


# -- escaping ------------------------------------------------------------------------------------


def _char(ch: str) -> str:
    """One character of text as LaTeX that prints it."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch.isascii():
        return ch
    if ch in _LETTERS:
        return _LETTERS[ch]
    base, *marks = unicodedata.normalize("NFD", ch)
    if not (base.isascii() and base.isalpha() and marks and all(m in _ACCENTS for m in marks)):
        return ch  # kept as UTF-8: Greek, CJK, symbols, a Latin letter with a mark LaTeX has no command for
    out = r"\i" if base == "i" else r"\j" if base == "j" else base
    for mark in marks:
        out = f"\\{_ACCENTS[mark]}{{{out}}}"
    return "{" + out + "}"


_LIGATURE = re.compile(r"(?<=-)(?=-)|(?<=`)(?=`)|(?<=')(?=')|(?<=,)(?=,)|(?<=[!?])(?=`)")  # --, ``, '', ,, !` ?`


def _plain(text: str) -> str:
    """Text with every character escaped, and ``{}`` between the pairs TeX's fonts would join into
    one glyph (``--`` an en dash, ``''`` a closing quote), so what prints is what was stored."""
    return "".join(_char(ch) for ch in _LIGATURE.sub("\x00", text)).replace("\x00", "{}")


def safe_math(body: str) -> bool:
    """May ``$body$`` be written as is? Only listed commands, single-character escapes, no ``%``,
    ``#``, ``&`` or ``^^`` (TeX's notation for any character, a backslash included), braces
    balanced both as TeX reads them and as BibTeX counts them (every brace character), ASCII only,
    no space at either end."""
    if not body.strip() or body != body.strip() or not body.isascii() or not body.isprintable():
        return False
    if "^^" in body:  # TeX reads ^^5c as a backslash (^^ and two hex digits: any character), so
        return False  # $^^5cinput{x}$ would run \input: never kept
    tex_depth = 0
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            name = re.match(r"[A-Za-z]+", body[i + 1 :])
            if name:
                if name.group() not in MATH_COMMANDS:
                    return False
                i += 1 + len(name.group())
                continue
            if i + 1 >= len(body) or body[i + 1] not in ",;:! {}|_%&#$":
                return False
            i += 2
            continue
        if ch in "%#&":
            return False
        if ch in "{}":
            tex_depth += 1 if ch == "{" else -1
            if tex_depth < 0:
                return False
        i += 1
    return tex_depth == 0 and _bibtex_balanced(body)


def _bibtex_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in "{}":
            depth += 1 if ch == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def escape_text(text: str) -> str:
    """``text`` as a BibTeX field value that LaTeX prints as ``text`` (whitespace collapsed, control
    and format characters dropped); a safe inline math span is kept (see the module docstring).
    The result never holds an unbalanced brace."""
    kept = (
        ch for ch in unicodedata.normalize("NFC", text) if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    cleaned = "".join(kept)
    cleaned = " ".join(cleaned.split())
    out: list[str] = []
    last = 0
    for match in _MATH_SPAN.finditer(cleaned):
        if safe_math(match.group(1)):
            out.append(_plain(cleaned[last : match.start()]))
            out.append(match.group())
            last = match.end()
    out.append(_plain(cleaned[last:]))
    return "".join(out)


def _verbatim(value: str) -> str:
    """A URL, DOI or eprint as written, with what cannot be in one percent-encoded (braces,
    backslash, whitespace, controls), so the value is always balanced."""
    return "".join(
        f"%{ord(ch):02X}" if ch in "{}\\" or ch.isspace() or not ch.isprintable() else ch for ch in value.strip()
    )


def _name(name: str) -> str:
    """One author for ``author = {A and B}``: a name holding the word "and", or more than one comma,
    is braced whole so BibTeX takes it as one name."""
    escaped = escape_text(name)
    if re.search(r"\band\b", name, re.I) or name.count(",") > 1:
        return "{" + escaped + "}"
    return escaped


# -- dates ---------------------------------------------------------------------------------------

_ISO = re.compile(r"(?:(\d{4})|-)-?(?:(\d{2})(?:-(\d{2}))?)?")
_NEW_ARXIV = re.compile(r"(\d{2})(\d{2})\.\d{4,5}")
_OLD_ARXIV = re.compile(r"[a-z-]+(?:\.[A-Za-z]{2})?/(\d{2})(\d{2})\d{3}")


def date_parts(paper: PaperEntry) -> tuple[int | None, int | None, int | None]:
    """(year, month, day) the record gives (its ISO day, else its raw date parsed). A record with no
    year but an arXiv id takes the id's year and month (``2409.01234``: September 2024) and no day;
    nothing is guessed otherwise."""
    from assistant.dates import normalise_date

    iso = paper.day or normalise_date(paper.date)
    year = month = day = None
    if iso and (m := _ISO.fullmatch(iso)):
        year = int(m.group(1)) if m.group(1) else None
        month = int(m.group(2)) if m.group(2) else None
        day = int(m.group(3)) if m.group(3) else None
    arxiv = _NEW_ARXIV.fullmatch(paper.arxiv_id or "") or _OLD_ARXIV.fullmatch(paper.arxiv_id or "")
    if arxiv and year is None:  # a listing's "Jun 12" may be years after the paper: the id's month wins
        yy, mm = int(arxiv.group(1)), int(arxiv.group(2))
        year, month, day = (2000 if yy < 91 else 1900) + yy, mm, None
    if month is not None and not 1 <= month <= 12:
        month = day = None
    return year, month, day


# -- keys ----------------------------------------------------------------------------------------


def _ascii(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower())


def _title_words(title: str) -> list[str]:
    words = [_ascii(w) for w in title_key(title).split()]
    return [w for w in words if w and w not in _STOP]


def _last_name(author: str) -> str:
    name = author.split(",")[0] if "," in author else (author.split() or [""])[-1]
    return _ascii(name)


def key_hash(paper_id: str, length: int = 6) -> str:
    return hashlib.sha256(paper_id.encode("utf-8")).hexdigest()[:length]


def cite_key(paper_id: str, paper: PaperEntry, hash_length: int = 6) -> str:
    """The paper's key, a function of the paper alone: ``vaswani2017attention-1c3f9a``, or without
    authors ``happy2024debiased-3f2a1c`` (first two title words). ASCII letters and digits only,
    then ``-`` and hex."""
    words = _title_words(paper.title)
    year, _, _ = date_parts(paper)
    first = _last_name(paper.authors[0]) if paper.authors else ""
    if first:
        rest = words[:1]
    else:
        first, rest = (words[0], words[1:2]) if words else ("paper", [])
    base = (first[:20] + (str(year) if year else "") + "".join(rest)[:20]) or "paper"
    return f"{base}-{key_hash(paper_id, hash_length)}"


def unique_keys(papers: Mapping[str, PaperEntry]) -> dict[str, str]:
    """paper id -> key for one file: :func:`cite_key`, with the hash lengthened (12, then 64 hex)
    for papers whose keys would still collide (two different ids with the same 6 hex)."""
    keys: dict[str, str] = {}
    for length in (6, 12, 64):
        pending = [pid for pid in papers if pid not in keys]
        candidates = {pid: cite_key(pid, papers[pid], length) for pid in pending}
        taken = set(keys.values())
        counts: dict[str, int] = {}
        for key in candidates.values():
            counts[key] = counts.get(key, 0) + 1
        for pid, key in candidates.items():
            if (counts[key] == 1 and key not in taken) or length == 64:
                keys[pid] = key
    return {pid: keys[pid] for pid in papers}


# -- entries -------------------------------------------------------------------------------------


def entry(paper_id: str, paper: PaperEntry, key: str) -> str:
    """One ``@misc`` entry (see the module docstring for its fields)."""
    fields: list[tuple[str, str]] = [("title", "{{" + escape_text(paper.title) + "}}")]
    if paper.authors:
        fields.append(("author", "{" + " and ".join(_name(a) for a in paper.authors) + "}"))
    year, month, day = date_parts(paper)
    if year:
        fields.append(("year", "{" + str(year) + "}"))
    if month:
        fields.append(("month", MONTHS[month - 1]))  # the standard macro: styles print it localised
    if year:
        iso = f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if month and day else "")
        fields.append(("date", "{" + iso + "}"))
    url = paper.url
    if paper.arxiv_id:
        fields.append(("eprint", "{" + _verbatim(paper.arxiv_id) + "}"))
        fields.append(("archivePrefix", "{arXiv}"))
        if paper.version:
            fields.append(("version", "{" + str(paper.version) + "}"))
        if not url or "arxiv.org/" not in url:
            url = f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.doi:
        fields.append(("doi", "{" + _verbatim(paper.doi) + "}"))
    if url and re.match(r"https?://", url, re.I):
        fields.append(("url", "{" + _verbatim(url) + "}"))
    body = "".join(f"  {name} = {value},\n" for name, value in fields)
    return f"@misc{{{key},\n{body}}}\n"


def bibtex(papers: Mapping[str, PaperEntry]) -> str:
    """BibTeX for ``papers`` (paper id -> entry), in their order, keys unique within the text."""
    keys = unique_keys(papers)
    return "\n".join(entry(pid, paper, keys[pid]) for pid, paper in papers.items())
