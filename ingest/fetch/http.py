"""One paced, retrying HTTP client per source (``httpx``), for ``papers fetch``.

* **Pacing**: at least ``delay_s`` seconds from the *end* of one request to the start of the next
  (retries included), so a server sees its requests at least that far apart however long each
  took. The end of the last request is also written to a stamp file beside the saved responses,
  so a second run started at once waits too.
* **Retries**: a 429 or 5xx answer, a timeout or a dropped connection is retried ``retries`` times,
  waiting ``backoff_s``, then twice that, and so on (a longer ``Retry-After`` is honoured, up to
  :data:`MAX_WAIT_S`). Any other answer is returned to the caller, which judges it.
* **Errors**: a request that still fails is one :class:`~assistant.errors.FetchError` naming the
  full URL and what went wrong.
* **Timeouts**: ``timeout_s`` to connect, and between bytes of the answer; never unbounded.
* **Size**: an answer larger than ``max_response_mb`` is an error, read no further.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from assistant.errors import FetchError, redact
from assistant.settings import FetchSettings

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_WAIT_S = 300.0  # the longest a Retry-After is honoured; beyond it the request fails


@dataclass(frozen=True)
class Response:
    """What a request returned: HTTP ``status``, the raw ``body`` bytes, and the full ``url`` asked."""

    status: int
    body: bytes
    url: str
    content_type: str = ""


class Pacer:
    """At least ``interval_s`` seconds between the end of one request and the start of the next.

    ``stamp``: a file holding the wall-clock time (Unix seconds) the last request ended, read once
    at start and written after each request (None: this process only)."""

    def __init__(self, interval_s: float, stamp: Path | None = None, sleep: Callable[[float], None] = time.sleep):
        self.interval_s = interval_s
        self.stamp = stamp
        self.sleep = sleep
        self._last: float | None = None  # time.monotonic() when the last request ended
        if stamp is not None:
            try:
                ended = float(stamp.read_text(encoding="utf-8").strip())
                self._last = time.monotonic() - max(0.0, time.time() - ended)
            except (OSError, ValueError):
                pass

    def wait(self) -> None:
        """Sleep until the next request may start."""
        if self._last is None:
            return
        left = self._last + self.interval_s - time.monotonic()
        if left > 0:
            self.sleep(left)  # time.sleep sleeps at least this long

    def done(self) -> None:
        """A request has just ended (answered or failed)."""
        self._last = time.monotonic()
        if self.stamp is not None:
            try:
                self.stamp.parent.mkdir(parents=True, exist_ok=True)
                self.stamp.write_text(f"{time.time():.3f}\n", encoding="utf-8")
            except OSError:
                pass  # pacing within this run still holds


class Client:
    """GET requests to one API, paced and retried (see the module docstring).

    ``delay_s``: this source's least interval; ``stamp``: the pacing stamp file (see :class:`Pacer`);
    ``notice``: told of each retry (one line); ``transport``: an ``httpx`` transport (tests);
    ``sleep``: what waits (tests)."""

    def __init__(
        self,
        settings: FetchSettings,
        delay_s: float,
        *,
        accept: str,
        stamp: Path | None = None,
        notice: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.notice = notice
        self.pacer = Pacer(delay_s, stamp, sleep)
        self.requests = 0  # requests sent (retries included)
        self._http = httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept": accept},
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, params: Mapping[str, str | int]) -> Response:
        """GET ``url`` with ``params``: the first answer that is not retried (any status but 429 and
        5xx), else FetchError after ``retries`` retries (naming the URL and the last failure)."""
        full = str(httpx.URL(url, params=dict(params)))
        attempts = self.settings.retries + 1
        problem = ""
        for attempt in range(attempts):
            self.pacer.wait()
            self.requests += 1
            try:
                with self._http.stream("GET", url, params=dict(params)) as reply:
                    body = self._read(reply, full)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections, bad TLS
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                wait = self._backoff(attempt, None)
            else:
                if reply.status_code not in RETRY_STATUS:
                    return Response(reply.status_code, body, str(reply.url), reply.headers.get("content-type", ""))
                problem = f"HTTP {reply.status_code}" + _said(body)
                wait = self._backoff(attempt, reply.headers.get("retry-after"))
            finally:
                self.pacer.done()
            if attempt + 1 < attempts:
                if wait > MAX_WAIT_S:
                    raise FetchError(f"{full}: {problem}, and the server asks to wait {wait:.0f} s; try again later")
                if self.notice:
                    self.notice(redact(f"{full}: {problem}; retry {attempt + 1} of {attempts - 1} in {wait:.1f} s"))
                self.sleep(wait)
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        raise FetchError(redact(f"{full}: {problem} ({tries}, fetch.retries = {self.settings.retries})"))

    def _read(self, reply: httpx.Response, full: str) -> bytes:
        """The body of ``reply``, or FetchError once it passes ``max_response_mb`` (a paper API's page
        is well under a megabyte; a runaway answer must not fill memory or the disk)."""
        limit = int(self.settings.max_response_mb * 1024 * 1024)
        chunks: list[bytes] = []
        size = 0
        for chunk in reply.iter_bytes():
            size += len(chunk)
            if size > limit:
                cap = self.settings.max_response_mb
                raise FetchError(redact(f"{full}: the answer is larger than fetch.max_response_mb = {cap:g}"))
            chunks.append(chunk)
        return b"".join(chunks)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry ``attempt + 1``: ``backoff_s * 2**attempt``, or the server's
        ``Retry-After`` (seconds or an HTTP date) when that is longer."""
        wait = self.settings.backoff_s * 2**attempt
        asked = retry_after_s(retry_after)
        return max(wait, asked) if asked is not None else wait


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header as seconds from now (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _said(body: bytes) -> str:
    """The start of an error body, for the message (one line, at most 160 characters)."""
    text = " ".join(body[:2000].decode("utf-8", errors="replace").split())
    return f" ({text[:160]})" if text and not text.startswith("<") else ""


def describe_status(response: Response) -> str:
    """``HTTP 404 (…what the server said…)`` for an error answer."""
    return f"HTTP {response.status}" + _said(response.body)
