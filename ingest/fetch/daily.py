"""The Hugging Face Daily Papers API as a fetch source: one job per day, paged.

``GET {fetch.daily_url}?date=YYYY-MM-DD&p=PAGE&limit=N`` answers a JSON list of
``{"paper": {"id", "title", "summary", "authors": [{"name"}], "publishedAt"}, "publishedAt", ...}``
(what ``ingest.readers.hf_daily`` reads; a day without papers, such as a Sunday, is ``[]``).
Pages are asked from ``p=0`` until one holds fewer than ``limit`` papers.

A day's list can still grow while it is today (UTC): a day whose last complete run finished on
that day or before it is asked again by the next fetch (a new run); once a run has finished on a
later day, the day is done (``--refresh`` asks again anyway).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from assistant.errors import FetchError
from assistant.settings import FetchSettings
from ingest.fetch.http import Response, describe_status
from ingest.fetch.store import Job, Run, Store

NAME = "daily"
MAX_PAGES = 50  # 5,000 papers in one day: far beyond any day so far; a server paging forever stops here


def days(since: date, until: date) -> list[date]:
    """Every day from ``since`` to ``until``, both included, in order."""
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]


class DailySource:
    """Fetch source for the Daily Papers of ``dates`` (see the module docstring)."""

    name = NAME
    suffix = ".json"
    accept = "application/json"

    def __init__(self, settings: FetchSettings, dates: list[date]) -> None:
        self.url = settings.daily_url
        self.page_size = settings.daily_page_size
        self.delay_s = settings.daily_delay_s
        self.dates = dates

    def jobs(self, store: Store) -> list[Job]:
        return [store.job(NAME, day.isoformat(), {"date": day.isoformat()}) for day in self.dates]

    @staticmethod
    def label(job: Job) -> str:
        return f"Daily Papers of {job.key}"

    @staticmethod
    def stale(job: Job) -> bool:
        """Is the job's last complete run one that may have missed papers (it finished on the day, or
        before it)?"""
        run = job.current
        return bool(run and run.complete and run.finished and run.finished[:10] <= job.key)

    def next_params(self, job: Job, run: Run) -> dict[str, Any] | None:
        """The query of the run's next page, or None when the run is done."""
        if run.complete:
            return None
        page = run.pages[-1].params.get("p", -1) + 1 if run.pages else 0
        return {"date": job.key, "p": page, "limit": self.page_size}

    def check(self, response: Response, params: dict[str, Any]) -> tuple[int, bool, int | None, str]:
        """(entries, last page?, total, note) of a response; FetchError (naming the URL) for an error
        answer or one that is not a JSON list."""
        if response.status != 200:
            raise FetchError(f"{response.url}: {describe_status(response)}")
        try:
            data = json.loads(response.body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            why = f"{type(exc).__name__}: {str(exc)[:120]}"
            raise FetchError(f"{response.url}: the answer is not JSON ({why})") from exc
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            raise FetchError(f"{response.url}: the API answered an error: {data['error'][:200]}")
        if not isinstance(data, list):
            raise FetchError(f"{response.url}: the answer is JSON but not a list of papers ({type(data).__name__})")
        last = len(data) < int(params["limit"])
        note = ""
        if not last and params["p"] + 1 >= MAX_PAGES:
            last, note = True, f"Daily Papers of {params['date']}: stopped after {MAX_PAGES} pages"
        return len(data), last, None, note
