"""Living questions: questions saved beside the index, answered again after each ingest, changes reported.

Stored in ``<index>/watch.json``, written whole (beside as ``watch.json.part``, fsync, rename, so a
reader sees the old file or the new one) and changed only under ``<index>/watch.lock`` (a
``filelock``, dropped by the OS if the holder dies), so two processes adding at once both keep theirs::

    {"version": 1, "next_id": 3, "questions": [
      {"id": 1, "question": "…", "added": "2024-09-03T10:00:00Z",
       "last": {"coverage": "none", "cited": [{"paper_id": "…", "title": "…"}],
                "generation": 4, "at": "2024-09-03T10:00:02Z"},     (null until first answered)
       "seen": <a "last" as the user last looked at it (the UI's "mark as seen"), or null>}]}

A question is answered again without a language model: ``AnswerChain.answer(mode="extract")``
(retrieval, rerank, the coverage decision of ``assistant.abstain``, and the cited extract, or the
closest papers, or nothing: ``assistant.result.Answer``'s ``coverage`` and ``citations``). Its
:class:`Change` compares the new answer with the one stored: papers newly cited, papers no longer
cited, coverage before → after. Ids are never reused once removed.

Callers: ``papers watch add|list|remove|run`` (``assistant.watch_cli``), ``ingest`` after a run that
changed the collection (:func:`after_ingest`), the UI's "Watched questions" panel (``assistant.ui.watched``).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.display import short_title
from assistant.errors import IndexError_, IndexLockedError, IndexMissingError, InputError, PapersError, redact
from assistant.storage import write_atomic
from assistant.text import clean_question

if TYPE_CHECKING:
    from assistant.answer import AnswerChain
    from assistant.settings import Settings

WATCH_FILE = "watch.json"
LOCK_FILE = "watch.lock"
LOCK_TIMEOUT_S = 30.0  # an edit holds the lock for milliseconds; a run answers outside it
VERSION = 1
LINE_TITLE = 80  # characters of a title in a one-line change


@dataclass(frozen=True)
class Cited:
    paper_id: str
    title: str


@dataclass(frozen=True)
class Snapshot:
    """One answer as remembered: coverage ("answered" | "closest" | "none"), the papers it cited (in
    citation order), the index generation it was answered on, when (ISO 8601, UTC)."""

    coverage: str
    cited: tuple[Cited, ...]
    generation: int
    at: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        cited = tuple(Cited(str(c["paper_id"]), str(c.get("title", ""))) for c in data.get("cited", []))
        return cls(str(data["coverage"]), cited, int(data.get("generation", 0)), str(data.get("at", "")))

    def as_dict(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "cited": [asdict(c) for c in self.cited],
            "generation": self.generation,
            "at": self.at,
        }


@dataclass(frozen=True)
class Change:
    """What changed for one watched question between two answers (``before`` None: never answered).
    ``error``: the question could not be answered this time (its stored answer is kept)."""

    id: int
    question: str
    before: str | None
    after: str | None
    newly_cited: tuple[Cited, ...] = ()
    no_longer_cited: tuple[Cited, ...] = ()
    generation: int | None = None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and (self.before != self.after or bool(self.newly_cited or self.no_longer_cited))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "changed": self.changed,
            "coverage": {"before": self.before, "after": self.after},
            "newly_cited": [{"paper_id": c.paper_id, "title": short_title(c.title)} for c in self.newly_cited],
            "no_longer_cited": [{"paper_id": c.paper_id, "title": short_title(c.title)} for c in self.no_longer_cited],
            "generation": self.generation,
            "error": self.error,
        }

    def line(self) -> str:
        """One line: ``watched #1 "…": coverage none → answered; newly cited: Title (id); no longer cited: …``."""
        head = f'watched #{self.id} "{short_title(self.question, LINE_TITLE)}"'
        if self.error is not None:
            return f"{head}: could not be answered again: {self.error}"
        parts = [f"coverage {self.before or 'not answered yet'} → {self.after}"] if self.before != self.after else []
        for label, papers in (("newly cited", self.newly_cited), ("no longer cited", self.no_longer_cited)):
            if papers:
                parts.append(
                    f"{label}: " + "; ".join(f"{short_title(c.title, LINE_TITLE)} ({c.paper_id})" for c in papers)
                )
        return f"{head}: " + ("; ".join(parts) or "unchanged")


@dataclass
class Watched:
    """One saved question with its last answer and the answer the user last looked at."""

    id: int
    question: str
    added: str
    last: Snapshot | None = None
    seen: Snapshot | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Watched:
        last, seen = data.get("last"), data.get("seen")
        return cls(
            int(data["id"]),
            str(data["question"]),
            str(data.get("added", "")),
            Snapshot.from_dict(last) if last else None,
            Snapshot.from_dict(seen) if seen else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "added": self.added,
            "last": self.last.as_dict() if self.last else None,
            "seen": self.seen.as_dict() if self.seen else None,
        }

    @property
    def unseen(self) -> Change | None:
        """What changed since the user last looked (``seen`` → ``last``), None when nothing did."""
        if self.last is None:
            return None
        change = diff(self, self.seen, self.last)
        return change if change.changed else None


