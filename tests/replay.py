"""A loopback HTTP server that replays recorded API responses (tests/fixtures/fetch), for ``papers fetch``.

``ReplayServer(routes)`` binds 127.0.0.1 on a free port in a thread. ``routes`` maps a key to the
answers given to successive requests for it (the last one repeats); the key of a request is
``(path, ((name, value), ...))`` over the query parameters named in ``keys`` for that path (the
rest, such as ``limit`` or ``sortBy``, are recorded but do not choose the answer). Every request is
logged with its arrival time (``time.monotonic()``), path, query and headers; a request no route
answers gets a 404 and is logged too.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fetch"
KEYS = {"/api/daily_papers": ("date", "p"), "/api/query": ("search_query", "start")}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def fixture(name: str, status: int = 200, **headers: str) -> Answer:
    """An answer with the bytes of ``tests/fixtures/fetch/<name>`` (content type from its suffix)."""
    kinds = {".json": "application/json", ".xml": "application/atom+xml", ".html": "text/html"}
    return Answer(status, (FIXTURES / name).read_bytes(), kinds[Path(name).suffix], tuple(headers.items()))


def daily_key(date: str, page: int = 0) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("/api/daily_papers", (("date", date), ("p", str(page))))


def arxiv_key(query: str, start: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("/api/query", (("search_query", query), ("start", str(start))))


@dataclass
class Request:
    at: float
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class ReplayServer:
    routes: dict[tuple[str, tuple[tuple[str, str], ...]], list[Answer]]
    log: list[Request] = field(default_factory=list)
    port: int = 0

    def base(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, query: dict[str, str]) -> Answer:
        key = (path, tuple((name, query.get(name, "")) for name in KEYS.get(path, ())))
        answers = self.routes.get(key)
        if not answers:
            return Answer(404, b'{"error": "not recorded"}')
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def requests(self, path: str) -> list[Request]:
        return [r for r in self.log if r.path == path]


class _Quiet(ThreadingHTTPServer):
    """A client hanging up (the fetcher stops reading an oversized answer) is its right, not a server fault
    to print: socketserver would write the traceback to ``sys.stderr``, which a ``CliRunner`` has captured."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


@contextmanager
def replay(routes: dict[tuple[str, tuple[tuple[str, str], ...]], list[Answer]]) -> Iterator[ReplayServer]:
    """A ``ReplayServer`` running until the block ends."""
    server = ReplayServer({key: list(answers) for key, answers in routes.items()})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            server.log.append(Request(time.monotonic(), parts.path, query, dict(self.headers.items())))
            answer = server.answer(parts.path, query)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, *args: object) -> None:
            pass

    http = _Quiet(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    server.port = http.server_address[1]
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=10)
