"""Generation: one committed state of the index as a reader holds it, with what is read once per
state (the calibration, the abbreviation table, the short names of papers, the dates, whether any
paper has authors) and how many questions are using it right now."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.abbreviations import ABBREVIATIONS_FILE, Abbreviations
from assistant.abstain import Calibration
from assistant.evidence import short_name
from assistant.retrieve import Retriever

__all__ = ["Generation"]


@dataclass
class Generation:
    """One committed state of the index as a reader holds it: the open index (in its retriever), the
    calibration stored with it, and how many questions are using it right now."""

    retriever: Retriever
    calibration: Calibration | None
    calibration_stamp: tuple[int, int, int] | None
    users: int = 0
    retired: bool = False

    _abbreviations: Abbreviations | None = None
    _days: list[str] | None = None
    _names: dict[str, list[str]] | None = None
    _has_authors: bool | None = None
    authors: dict[str, set[str]] = field(default_factory=dict)  # author name -> papers (cache)

    def release(self) -> None:
        """Close the index once it is retired and no question uses it (its Chroma clients and memory)."""
        if self.retired and self.users == 0:
            self.retriever.index.close()

    def abbreviations(self) -> Abbreviations:
        """This generation's abbreviation table: stored beside the manifest, else built once here."""
        if self._abbreviations is None:
            index = self.retriever.index
            stored = Abbreviations.load(index.root / ABBREVIATIONS_FILE)
            generation = index.manifest.generation
            if stored is None or stored.generation != generation:
                stored = Abbreviations.build((e.abstract for e in index.manifest.papers.values()), generation)
            self._abbreviations = stored
        return self._abbreviations

    def names(self) -> dict[str, list[str]]:
        """Short name → papers ("PaSS: Parallel Speculative Sampling" → "PaSS"), built once here."""
        if self._names is None:
            names: dict[str, list[str]] = {}
            for pid, entry in self.retriever.index.manifest.papers.items():
                if name := short_name(entry.title):
                    names.setdefault(name, []).append(pid)
            self._names = names
        return self._names

    def has_authors(self) -> bool:
        """Does any paper of this generation carry authors? (read once)"""
        if self._has_authors is None:
            self._has_authors = any(e.authors for e in self.retriever.index.manifest.papers.values())
        return self._has_authors

    def days(self) -> list[str]:
        """The ISO days this generation's papers carry (relative dates count back from the newest)."""
        if self._days is None:
            self._days = sorted({day for _, day, _ in self.retriever.index.manifest.papers.dates() if day})
        return self._days
