"""Raw responses, their provenance and the resume state of ``papers fetch``, under the index.

::

    <index>/fetched/.lock                          one fetch per index at a time (filelock)
    <index>/fetched/<source>/.last-request         when the last request to that API ended (pacing)
    <index>/fetched/daily/2024-09-03/job.json      a job: what is asked, its runs, its pages
    <index>/fetched/daily/2024-09-03/0000.json     the raw responses, numbered in the order fetched
    <index>/fetched/arxiv/<sha256(query)[:12]>/0000.xml

``job.json`` is the provenance record and the resume state at once: for each run (a first fetch,
a ``--refresh``, a new look at today's papers) the pages it fetched, each with its URL, when,
its status, the sha256 of the saved bytes, the file, the papers read from it (arXiv id or title)
and whether it has been ingested. Every paper in the index names its file (``sources``, relative
to the index: ``fetched/daily/2024-09-03/0000.json#item2``, see ``ingest.paths.index_source``), so a
paper leads to its response and the response to its URL, wherever the index is moved. A response is written to a hidden
temporary file and renamed, and ``job.json`` is replaced atomically after it, so a killed run
leaves only complete pages listed; the next run fetches the pages not listed and ingests the
pages not ingested. A page whose bytes equal a saved page's is not saved twice.

``Store(index, scratch=DIR)`` (``--dry-run``) reads the index's jobs but writes to ``DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from assistant.errors import IndexError_, IndexLockedError

FOLDER = "fetched"
JOB_FILE = "job.json"
JOB_FORMAT = 1


def now() -> str:
    """The current UTC time as ISO 8601 (seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Page:
    """One saved response: a ``file`` of its job's folder, from ``url`` asked with ``params``.
    ``papers``: what the readers found in it (``arXiv:<id>`` or ``title:<title>``); ``entries``:
    the records it held (papers plus skipped ones: error entries, records without an abstract)."""

    file: str
    url: str
    status: int
    sha256: str
    fetched_at: str
    params: dict[str, Any] = field(default_factory=dict)  # the query parameters asked (the URL holds them too)
    papers: list[str] = field(default_factory=list)
    entries: int = 0
    total: int | None = None  # results the API says the query has (arXiv's opensearch:totalResults)
    ingested: bool = False


@dataclass
class Run:
    """One pass over a job's pages; ``complete`` once its last page was fetched."""

    started: str
    pages: list[Page] = field(default_factory=list)
    complete: bool = False
    finished: str | None = None
    note: str = ""  # why it stopped, when that is worth saying (an empty page before the stated total)


@dataclass
class Job:
    """What is fetched: ``source`` (``daily`` or ``arxiv``), ``key`` (its folder name), ``params``
    (the day, or the query and page size) and its runs, oldest first."""

    source: str
    key: str
    params: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    format: int = JOB_FORMAT

    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def pages(self) -> Iterator[Page]:
        for run in self.runs:
            yield from run.pages

    def saved(self, sha256: str) -> Page | None:
        """A page already saved with these bytes."""
        return next((p for p in self.pages() if p.sha256 == sha256), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        runs = [Run(**{**r, "pages": [Page(**p) for p in r.get("pages", [])]}) for r in data.get("runs", [])]
        return cls(data["source"], data["key"], dict(data["params"]), runs, int(data.get("format", JOB_FORMAT)))


class Store:
    """The ``fetched/`` folder of one index (see the module docstring). ``scratch``: write there instead
    (a dry run), reading the index's own jobs and responses where ``scratch`` has none."""

    def __init__(self, index_dir: Path, scratch: Path | None = None) -> None:
        self.root = index_dir / FOLDER
        self.out = scratch if scratch is not None else self.root

    def folder(self, job: Job, *, writing: bool = False) -> Path:
        return (self.out if writing else self.root) / job.source / job.key

    def path(self, job: Job, file: str) -> Path:
        """Where a page's file is: the scratch folder first (a dry run's new pages), else the index."""
        mine = self.folder(job, writing=True) / file
        return mine if mine.exists() else self.folder(job) / file

    def stamp(self, source: str) -> Path:
        return self.out / source / ".last-request"

    def job(self, source: str, key: str, params: dict[str, Any]) -> Job:
        """The job saved under ``source/key`` (the scratch copy first), or a new one. A ``job.json``
        that cannot be read (or asks something else) is an IndexError_ naming it: it is the only
        record of where the saved responses came from, so it is never overwritten."""
        for base in dict.fromkeys([self.out, self.root]):
            file = base / source / key / JOB_FILE
            try:
                text = file.read_bytes().decode("utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                raise _damaged(file, exc) from None
            try:
                job = Job.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise _damaged(file, exc) from None
            if job.source != source or job.key != key or job.params != params:
                raise _damaged(file, ValueError(f"it records {job.source}/{job.key} {job.params}, not {params}"))
            return job
        return Job(source, key, dict(params))

    def save_response(self, job: Job, body: bytes, suffix: str) -> tuple[str, str]:
        """Write ``body`` as the job's next numbered file (atomically); returns (file name, sha256)."""
        folder = self.folder(job, writing=True)
        folder.mkdir(parents=True, exist_ok=True)
        taken = [int(p.stem) for p in folder.glob(f"*{suffix}") if p.stem.isdigit()]
        taken += [int(Path(p.file).stem) for p in job.pages() if Path(p.file).stem.isdigit()]
        name = f"{max(taken, default=-1) + 1:04d}{suffix}"
        _write_atomic(folder / name, body)
        return name, hashlib.sha256(body).hexdigest()

    def save_job(self, job: Job) -> None:
        folder = self.folder(job, writing=True)
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(job), indent=1, ensure_ascii=False) + "\n"
        _write_atomic(folder / JOB_FILE, text.encode("utf-8"))

    def clear_leftovers(self, job: Job) -> None:
        """Temporary files a killed run left in this job's folder."""
        for leftover in self.folder(job, writing=True).glob(".*.tmp"):
            leftover.unlink(missing_ok=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One fetch per index at a time: IndexLockedError if another holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise IndexLockedError(
                f"another `papers fetch` is writing {self.root}; wait for it to finish (fetches into one index "
                "are refused, not interleaved)"
            ) from None
        try:
            yield
        finally:
            lock.release()


def _damaged(file: Path, exc: Exception) -> IndexError_:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return IndexError_(
        f"the fetch record {file} cannot be read ({type(exc).__name__}: {why[:200]}); fix or move it away "
        "(nothing was changed: the responses beside it are kept)"
    )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file beside ``path``, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
