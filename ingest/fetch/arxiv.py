"""The arXiv API as a fetch source: one job per query, paged, newest submissions first.

``GET {fetch.arxiv_url}?search_query=Q&start=S&max_results=N&sortBy=submittedDate&sortOrder=descending``
answers an Atom feed: ``opensearch:totalResults`` and one ``<entry>`` per paper (what
``ingest.readers.arxiv_atom`` reads). A bad query is answered (usually with HTTP 400) by a feed whose
only entry is an error (its id under ``arxiv.org/api/errors``): a FetchError quoting arXiv's
message. Paging stops at ``--max`` results, at the stated total, or at an empty page (the end of the
results as arXiv gives them; when it comes before the stated total the run says so, and
``--refresh`` asks again). arXiv asks for at most one request every 3 seconds
(``fetch.arxiv_delay_s``, enforced by ``ingest.fetch.http``).

The job is the query (its folder: the first 12 hex digits of the sha256 of the query): a larger
``--max`` later continues where the smaller one stopped, and ``--refresh`` starts again from the
newest (new submissions come first).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import ConfigError, FetchError
from assistant.settings import FetchSettings
from ingest.fetch.http import Response, describe_status
from ingest.fetch.store import Job, Run, Store
from ingest.readers.arxiv_atom import ERROR_ID, NS

NAME = "arxiv"
MIN_DELAY_S = 3.0  # arXiv's terms of use for its API: no more than one request every 3 seconds
MAX_RESULTS = 30_000  # the most results the arXiv API pages through for one query
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
SORT = {"sortBy": "submittedDate", "sortOrder": "descending"}


def query_key(query: str) -> str:
    """The job folder of a query."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:12]


class ArxivSource:
    """Fetch source for up to ``limit`` results of one arXiv ``query`` (see the module docstring)."""

    name = NAME
    suffix = ".xml"
    accept = "application/atom+xml"

    def __init__(self, settings: FetchSettings, query: str, limit: int) -> None:
        host = (urlsplit(settings.arxiv_url).hostname or "").lower()
        if (host == "arxiv.org" or host.endswith(".arxiv.org")) and settings.arxiv_delay_s < MIN_DELAY_S:
            raise ConfigError(
                f"fetch.arxiv_delay_s = {settings.arxiv_delay_s:g} is below the {MIN_DELAY_S:g} s between requests "
                f"that arXiv asks of API clients ({host}); set it to {MIN_DELAY_S:g} or more "
                "(a lower value is only for a server of your own)"
            )
        self.url = settings.arxiv_url
        self.page_size = settings.arxiv_page_size
        self.delay_s = settings.arxiv_delay_s
        self.query = query
        self.limit = limit

    def jobs(self, store: Store) -> list[Job]:
        return [store.job(NAME, query_key(self.query), {"query": self.query, **SORT})]

    @staticmethod
    def label(job: Job) -> str:
        return f"arXiv {job.params['query']!r}"

    @staticmethod
    def stale(job: Job) -> bool:
        return False  # a complete query is asked again only with --refresh

    def next_params(self, job: Job, run: Run) -> dict[str, Any] | None:
        """The query of the run's next page, or None when the run is done or reached ``limit``."""
        if run.complete:
            return None
        start = 0
        if run.pages:
            last = run.pages[-1].params
            start = int(last["start"]) + int(last["max_results"])
        if start >= self.limit:
            return None
        return {
            "search_query": self.query,
            "start": start,
            "max_results": min(self.page_size, self.limit - start),
            **SORT,
        }

    def check(self, response: Response, params: dict[str, Any]) -> tuple[int, bool, int | None, str]:
        """(entries, last page?, total results, note) of a response; FetchError (naming the URL) for an
        error answer, an arXiv error entry, or one that is not an Atom feed."""
        try:
            root = ET.fromstring(response.body)
        except ET.ParseError as exc:
            if response.status != 200:
                raise FetchError(f"{response.url}: {describe_status(response)}") from exc
            raise FetchError(f"{response.url}: the answer is not an Atom feed (malformed XML: {exc})") from exc
        if root.tag != f"{{{NS['atom']}}}feed":
            what = describe_status(response) if response.status != 200 else "the answer is XML but not an Atom feed"
            raise FetchError(f"{response.url}: {what}")
        entries = root.findall("atom:entry", NS)
        errors = [e for e in entries if ERROR_ID in (e.findtext("atom:id", default="", namespaces=NS) or "")]
        if errors and len(errors) == len(entries):
            said = " ".join((errors[0].findtext("atom:summary", default="", namespaces=NS) or "").split())
            raise FetchError(f"{response.url}: the arXiv API reports an error: {said[:200] or 'no message'}")
        if response.status != 200:
            raise FetchError(f"{response.url}: {describe_status(response)}")
        total = _int(root.findtext(f"{OPENSEARCH}totalResults"))
        start, count = int(params["start"]), len(entries)
        note = ""
        if count == 0:
            if total is not None and start < total:
                note = (
                    f"arXiv answered an empty page at start={start} of {total} stated results for "
                    f"{self.query!r}; stopped there (`--refresh` asks again)"
                )
            return 0, True, total, note
        if total is None:  # no stated total: a short page is the last
            return count, count < int(params["max_results"]), None, note
        return count, start + count >= min(total, MAX_RESULTS), total, note


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None
