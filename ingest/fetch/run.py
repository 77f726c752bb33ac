"""One ``papers fetch``: fetch each job's missing pages, save them, ingest what is not ingested yet.

For each job of the source (``daily``: a day; ``arxiv``: the query):

1. a new *run* starts when the job has none, with ``refresh``, or when the source says its last
   complete run may have missed papers (today's Daily Papers); otherwise the last run continues
   where it stopped (a killed or failed fetch resumes without asking again for saved pages);
2. each next page is asked through the paced, retrying client, judged by the source (an error
   answer, an arXiv error entry, a body that is not JSON or Atom: FetchError naming the URL),
   saved with its provenance (``store``) and the job's state written after it;
3. then every saved page of these jobs that holds papers and is not ingested yet goes to
   ``ingest.pipeline.run_ingest`` (which embeds only papers it has not stored), and is marked ingested.

A FetchError keeps every page saved before it (the message says so); they are ingested by the
next run. ``dry_run``: the same requests, but answers are saved in a temporary folder, the ingest is
its dry run, and nothing under the index changes.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from assistant.calibrate import behind, refresh
from assistant.errors import FetchError, IndexLockedError
from assistant.settings import Settings
from ingest.fetch.http import Client, Response
from ingest.fetch.store import Job, Page, Run, Store, now
from ingest.lock import writer_lock
from ingest.paths import path_text
from ingest.pipeline import IngestReport, Progress, run_ingest
from ingest.readers import read_file
from ingest.records import Paper


class Source(Protocol):
    """What ``daily.DailySource`` and ``arxiv.ArxivSource`` provide."""

    name: str
    suffix: str
    accept: str
    url: str
    delay_s: float

    def jobs(self, store: Store) -> list[Job]: ...
    def label(self, job: Job) -> str: ...
    def stale(self, job: Job) -> bool: ...
    def next_params(self, job: Job, run: Run) -> dict[str, Any] | None: ...
    def check(self, response: Response, params: dict[str, Any]) -> tuple[int, bool, int | None, str]: ...


@dataclass
class Fetched:
    """One response this run received: ``file`` relative to the index (``fetched/...``); ``saved``
    False when its bytes equal a page saved before (then it is not saved or ingested again)."""

    job: str
    url: str
    file: str
    papers: int
    entries: int
    saved: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FetchReport:
    """What a fetch did: ``requests`` sent (retries included), ``responses`` received, ``done`` (jobs
    with nothing left to ask), ``notes``, ``ingested`` (files handed to the ingest) and its report."""

    dry_run: bool = False
    requests: int = 0
    responses: list[Fetched] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ingested: list[str] = field(default_factory=list)
    ingest: IngestReport | None = None
    calibration: dict[str, Any] = field(default_factory=dict)  # with nothing to ingest: a refit caught up
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "requests": self.requests,
            "responses": [r.as_dict() for r in self.responses],
            "done": self.done,
            "notes": self.notes,
            "ingested": self.ingested,
            "ingest": self.ingest.as_dict() if self.ingest else None,
            "calibration": self.calibration,
            "seconds": round(self.seconds, 3),
        }


def run_fetch(
    source: Source,
    settings: Settings,
    *,
    refresh: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_response: Callable[[Fetched], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> FetchReport:
    """Fetch ``source`` into ``settings.index.path`` and ingest what is new (see the module docstring).
    ``on_response`` is called as each response is received, ``notice`` with a line for each retry (the
    CLI prints them); ``transport`` and ``sleep`` replace the network and the clock's waits (tests)."""
    started = time.perf_counter()
    report = FetchReport(dry_run=dry_run)
    index = settings.index.path
    with tempfile.TemporaryDirectory(prefix="papers-fetch-") if dry_run else nullcontext() as scratch:
        store = Store(index, Path(scratch) if scratch else None)
        stamp = store.stamp(source.name)
        if dry_run and (real := store.root / source.name / stamp.name).is_file():
            stamp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, stamp)  # a dry run waits for a real run's last request too
        with (
            store.lock() if not dry_run else nullcontext(),
            Client(
                settings.fetch,
                source.delay_s,
                accept=source.accept,
                stamp=stamp,
                notice=notice,
                transport=transport,
                sleep=sleep,
            ) as client,
        ):
            if not dry_run:  # an ingest writing the index now: refused before any request, not after
                with writer_lock(index):
                    pass
            jobs = source.jobs(store)
            try:
                for job in jobs:
                    _fetch_job(source, job, store, client, report, refresh=refresh, on_response=on_response)
            except FetchError as exc:
                report.requests = client.requests
                kept = sum(1 for r in report.responses if r.saved)
                if dry_run:
                    tail = "nothing was saved under the index (dry run)"
                elif kept:
                    tail = f"the {kept} response{'s' * (kept != 1)} saved before it are kept; the same command resumes"
                else:
                    tail = "nothing was saved"
                raise FetchError(f"{exc}; {tail}") from exc
            report.requests = client.requests
            _ingest_pending(jobs, store, settings, report, dry_run=dry_run, progress=progress)
    report.seconds = time.perf_counter() - started
    return report


