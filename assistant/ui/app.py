"""The Gradio layout, the HTTP API next to it, launching, and the ``papers-ui`` command.

``launch`` serves one FastAPI app (Gradio's own) on ``settings.ui.host`` (127.0.0.1 by default):
the chat at ``/``, Gradio's ``/chat`` API, and two plain JSON routes passed in through
``launch(app_kwargs={"routes": ...})`` so they are matched before Gradio's own:

- ``POST /api/ask`` takes ``{"question", "k", "mode", "model", "dates", "retrieve_only"}`` (all but
  ``question`` optional) and returns exactly the object ``ask --json`` prints for the same
  arguments. 422 with ``{"error": message}`` for a bad request (blank question, k outside 1-50,
  unknown mode or field, an impossible or relative date); 400 for a body that is not JSON or is
  nested deeper than MAX_BODY_DEPTH, 413 for one over MAX_BODY_BYTES; 503 when the model failed
  (the body is still the ``ask --json`` object, whose ``error`` says why, as ``ask`` exits 1 then;
  an empty, reasoning-only or tool-call-only reply is such a failure); 503 or 400 with
  ``{"error": message}`` for any other PapersError. At most ``settings.ui.concurrency`` answers run at once.
- ``GET /api/health`` returns ``{"status": "ok", "papers": <indexed>, "model": <default model>}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assistant.condense import METHODS
from assistant.errors import ConfigError, IndexError_, ModelError, PapersError, ProviderError, handle_errors, redact
from assistant.render import condensed_markdown
from assistant.settings import EMBEDDED_PREFIX
from assistant.ui.handlers import MODES, AskBody, BadRequest, Cancelled, Handlers, ask_payload, get_chain
from assistant.ui.watched import watched_panel

if TYPE_CHECKING:
    import gradio as gr
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse
    from starlette.routing import BaseRoute

    from assistant.answer import AnswerChain
    from assistant.settings import Settings

MODEL_CHOICES = ("embedded/qwen2.5-0.5b", "embedded/smollm2-135m", "openai/gpt-4o-mini", "ollama/llama3.2")
MAX_BODY_BYTES = 1 << 20  # POST /api/ask: a question is at most a few kB; 1 MiB is generous
MAX_BODY_DEPTH = 32  # nesting of arrays and objects in it: a valid body has 2 levels
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_OPENING = frozenset(b"[{")
CONCURRENCY_ID = "answer"  # the UI's chat and the /chat API share one concurrency limit

CSS = """
#sources { max-height: 78vh; overflow-y: auto; }
#chatbot sub, #sources sub { font-size: 0.78em; opacity: 0.85; }
"""
SOURCES_HINT = "Retrieved papers appear here, with their scores; cited ones are marked."


# -- the layout ----------------------------------------------------------------------------------


def build_app(settings: Settings, chain: AnswerChain | None = None, condenser: str = "heuristic") -> gr.Blocks:
    """The Blocks app; ``chain`` defaults to the process-wide one for ``settings.index.path``."""
    import gradio as gr

    handlers = Handlers(settings, chain or get_chain(settings))

    def chat(message: str, model: str = "", mode: str = "", k: int = 0, dates: str = "") -> Iterator[str]:
        yield from handlers.chat_api(message, model, mode, k, dates)

    chat.__doc__ = Handlers.chat_api.__doc__

    with gr.Blocks(analytics_enabled=False, title="Papers assistant", fill_height=True) as app:
        gr.Markdown(
            "## Papers assistant\nAnswers come only from the indexed paper abstracts; every sentence is "
            "checked against the paper it cites (support is a heuristic score). "
            "Follow-up questions are condensed with the chat into a standalone search query."
        )
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    elem_id="chatbot",
                    height=560,
                    sanitize_html=True,
                    render_markdown=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    buttons=["copy"],
                    feedback_options=None,
                    placeholder="Ask a question about the indexed papers.",
                )
                box = gr.Textbox(
                    show_label=False,
                    placeholder="Ask a question about the indexed papers (Enter to send, Shift+Enter for a new line)",
                    elem_id="question",
                    lines=1,
                    max_lines=6,
                    autofocus=True,
                )
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="send")
                    stop = gr.Button("Stop", elem_id="stop")
                    new = gr.Button("New chat", elem_id="new-chat")
                with gr.Accordion("Search query (condensed follow-ups)", open=False, elem_id="condensed-box"):
                    condensed_md = gr.Markdown(condensed_markdown([]), elem_id="condensed", sanitize_html=True)
                watched_panel(settings, handlers.chain)  # living questions: what changed since you last looked
            with gr.Column(scale=2):
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    model = gr.Dropdown(
                        choices=list(dict.fromkeys([settings.llm.model, *MODEL_CHOICES])),
                        value=settings.llm.model,
                        allow_custom_value=True,
                        label="Model (any litellm string)",
                        elem_id="model",
                    )
                    mode = gr.Radio(
                        list(MODES),
                        value=settings.answer.mode,
                        label="Mode",
                        info="extract quotes evidence sentences and needs no model",
                        elem_id="mode",
                    )
                    k = gr.Slider(1, 20, value=min(settings.retrieval.k, 20), step=1, label="Papers to retrieve (k)")
                    dates = gr.Textbox(
                        label="Date filter",
                        placeholder="e.g. Sep 3, 2024-09 (comma-separated prefixes; empty = all)",
                        elem_id="dates",
                    )
                    method = gr.Radio(
                        list(METHODS),
                        value=condenser,
                        label="Follow-up condenser",
                        info="llm asks the chosen model to rewrite follow-ups (slower); heuristic is instant",
                    )
                with gr.Accordion("Sources", open=True):
                    sources_md = gr.Markdown(SOURCES_HINT, elem_id="sources", sanitize_html=True)
                with gr.Accordion("Export the last answer", open=False, elem_id="export"), gr.Row():
                    export_md = gr.DownloadButton("Markdown", interactive=False, elem_id="export-md")
                    export_bib = gr.DownloadButton("BibTeX (cited papers)", interactive=False, elem_id="export-bib")
                with gr.Accordion("More like this", open=False, elem_id="similar-box"):
                    like = gr.Dropdown(
                        choices=[],
                        allow_custom_value=True,
                        label="A retrieved paper, or any title or paper id",
                        elem_id="similar-paper",
                    )
                    like_button = gr.Button("More like this", elem_id="similar-go")
                    like_md = gr.Markdown("", elem_id="similar", sanitize_html=True)

        inputs = [box, chatbot, turns, model, mode, k, dates, method]
        outputs = [box, chatbot, turns, sources_md, condensed_md]
        common = {"concurrency_id": CONCURRENCY_ID, "api_visibility": "undocumented", "show_progress": "hidden"}
        asked = box.submit(handlers.respond, inputs, outputs, **common)
        clicked = send.click(handlers.respond, inputs, outputs, **common)
        quiet = {"queue": False, "api_visibility": "undocumented"}
        for answered in (asked, clicked):  # the last answer's downloads and its papers for "More like this"
            answered.then(handlers.after_answer, [turns], [export_md, export_bib, like], **quiet)
        like_button.click(handlers.more_like_this, [like, k], [like_md], **quiet)
        # cancelling closes the handler's generator, which closes the chain's and the LLM stream
        stop.click(None, None, None, cancels=[asked, clicked], queue=False)
        new.click(
            lambda: ([], [], SOURCES_HINT, condensed_markdown([])),
            None,
            [chatbot, turns, sources_md, condensed_md],
            cancels=[asked, clicked],
            queue=False,
            api_visibility="undocumented",
        )
        chatbot.clear(  # the chat's own trash button: forget the history used for follow-ups too
            lambda: ([], SOURCES_HINT, condensed_markdown([])),
            None,
            [turns, sources_md, condensed_md],
            cancels=[asked, clicked],
            queue=False,
            api_visibility="undocumented",
        )
        for cleared in (new.click, chatbot.clear):  # no last answer any more: nothing to export
            cleared(handlers.after_answer, None, [export_md, export_bib, like], **quiet)
        gr.api(chat, api_name="chat", concurrency_id=CONCURRENCY_ID)
    return app


# -- the HTTP API --------------------------------------------------------------------------------


def http_status(exc: PapersError) -> int:
    """422: the request must change; 503: the index, a model or the provider is not usable now; 400: the rest."""
    if isinstance(exc, BadRequest):
        return 422
    if isinstance(exc, IndexError_ | ModelError | ProviderError):
        return 503
    return 400


def too_deep(body: bytes, limit: int = MAX_BODY_DEPTH) -> bool:
    """Are the arrays and objects of this JSON text nested deeper than ``limit``? (Strings are
    skipped; the scan stops at the first level past the limit, so a deep body costs no recursion.)"""
    depth = 0
    for bracket in _JSON_STRING.sub(b'""', body).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in _OPENING else -1
        if depth > limit:
            return True
    return False


def read_json(body: bytes) -> object:
    """The JSON value of a request body, or BadRequest (400) saying why it is not one: not JSON,
    or nested deeper than MAX_BODY_DEPTH (which would exhaust the parser's recursion)."""
    if too_deep(body):
        raise BadRequest(f"the body must be a JSON object nested at most {MAX_BODY_DEPTH} levels deep")
    try:
        return json.loads(body)
    except RecursionError:  # pragma: no cover - too_deep comes first
        raise BadRequest(f"the body must be a JSON object nested at most {MAX_BODY_DEPTH} levels deep") from None
    except ValueError as exc:  # not JSON, not UTF-8, a number of more than 4,300 digits
        raise BadRequest(f"the body must be a JSON object ({' '.join(str(exc).split())[:200]})") from None


def api_routes(settings: Settings, chain: AnswerChain) -> list[BaseRoute]:
    """``POST /api/ask`` and ``GET /api/health`` (see the module docstring), as Starlette routes."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    slots = threading.BoundedSemaphore(settings.ui.concurrency)
    credentials = settings.ui.credentials

    def answer(body: AskBody, cancel: threading.Event) -> dict[str, Any]:  # blocking: Starlette's thread pool
        with slots:
            if cancel.is_set():
                raise Cancelled("the client disconnected before its turn")
            return ask_payload(chain, body, cancel)

    async def until_done(request: HTTPRequest, body: AskBody) -> dict[str, Any]:
        """Run the answer in a thread; a client that disconnects cancels it (checked every 0.25 s)."""
        cancel = threading.Event()
        work = asyncio.ensure_future(run_in_threadpool(answer, body, cancel))
        while not work.done():
            await asyncio.wait({work}, timeout=0.25)
            if not work.done() and await request.is_disconnected():
                cancel.set()
        return work.result()

    async def ask(request: HTTPRequest) -> JSONResponse:
        if not authorized(request, credentials):
            return unauthorized()
        too_large = JSONResponse({"error": f"the body is larger than {MAX_BODY_BYTES:,} bytes"}, status_code=413)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return too_large
        body = b""
        async for piece in request.stream():  # read at most MAX_BODY_BYTES, whatever Content-Length says
            body += piece
            if len(body) > MAX_BODY_BYTES:
                return too_large
        try:
            data = await run_in_threadpool(read_json, body)  # up to 1 MiB scanned: not on the event loop
        except BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            payload = await until_done(request, AskBody.parse(data))
        except PapersError as exc:
            return JSONResponse({"error": redact(str(exc))}, status_code=http_status(exc))
        except Exception as exc:  # a bug: still one JSON line, not an HTML page
            return JSONResponse({"error": redact(f"internal error ({type(exc).__name__}): {exc}")}, status_code=500)
        return JSONResponse(payload, status_code=503 if payload.get("error") else 200)

    async def health(request: HTTPRequest) -> JSONResponse:
        if not authorized(request, credentials):
            return unauthorized()
        try:
            index = chain.retriever.index
            index.check_complete()  # two counts: vectors lost under a running server show here too
            papers = index.paper_count
        except PapersError as exc:  # a damaged index: the same message and status as /api/ask
            return JSONResponse({"status": "error", "error": redact(str(exc))}, status_code=http_status(exc))
        return JSONResponse({"status": "ok", "papers": papers, "model": settings.llm.model})

    return [Route("/api/ask", ask, methods=["POST"]), Route("/api/health", health, methods=["GET"])]


def authorized(request: HTTPRequest, credentials: tuple[str, str] | None) -> bool:
    """HTTP Basic auth against ``ui.username``/``ui.password`` (always true when none are set);
    compared in constant time (``secrets.compare_digest``)."""
    if credentials is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    same_user = secrets.compare_digest(user.encode(), credentials[0].encode())
    same_password = secrets.compare_digest(password.encode(), credentials[1].encode())
    return bool(sep) and same_user and same_password


def unauthorized() -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse(
        {"error": "authentication required (HTTP Basic, ui.username / ui.password)"},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="papers-assistant"'},
    )


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond this machine without credentials (ConfigError): loopback by default."""
    ui = settings.ui
    if bool(ui.username) != bool(ui.password and ui.password.get_secret_value()):
        raise ConfigError("set both ui.username and ui.password (PAPERS_UI__USERNAME, PAPERS_UI__PASSWORD), or neither")
    if not ui.loopback and ui.credentials is None:
        raise ConfigError(
            f"refusing to serve on {ui.host} without credentials: anyone who can reach that address could use "
            "the UI, its API and your model keys. Set ui.username and ui.password (e.g. PAPERS_UI__USERNAME and "
            "PAPERS_UI__PASSWORD), or keep ui.host = 127.0.0.1"
        )


# -- serving -------------------------------------------------------------------------------------


def _theme() -> Any:
    """The default look with system fonts: nothing is fetched from a font CDN."""
    import gradio as gr

    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def launch(
    app: gr.Blocks,
    settings: Settings,
    port: int | None = None,
    *,
    block: bool = True,
    chain: AnswerChain | None = None,
) -> tuple[Any, str, str]:
    """Queue (``settings.ui.concurrency`` answers at once) and serve the UI and the HTTP API on
    ``settings.ui.host``; no share link. ``chain`` (for the API) defaults to the process-wide one."""
    check_exposure(settings)
    app.queue(default_concurrency_limit=settings.ui.concurrency)
    routes = api_routes(settings, chain or get_chain(settings))
    credentials = settings.ui.credentials
    return app.launch(
        auth=[credentials] if credentials else None,
        server_name=settings.ui.host,
        server_port=settings.ui.port if port is None else port,
        share=False,
        prevent_thread_lock=not block,
        quiet=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        theme=_theme(),
        css=CSS,
        footer_links=["api"],
        app_kwargs={"routes": routes},  # FastAPI(routes=...): matched before Gradio's own routes
    )


def warm_up(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Start the embedded model now: loading it holds the GIL for seconds, better before users come."""
    if not settings.llm.model.startswith(EMBEDDED_PREFIX):
        return
    from assistant.llm import get_model

    try:
        get_model(settings.llm.model, settings).completion_args()  # starts the embedded server
    except PapersError as exc:
        say(f"warning: {exc} (mode extract still works)")


def serve(port: int | None, index_dir: Path | None, condenser: str) -> None:
    """Load the index, build the app and serve until interrupted; any failure is a PapersError."""
    from assistant.settings import load_settings

    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    check_exposure(settings)  # before seconds of loading: a refused bind says so at once
    click.echo(f"loading the index {settings.index.path} …", err=True)
    chain = get_chain(settings)
    warm_up(settings, lambda m: click.echo(m, err=True))
    app = build_app(settings, chain, condenser=condenser)
    url = f"http://{settings.ui.host}:{settings.ui.port if port is None else port}"
    click.echo(f"starting on {url} (HTTP API: POST /api/ask, GET /api/health; Ctrl+C stops)", err=True)
    try:
        launch(app, settings, port, chain=chain)
    except OSError as exc:  # the port is taken, or the address cannot be bound
        raise PapersError(f"cannot serve on {settings.ui.host}: {exc} (try --port)") from exc


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default from settings: 7860).")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option(
    "--condenser",
    type=click.Choice(METHODS),
    default="heuristic",
    show_default=True,
    help="How follow-ups become standalone queries; llm uses the chat model.",
)
def main(port: int | None, index_dir: Path | None, condenser: str) -> None:
    """Serve the chat UI and its HTTP API (POST /api/ask, GET /api/health) on 127.0.0.1 over the indexed papers."""
    handle_errors(serve)(port, index_dir, condenser)  # the one error mapping (assistant.errors)
