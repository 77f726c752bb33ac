"""What a reader yields: one paper record, or one skipped record with its reason; text cleaning.

Every reader builds ``Paper`` objects, so cleaning happens once, at read time, for every format
(:func:`clean_text`): HTML entities decoded once, invisible and format characters removed, controls
dropped, whitespace collapsed, NFC. A record's own id is :func:`base_id` (its arXiv id, DOI or
title key); when two records are one paper, and which id a second paper of one title gets, is
``ingest.identity``'s job.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field

from assistant.text import SEGMENTER, title_key
from ingest.paths import safe_text

_URL = re.compile(r"https?://[^\s)\]>,;}\"']+")
# New-style (2401.01234v2) and old-style (hep-th/9901001) arXiv ids, not digits inside a longer number.
_ARXIV_ID = re.compile(r"(?<!\d)(\d{4}\.\d{4,5})(?:v(\d+))?(?!\d)|\b([a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?\b")
_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)", re.I)
ARXIV_DOI_PREFIX = "10.48550/"  # only arXiv's own DOIs name an arXiv paper; 10.1109/CVPR.2023.00371 does not
# Character references with their semicolon only: "&amp;" and "&#233;" decode, while "&section=2" in a
# URL or "&timestamp" in prose stay as written (html.unescape alone also decodes "&sect" and "&times").
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Characters that render as nothing or steer layout: zero-width space/joiners, soft hyphen, BOM,
# bidi marks (Unicode category Cf), and C0/C1 controls (Cc) other than whitespace.
_WHITESPACE_CONTROLS = {"\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85"}


@dataclass
class Paper:
    """One record. ``title``/``abstract`` are cleaned on construction; ``arxiv_id`` is normalised
    (version dropped, kept in ``arxiv_version``); ``doi`` is lower-cased without a resolver prefix."""

    title: str
    abstract: str
    source: str
    line: int | None = None
    arxiv_id: str | None = None
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    url: str | None = None
    links: list[str] = field(default_factory=list)
    doi: str | None = None
    arxiv_version: int | None = None
    # field -> the source that gave it, for fields another record of this paper filled (ingest.identity.combine)
    origins: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.abstract = clean_text(self.abstract)
        self.source = safe_text(self.source)  # a path or label: valid UTF-8 however it was built (ingest.paths)
        if self.arxiv_id:
            raw = clean_text(self.arxiv_id)
            doi = normalise_doi(raw)
            if doi and not doi.startswith(ARXIV_DOI_PREFIX):  # an id field holding a DOI
                self.arxiv_id, self.doi = None, self.doi or doi
            else:
                self.arxiv_id = normalise_arxiv_id(raw)
                self.arxiv_version = self.arxiv_version or arxiv_version(raw)
        if self.doi:
            self.doi = normalise_doi(clean_text(self.doi))  # ids are stored and looked up: no lone surrogate
            if self.doi and self.doi.startswith(ARXIV_DOI_PREFIX) and not self.arxiv_id:
                self.arxiv_id = normalise_arxiv_id(self.doi)  # arXiv's own DOIs (10.48550/arXiv.X)
        self.date = clean_text(self.date) or None if self.date else None
        self.url = clean_text(self.url) or None if self.url else None
        self.authors = [a for a in (clean_text(x) for x in self.authors) if a]
        if not self.links:
            self.links = [u.rstrip(".") for u in _URL.findall(self.abstract)]

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    @property
    def paper_id(self) -> str:
        """The id a new paper gets: ``arxiv:<id>``, else ``doi:<doi>``, else a hash of the title key
        (of title and abstract when the title has no letters or digits). See ``ingest.identity``."""
        return base_id(self)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or shown changes, the sentence splitter included."""
        payload = "\x1f".join([self.title, self.abstract, self.date or "", self.url or "", SEGMENTER])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def base_id(paper: Paper) -> str:
    """``arxiv:<id>``, else ``doi:<doi>``, else ``title:<sha1 of the title key>``, else (a title with
    no letters or digits) ``text:<sha1 of title and abstract>``."""
    if paper.arxiv_id:
        return f"arxiv:{paper.arxiv_id}"
    if paper.doi:
        return f"doi:{paper.doi}"
    key = paper.title_key
    if key:
        return "title:" + hashlib.sha1(key.encode()).hexdigest()[:16]
    return "text:" + hashlib.sha1(f"{paper.title}\x1f{paper.abstract}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Skipped:
    source: str
    line: int | None
    reason: str

    @property
    def where(self) -> str:
        """``file:line``, or ``file`` when the record has no line (an item of a JSON list, a feed entry)."""
        return f"{self.source}:{self.line}" if self.line else self.source

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "reason": self.reason}


def clean_text(text: object) -> str:
    """Text as a reader should store it: character references decoded once (``&amp;`` → ``&``; only
    complete ones, with their semicolon), format and control characters removed, whitespace
    collapsed, NFC. Non-strings are converted with ``str``."""
    text = _ENTITY.sub(lambda m: html.unescape(m.group(0)), str(text))
    text = "".join(
        " " if ch in _WHITESPACE_CONTROLS else ch
        for ch in text
        if ch in _WHITESPACE_CONTROLS or unicodedata.category(ch) not in {"Cf", "Cc", "Cs"}
    )
    return " ".join(unicodedata.normalize("NFC", text).split())


def normalise_arxiv_id(raw: str) -> str | None:
    """``http://arxiv.org/abs/2401.01234v2`` -> ``2401.01234``; None for ids that are not arXiv ids.

    Any other id (a row number, a database key) is dropped rather than kept as an arXiv id: ids
    are the de-duplication key, and two collections numbering their rows 1, 2, 3 would otherwise
    merge unrelated papers. Such papers are identified by their DOI or their title instead.
    """
    match = _ARXIV_ID.search(raw)
    return (match.group(1) or match.group(3)) if match else None


def arxiv_version(raw: str) -> int | None:
    """The ``vN`` of an arXiv id (``2401.01234v2`` -> 2), or None."""
    match = _ARXIV_ID.search(raw)
    version = match and (match.group(2) or match.group(4))
    return int(version) if version else None


def normalise_doi(raw: str) -> str | None:
    """``https://doi.org/10.1145/X`` -> ``10.1145/x`` (DOIs are case-insensitive); None if no DOI."""
    match = _DOI.search(raw)
    return match.group(1).rstrip(".,;").lower() if match else None