def diff(watched: Watched, before: Snapshot | None, after: Snapshot) -> Change:
    """The change from ``before`` (None: never answered) to ``after``."""
    was = {c.paper_id for c in before.cited} if before else set()
    now = {c.paper_id for c in after.cited}
    return Change(
        watched.id,
        watched.question,
        before.coverage if before else None,
        after.coverage,
        tuple(c for c in after.cited if c.paper_id not in was),
        tuple(c for c in (before.cited if before else ()) if c.paper_id not in now),
        after.generation,
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(question: str) -> str:
    """What makes two questions the same: the cleaned text, case folded, in one Unicode form (NFKC:
    "café" typed with a combining accent is the same question as with "é")."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", question).casefold())


class WatchList:
    """The watched questions of the index at ``root``. Reads need no lock; every change is a
    read-modify-write under ``watch.lock``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / WATCH_FILE

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"version": VERSION, "next_id": 1, "questions": []}
        try:
            data = json.loads(raw.decode("utf-8"))
            version = data.get("version", VERSION)
            if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
                raise IndexError_(
                    f"the watched questions file {self.path} has version {version!r}, newer than this release "
                    f"reads ({VERSION}) or not a version at all; use the release that wrote it, or move it away "
                    "(nothing was changed)"
                )
            ids = [Watched.from_dict(q).id for q in data["questions"]]  # every entry must read
            if len(set(ids)) != len(ids):
                raise ValueError("two questions have the same id")
            # ids are never reused, even when a hand edit left next_id behind the ids in use
            data["next_id"] = max([int(data.get("next_id", 1)), *(i + 1 for i in ids)])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # UnicodeDecodeError is a ValueError
            raise IndexError_(
                f"the watched questions file {self.path} is damaged ({type(exc).__name__}: {exc}); fix or move it "
                "away (nothing was changed)"
            ) from None
        return data

    def require_index(self) -> None:
        """IndexMissingError when there is no index at ``root`` (nothing is created there)."""
        if not (self.root / "manifest.json").is_file():
            raise IndexMissingError(f"no index at {self.root}: build one with `ingest PATHS`, then watch questions")

    def entries(self) -> list[Watched]:
        """Every watched question, by id."""
        return sorted((Watched.from_dict(q) for q in self._read()["questions"]), key=lambda w: w.id)

    @contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        """The file's data, held under the lock for the ``with`` block and written back after it."""
        from filelock import FileLock, Timeout

        self.require_index()  # the lock file is never created where there is no index
        lock = FileLock(str(self.root / LOCK_FILE), timeout=LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"the watched questions of {self.root} are being changed by another process; try again"
            ) from None
        try:
            data = self._read()
            yield data
            write_atomic(self.path, json.dumps(data, ensure_ascii=False, indent=1) + "\n", suffix=".part")
        finally:
            lock.release()

    def add(self, question: str) -> Watched:
        """Save ``question`` (cleaned as every door cleans it). Raises EmptyQuestion, InputError for a
        question already watched, IndexMissingError when there is no index at ``root``."""
        text, _ = clean_question(question)
        with self._editing() as data:
            for q in data["questions"]:
                if _key(q["question"]) == _key(text):
                    raise InputError(f'already watched as #{q["id"]}: "{short_title(q["question"], LINE_TITLE)}"')
            watched = Watched(int(data.get("next_id", 1)), text, _now())
            data["questions"].append(watched.as_dict())
            data["next_id"] = watched.id + 1
        return watched

    def find(self, key: str) -> Watched:
        """The question with id ``key`` ("3" or "#3"), else with this text. Raises InputError if none."""
        return _find(self.entries(), key, self.root)

    def remove(self, key: str) -> Watched:
        """Forget the question ``key`` (an id or its text); raises InputError when none matches."""
        with self._editing() as data:
            found = _find([Watched.from_dict(q) for q in data["questions"]], key, self.root)
            data["questions"] = [q for q in data["questions"] if int(q["id"]) != found.id]
        return found

    def record(self, answers: dict[int, Snapshot], *, seen: bool = False) -> list[Change]:
        """Store new answers (by question id) and return each one's change from the stored one. A
        question removed meanwhile is skipped, as is an answer older than the stored one (another run
        recorded a newer generation). ``seen``: the user is shown these answers (``watch add``)."""
        changes: list[Change] = []
        with self._editing() as data:
            for q in data["questions"]:
                snapshot = answers.get(int(q["id"]))
                if snapshot is None:
                    continue
                watched = Watched.from_dict(q)
                if watched.last is not None and watched.last.generation > snapshot.generation:
                    continue
                changes.append(diff(watched, watched.last, snapshot))
                q["last"] = snapshot.as_dict()
                if seen:
                    q["seen"] = snapshot.as_dict()
        return changes

    def mark_seen(self, ids: Collection[int] | None = None, *, shown: dict[int, Snapshot] | None = None) -> int:
        """The user looked: every question's (or those in ``ids``) last answer is now its seen one.
        ``shown``: the answers the user was shown, by id: those become the seen ones (an answer
        recorded since, or a question added since, stays unseen). Returns how many were marked."""
        marked = 0
        with self._editing() as data:
            for q in data["questions"]:
                qid = int(q["id"])
                if shown is not None:
                    now = shown[qid].as_dict() if qid in shown else None
                else:
                    now = q.get("last") if ids is None or qid in ids else None
                if now and q.get("seen") != now:
                    q["seen"] = now
                    marked += 1
        return marked


