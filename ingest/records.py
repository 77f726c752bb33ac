"""What a reader yields: one paper record, or one skipped record with its reason."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from assistant.text import SEGMENTER

_URL = re.compile(r"https?://[^\s)\]>,;}\"']+")
# New-style (2401.01234v2) and old-style (hep-th/9901001) arXiv ids, not digits inside a longer number.
_ARXIV_ID = re.compile(r"(?<!\d)(\d{4}\.\d{4,5})(?:v\d+)?(?!\d)|\b([a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\b")


@dataclass
class Paper:
    title: str
    abstract: str
    source: str
    line: int | None = None
    arxiv_id: str | None = None
    date: str | None = None
    authors: list[str] = field(default_factory=list)
    url: str | None = None
    links: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.abstract = clean_text(self.abstract)
        if self.arxiv_id:
            self.arxiv_id = normalise_arxiv_id(self.arxiv_id)
        if not self.links:
            self.links = [u.rstrip(".") for u in _URL.findall(self.abstract)]

    @property
    def title_key(self) -> str:
        return title_key(self.title)

    @property
    def paper_id(self) -> str:
        """Stable id: the arXiv id when known, else a hash of the normalised title."""
        if self.arxiv_id:
            return f"arxiv:{self.arxiv_id}"
        return "title:" + hashlib.sha1(self.title_key.encode()).hexdigest()[:16]

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is embedded or shown changes, the sentence splitter included."""
        payload = "\x1f".join([self.title, self.abstract, self.date or "", self.url or "", SEGMENTER])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Skipped:
    source: str
    line: int | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "reason": self.reason}


def clean_text(text: str) -> str:
    """NFC-normalise and collapse whitespace (dumps carry stray newlines and NBSPs)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def title_key(title: str) -> str:
    """Case-, accent- and punctuation-insensitive key: the same paper from two feeds matches."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", folded).split())


def normalise_arxiv_id(raw: str) -> str | None:
    """``http://arxiv.org/abs/2401.01234v2`` -> ``2401.01234``; None for ids that are not arXiv ids.

    Any other id (a row number, a DOI, a database key) is dropped rather than kept as an arXiv id:
    ids are the de-duplication key, and two collections numbering their rows 1, 2, 3 would
    otherwise merge unrelated papers. Such papers are identified by their title instead.
    """
    match = _ARXIV_ID.search(raw)
    return (match.group(1) or match.group(2)) if match else None