def _fetch_job(
    source: Source,
    job: Job,
    store: Store,
    client: Client,
    report: FetchReport,
    *,
    refresh: bool,
    on_response: Callable[[Fetched], None] | None,
) -> None:
    """Ask for the job's missing pages (step 1 and 2 of the module docstring)."""
    store.clear_leftovers(job)
    run = job.current
    if run is None or refresh or (run.complete and source.stale(job)):
        run = Run(started=now())
        job.runs.append(run)
    params = source.next_params(job, run)
    if params is None:
        report.done.append(source.label(job))
        return
    while params is not None:
        response = client.get(source.url, params)
        entries, last, total, note = source.check(response, params)
        page, saved = _keep(store, job, response, params, source.suffix)
        page.entries, page.total = entries, total
        run.pages.append(page)
        if last:
            run.complete, run.finished, run.note = True, now(), note
            if note:
                report.notes.append(note)
        store.save_job(job)
        fetched = Fetched(
            source.label(job),
            response.url,
            f"{Path(store.root.name) / job.source / job.key / page.file}",
            len(page.papers),
            entries,
            saved,
        )
        report.responses.append(fetched)
        if on_response:
            on_response(fetched)
        params = source.next_params(job, run)


def _keep(store: Store, job: Job, response: Response, params: dict[str, Any], suffix: str) -> tuple[Page, bool]:
    """The page record of a response and whether it was saved: as the job's next file, or (the same
    bytes as a saved page) not again, the record pointing to that page's file and sharing its ingest state."""
    same = job.saved(hashlib.sha256(response.body).hexdigest())
    if same is not None:
        page = Page(same.file, response.url, response.status, same.sha256, now(), dict(params), list(same.papers))
        page.ingested = same.ingested
        return page, False
    name, digest = store.save_response(job, response.body, suffix)
    papers = [_paper_key(p) for p in read_file(store.path(job, name)) if isinstance(p, Paper)]
    return Page(name, response.url, response.status, digest, now(), dict(params), papers), True


def _paper_key(paper: Paper) -> str:
    return f"arXiv:{paper.arxiv_id}" if paper.arxiv_id else f"title:{paper.title[:200]}"


def _ingest_pending(
    jobs: list[Job],
    store: Store,
    settings: Settings,
    report: FetchReport,
    *,
    dry_run: bool,
    progress: Progress | None,
) -> None:
    """Step 3: ingest every saved page of ``jobs`` that holds papers and was not ingested yet."""
    pending = [(job, page) for job in jobs for page in job.pages() if page.papers and not page.ingested]
    files = list(dict.fromkeys(store.path(job, page.file) for job, page in pending))
    if not files:
        # a run killed between its commit and its refit: catch the refit up now
        if not dry_run and settings.abstention.calibrate and behind(settings.index.path):
            with writer_lock(settings.index.path):
                report.calibration = refresh(settings, 0)
        return
    report.ingested = [path_text(f) for f in files]
    try:
        report.ingest = run_ingest(files, settings, dry_run=dry_run, progress=progress)
    except IndexLockedError as exc:  # an ingest started since the fetch began
        raise IndexLockedError(
            f"{exc}; the responses fetched ({len(files)} file{'s' * (len(files) != 1)}) are saved under "
            f"{path_text(store.root)}, and the same command ingests them once the index is free"
        ) from None
    if dry_run:
        return
    for _, page in pending:
        page.ingested = True
    for job in {id(j): j for j, _ in pending}.values():
        store.save_job(job)