def _find(entries: list[Watched], key: str, root: Path) -> Watched:
    raw = key.strip()
    number = raw.removeprefix("#")
    if number.isdigit():
        for w in entries:
            if w.id == int(number):
                return w
    try:
        text, _ = clean_question(raw)
    except PapersError:
        text = ""
    for w in entries:
        if text and _key(w.question) == _key(text):
            return w
    raise InputError(f"no watched question {raw!r} in {root}: `papers watch list` shows their ids")


# -- answering again ----------------------------------------------------------------------------------


def answer_now(chain: AnswerChain, question: str) -> Snapshot:
    """``question`` answered by the chain with no model (``mode="extract"``), remembered as a Snapshot."""
    generation = chain.retriever.index.manifest.generation  # refreshes to the newest committed one
    answer = chain.answer(question, mode="extract")
    cited = tuple(Cited(str(c["paper_id"]), str(c["title"])) for c in answer.citations)
    return Snapshot(answer.coverage, cited, generation, _now())


def run(chain: AnswerChain, ids: Collection[int] | None = None, *, seen: bool = False) -> list[Change]:
    """Answer every watched question (or those in ``ids``) of the chain's index again, store the
    answers, and return one Change per question asked, by id (``.changed``: anything changed;
    ``.error``: it could not be answered, e.g. a language no model translates; its answer is kept)."""
    watch = WatchList(chain.retriever.index.root)
    asked = [w for w in watch.entries() if ids is None or w.id in ids]
    answers: dict[int, Snapshot] = {}
    failed: list[Change] = []
    for w in asked:
        try:
            answers[w.id] = answer_now(chain, w.question)
        except PapersError as exc:
            failed.append(Change(w.id, w.question, None, None, error=redact(str(exc))))
    changes = watch.record(answers, seen=seen) + failed
    return sorted(changes, key=lambda c: c.id)


@dataclass
class WatchReport:
    """``watch run --json`` and the ``watch`` key of ``ingest --json``: how many questions are watched,
    how many changed, the ones that changed or failed (``Change.as_dict``); ``error``: none could be
    answered (the chain could not be opened), the stored answers are kept."""

    watched: int
    changes: list[Change] = field(default_factory=list)
    error: str | None = None

    @property
    def reported(self) -> list[Change]:
        return [c for c in self.changes if c.changed or c.error]

    def as_dict(self) -> dict[str, Any]:
        return {
            "watched": self.watched,
            "changed": sum(c.changed for c in self.changes),
            "changes": [c.as_dict() for c in self.reported],
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """One line per changed (or failed) question; nothing when nothing changed."""
        if self.error is not None:
            return [f"watched questions not answered again: {self.error}"]
        return [c.line() for c in self.reported]


def behind(root: Path, generation: int) -> int:
    """How many watched questions of the index at ``root`` were last answered on a generation older
    than ``generation`` (or never answered): a run killed after its commit left them so."""
    return sum(w.last is None or w.last.generation < generation for w in WatchList(root).entries())


def after_ingest(settings: Settings, changed: bool) -> WatchReport | None:
    """After an ingest (or a fetch): when it ``changed`` the collection (or its calibration), or when
    any watched question was last answered on an older generation than the index's (a run killed
    between its commit and this step leaves them so; the next run catches up), answer every watched
    question again on the current generation; otherwise None and nothing runs. Never raises a
    PapersError: the ingest is committed whatever happens here (``WatchReport.error`` says why)."""
    watched = 0
    try:
        root = settings.index.path
        watched = len(WatchList(root).entries())
        if not watched or not (changed or behind(root, _generation(root))):
            return None
        from assistant.answer import AnswerChain

        chain = AnswerChain(settings)
        try:
            changes = run(chain)
        finally:
            chain.retriever.index.close()
    except (PapersError, OSError) as exc:  # OSError: a watch.json this user cannot read or write
        return WatchReport(watched, error=redact(str(exc)))
    return WatchReport(len(changes), changes)


def _generation(root: Path) -> int:
    """The committed generation named by the index's manifest (0 when it cannot be read: the chain
    opening it says why)."""
    try:
        return int(json.loads((root / "manifest.json").read_bytes())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
