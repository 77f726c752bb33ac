"""FakeOpenAIServer: a canned, misbehaving-on-demand OpenAI-compatible endpoint on 127.0.0.1, named
as the fake it is.

Used only to test our own handling of LLM output (invented citation numbers, unsupported
sentences, reasoning in ``<think>`` blocks or ``reasoning_content``, tool calls, replies cut at
``max_tokens``) and of provider failures: an HTTP status (500, 401, 429 with ``Retry-After``) for the
first requests, a server that never answers, a malformed stream, a connection dropped mid-stream.
It is reached through litellm exactly like a real provider (``openai/<name>`` with ``api_base``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    body = {
        "id": "fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FakeOpenAIServer:
    """``status``: the HTTP status of every reply, or ``statuses``: one per request in order (200 once
    they run out), each failure carrying ``error_message`` and, for 429, ``Retry-After: retry_after``.
    ``hang_s``: wait before answering; ``word_delay_s``: pause between streamed words;
    ``malformed``: send a stream whose events are not JSON; ``drop_after``: close the connection
    after this many words, without the end of the stream. ``deltas``: send these delta objects
    verbatim instead of ``reply``'s words (``{"content": ...}``, ``{"reasoning_content": ...}``,
    ``{"tool_calls": [...]}``), one chunk each; ``finish_reason``: the last chunk's ("length": the
    reply was cut at max_tokens). ``by_model``: per requested model name (``openai/<name>`` asks
    for ``<name>``), its own ``(deltas, finish_reason)``, so one fake serves several behaviours."""

    def __init__(
        self,
        reply: str = "",
        status: int = 200,
        hang_s: float = 0.0,
        word_delay_s: float = 0.0,
        *,
        statuses: Sequence[int] = (),
        retry_after: float | None = None,
        error_message: str = "fake failure",
        malformed: bool = False,
        drop_after: int | None = None,
        deltas: Sequence[dict] | None = None,
        finish_reason: str = "stop",
        by_model: dict[str, tuple[Sequence[dict], str]] | None = None,
    ) -> None:
        self.reply = reply
        self.status = status
        self.statuses = list(statuses)
        self.retry_after = retry_after
        self.error_message = error_message
        self.hang_s = hang_s
        self.word_delay_s = word_delay_s
        self.malformed = malformed
        self.drop_after = drop_after
        self.deltas = list(deltas) if deltas is not None else None
        self.finish_reason = finish_reason
        self.by_model = dict(by_model or {})
        self.disconnected = threading.Event()  # set when the client went away mid-stream
        self.words_sent = 0
        self.requests: list[dict] = []
        self.request_times: list[float] = []  # time.monotonic() of each request's arrival
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _fail(self, status: int) -> None:
                payload = json.dumps({"error": {"message": fake.error_message, "type": "server_error"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if status == 429 and fake.retry_after is not None:
                    self.send_header("Retry-After", f"{fake.retry_after:g}")
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                number = len(fake.requests)
                fake.requests.append(body)
                fake.request_times.append(time.monotonic())
                fake.headers.append(dict(self.headers))
                if fake.hang_s:
                    time.sleep(fake.hang_s)
                status = fake.statuses[number] if number < len(fake.statuses) else fake.status
                if fake.statuses and number >= len(fake.statuses):
                    status = 200
                if status != 200:
                    self._fail(status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                if fake.malformed:
                    self.wfile.write(b"data: {not json at all\n\ndata: <html>oops</html>\n\n")
                    self.wfile.flush()
                    return
                finish = fake.finish_reason
                if body.get("model") in fake.by_model:
                    scripted, finish = fake.by_model[body["model"]]
                    pieces = list(scripted)
                elif fake.deltas is not None:
                    pieces = fake.deltas
                else:
                    words = fake.reply.split(" ")
                    pieces = [{"content": word if i == 0 else " " + word} for i, word in enumerate(words)]
                for i, piece in enumerate(pieces):
                    if fake.drop_after is not None and i >= fake.drop_after:
                        self.wfile.flush()
                        return  # the connection closes with no end of stream
                    try:
                        self.wfile.write(_chunk(piece))
                        self.wfile.flush()
                    except OSError:  # the client closed the stream
                        fake.disconnected.set()
                        return
                    fake.words_sent += 1
                    if fake.word_delay_s:
                        time.sleep(fake.word_delay_s)
                try:
                    self.wfile.write(_chunk({}, finish) + b"data: [DONE]\n\n")
                except OSError:
                    fake.disconnected.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
