"""``papers-ui``: a Gradio chat over the same answer chain as ``ask``, on 127.0.0.1.

- Answers stream in as the chain accepts verified sentences; each finished answer lists its cited
  papers (title, date, link, the evidence sentence that backs it) and shows every sentence's
  support score, with a flag on weak or unsupported ones. A side panel lists every retrieved
  paper with its scores, cited ones marked.
- Follow-ups are condensed with the chat history into a standalone query (``assistant.condense``)
  before retrieval; the query actually searched is shown on demand.
- Everything from papers, models and users is text: it is HTML-escaped and its Markdown syntax is
  neutralised before it reaches a Markdown component, on top of Gradio's own sanitising.
- ``/chat`` is an API endpoint: ``Client(url).predict(question, api_name="/chat")`` returns the
  final answer and its citations as plain text (stateless: no follow-up condensation).
- One ``AnswerChain`` (index, encoder, embedded model) per process, shared by every session;
  Gradio's queue runs at most ``settings.ui.concurrency`` answers at once.
"""

from __future__ import annotations

import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from assistant.condense import METHODS, Condensed, Turn, condense
from assistant.errors import PapersError
from assistant.settings import EMBEDDED_PREFIX

if TYPE_CHECKING:
    import gradio as gr

    from assistant.answer import Answer, AnswerChain
    from assistant.retrieve import Source
    from assistant.settings import Settings

MODES = ("auto", "generate", "extract")
MAX_QUESTION_CHARS = 2000
MODEL_CHOICES = ("embedded/qwen2.5-0.5b", "embedded/smollm2-135m", "openai/gpt-4o-mini", "ollama/llama3.2")
CONCURRENCY_ID = "answer"  # the UI's chat and the /chat API share one concurrency limit

# -- escaping ------------------------------------------------------------------------------------

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
# The Markdown-significant punctuation is backslash-escaped (CommonMark allows it for any ASCII
# punctuation): that disarms links, images, emphasis, code, headings, lists, tables, math and the
# bare-URL/e-mail autolinks (':' and '@' and '.' escaped).
_MD_PUNCT = frozenset("\\`*_{}[]()#+-.!|~$:@=")


def md_escape(text: object) -> str:
    """``text`` as inert Markdown: one line, HTML escaped, Markdown syntax neutralised."""
    out = []
    for ch in " ".join(str(text).split()):
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _MD_PUNCT:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


_URL = re.compile(r"^https?://[^\s<>\"'`\\]+$", re.I)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with everything that could end a Markdown link destination percent-encoded."""
    if not url or not _URL.match(url.strip()):
        return None
    return quote(url.strip(), safe=":/?#&=+-._~@,;!*%$")


def _link(url: str | None, label: str = "link") -> str:
    url = safe_url(url)
    return f"[{label}]({url})" if url else ""


# -- rendering -----------------------------------------------------------------------------------


def parse_dates(text: str | None) -> list[str] | None:
    """The date filter box: comma- or semicolon-separated prefixes ('Sep 3', '2024-09')."""
    dates = [d.strip() for d in re.split(r"[,;]", text or "") if d.strip()]
    return dates or None


def support_label(sentence: Any, threshold: float) -> str:
    """A short verdict for one answer sentence: a tick with the score, or a flag saying why."""
    score = f"{sentence.support:.2f}"
    if not sentence.citations:
        return f"⚠ unsupported (no paper backs it, {score})"
    if sentence.support < threshold:
        return f"⚠ weak support {score}"
    if sentence.flagged:
        return f"⚠ {sentence.note or 'flagged'} (support {score})"
    return f"✓ support {score}"


def backing_evidence(answer: Answer) -> dict[int, list[str]]:
    """For each cited paper, the evidence sentences that back the answer sentences citing it:
    per citing sentence, the paper's evidence sentence sharing the most content words with it."""
    from assistant.text import content_words, split_sentences

    by_n = {s.n: s for s in answer.sources}
    out: dict[int, list[str]] = {}
    for sentence in answer.sentences:
        words = set(content_words(sentence.text))
        for n in sentence.citations:
            source = by_n.get(n)
            if source is None:
                continue
            pool = answer.evidence.get(n) or split_sentences(source.abstract) or [source.abstract]
            best = max(pool, key=lambda ev: len(words & set(content_words(ev))))
            chosen = out.setdefault(n, [])
            if best not in chosen:
                chosen.append(best)
    return out


def _marks(citations: list[int]) -> str:
    return "".join(f"\\[{n}\\]" for n in citations)


def render_answer_md(answer: Answer, threshold: float, seconds: float | None = None) -> str:
    """The chat message for a finished answer (Markdown built only from escaped pieces)."""
    if answer.error:
        return (
            f"⚠ **The model could not answer.** {md_escape(answer.error)}\n\n"
            "Nothing was generated. The retrieved papers are below and in the sources panel; "
            "try another model, or mode *extract* (no model needed).\n\n"
            "**Retrieved papers**\n\n" + _paper_list(answer.sources, {})
        )
    if answer.abstained:
        return f"**No answer.** {md_escape(answer.answer)}"
    if not answer.sentences:
        return "**No answer.** No sentence of the model's answer survived the citation checks."
    parts = []
    for s in answer.sentences:
        marks = _marks(s.citations)
        parts.append(f"{md_escape(s.text)} {marks} <sub>{md_escape(support_label(s, threshold))}</sub>".strip())
    body = "\n\n".join(parts)
    cited = {c["n"] for c in answer.citations}
    evidence = backing_evidence(answer)
    papers = [s for s in answer.sources if s.n in cited]
    footer = [f"mode {answer.mode}"]
    if not answer.mode.endswith("extract"):
        footer.append(f"model {answer.model}")
    if seconds is not None:
        footer.append(f"{seconds:.1f} s")
    if answer.removed_citations:
        footer.append(f"removed citations to unretrieved papers {answer.removed_citations}")
    text = body
    if papers:
        text += "\n\n**Cited papers**\n\n" + _paper_list(papers, evidence)
    return text + f"\n\n<sub>{md_escape(' · '.join(footer))}</sub>"


def _paper_list(sources: list[Source], evidence: dict[int, list[str]]) -> str:
    lines = []
    for s in sources:
        meta = " · ".join(x for x in [md_escape(s.date) if s.date else "", _link(s.url)] if x)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(s.title)}" + (f" · {meta}" if meta else ""))
        for sentence in evidence.get(s.n, []):
            lines.append(f"  > {md_escape(sentence)}")
    return "\n".join(lines) if lines else "(none)"


def render_sources_md(sources: list[Source], cited: set[int], abstained: bool = False) -> str:
    if not sources:
        return "No paper was retrieved."
    head = "**Retrieved papers** (fused rank score · dense cosine similarity)"
    if abstained:
        head += "\n\nNone is close enough to the question to answer from."
    lines = [head, ""]
    for s in sources:
        mark = "✓ **cited**" if s.n in cited else "not cited"
        meta = " · ".join(x for x in [md_escape(s.date) if s.date else "", _link(s.url)] if x)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(s.title)}  ")
        lines.append(
            f"  {mark} · score {s.score:.4f} · similarity {s.similarity:.2f}" + (f" · {meta}" if meta else "") + "  "
        )
        snippet = s.snippet if len(s.snippet) <= 220 else s.snippet[:219].rstrip() + "…"
        lines.append(f"  <sub>{md_escape(snippet)}</sub>")
    return "\n".join(lines)


def render_condensed_md(history: list[dict[str, str]]) -> str:
    if not history:
        return "Follow-up questions are rewritten into a standalone query before retrieval; they show here."
    lines = []
    for i, turn in enumerate(reversed(history), start=1):
        how = "unchanged" if turn["query"] == turn["question"] else f"{turn['method']}: {turn['reason']}"
        lines.append(
            f"{'**Latest**' if i == 1 else '—'} you asked: {md_escape(turn['question'])}  \n"
            f"searched for: **{md_escape(turn['query'])}**  \n<sub>{md_escape(how)}</sub>"
        )
    return "\n\n".join(lines)


def render_answer_text(answer: Answer, threshold: float) -> str:
    """The plain-text answer the /chat API returns (not Markdown; nothing escaped)."""
    if answer.error:
        lines = [f"Error: {answer.error}", "", "Retrieved papers (no answer was generated):"]
        lines += [f"[{s.n}] {s.title}" + (f" ({s.date})" if s.date else "") for s in answer.sources]
        return "\n".join(lines)
    if answer.abstained:
        return answer.answer
    text = answer.answer or "No sentence of the model's answer survived the citation checks."
    flagged = [s for s in answer.sentences if support_label(s, threshold).startswith("⚠")]
    lines = [text]
    if flagged:
        lines += ["", "Flagged sentences:"] + [f"- {s.text} ({support_label(s, threshold)})" for s in flagged]
    if answer.citations:
        lines += ["", "Cited papers:"]
        by_n = {s.n: s for s in answer.sources}
        evidence = backing_evidence(answer)
        for c in answer.citations:
            src = by_n[c["n"]]
            extra = ", ".join(x for x in [src.date, src.url] if x)
            lines.append(f"[{c['n']}] {src.title}" + (f" ({extra})" if extra else ""))
            lines += [f'    evidence: "{ev}"' for ev in evidence.get(c["n"], [])]
    return "\n".join(lines)


# -- the shared chain and streaming ---------------------------------------------------------------

_chains: dict[Path, AnswerChain] = {}
_chains_lock = threading.Lock()


def get_chain(settings: Settings) -> AnswerChain:
    """The process-wide chain for this index, built on first use (index, encoder, scorer)."""
    from assistant.answer import AnswerChain

    key = Path(settings.index).resolve()
    with _chains_lock:
        chain = _chains.get(key)
        if chain is None:
            chain = _chains[key] = AnswerChain(settings)
        return chain


class _Cancelled(Exception):
    """Raised inside the worker when the client went away, to stop generating early."""


@dataclass
class Event:
    kind: str  # "text" | "done" | "error"
    text: str = ""
    answer: Answer | None = None


def stream_answer(chain: AnswerChain, question: str, **kwargs: Any) -> Iterator[Event]:
    """Run the blocking ``chain.answer`` in a worker thread and yield its text as it is accepted.

    Ends with one "done" (the Answer) or "error" (a PapersError message) event. Closing the
    iterator (the user pressed stop, the client left) makes the worker stop at its next sentence.
    """
    events: queue.Queue[Event] = queue.Queue()
    cancel = threading.Event()

    def on_text(piece: str) -> None:
        if cancel.is_set():
            raise _Cancelled
        events.put(Event("text", piece))

    def work() -> None:
        try:
            events.put(Event("done", answer=chain.answer(question, on_text=on_text, **kwargs)))
        except _Cancelled:
            pass
        except PapersError as exc:
            events.put(Event("error", str(exc)))
        except Exception as exc:  # a bug must not hang the chat: report it as an error event
            events.put(Event("error", f"internal error ({type(exc).__name__}): {exc}"))

    worker = threading.Thread(target=work, name="papers-answer", daemon=True)
    worker.start()
    try:
        while True:
            event = events.get()
            yield event
            if event.kind != "text":
                return
    finally:
        cancel.set()


@dataclass
class Request:
    """The per-question knobs, validated."""

    model: str | None
    mode: str | None
    k: int | None
    dates: list[str] | None

    @classmethod
    def parse(cls, model: str | None, mode: str | None, k: float | None, dates: str | None) -> Request:
        mode = (mode or "").strip() or None
        if mode is not None and mode not in MODES:
            raise PapersError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        k_int = int(k) if k else None
        if k_int is not None and not 1 <= k_int <= 50:
            raise PapersError(f"k must be between 1 and 50, not {k_int}")
        return cls((model or "").strip() or None, mode, k_int, parse_dates(dates))

    def kwargs(self) -> dict[str, Any]:
        return {"model": self.model, "mode": self.mode, "k": self.k, "dates": self.dates}


def _retrieved_anyway(chain: AnswerChain, query: str, req: Request) -> list[Source]:
    """Sources for the side panel when the chain raised before returning an answer."""
    try:
        return chain.retriever.search(query, k=req.k, dates=req.dates).sources
    except Exception:
        return []


# -- the app -------------------------------------------------------------------------------------

CSS = """
#sources { max-height: 78vh; overflow-y: auto; }
#chatbot sub, #sources sub { font-size: 0.78em; opacity: 0.85; }
"""


class Handlers:
    """The two entry points: ``respond`` (the UI chat, with history) and ``chat_api`` (/chat)."""

    def __init__(self, settings: Settings, chain: AnswerChain) -> None:
        self.settings = settings
        self.chain = chain
        self.threshold = chain.scorer.threshold

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]] | None,
        turns: list[dict[str, str]] | None,
        model: str | None = None,
        mode: str | None = None,
        k: float | None = None,
        dates: str | None = None,
        method: str = "heuristic",
    ) -> Iterator[tuple[Any, ...]]:
        """Yields (textbox, chat, turns, sources panel, condensed panel); the answer streams in."""
        import gradio as gr

        chat = list(chat or [])
        turns = list(turns or [])
        message = " ".join((message or "").split())
        if not message:
            yield gr.skip(), chat, turns, gr.skip(), gr.skip()
            return
        chat.append({"role": "user", "content": md_escape(message)})
        if len(message) > MAX_QUESTION_CHARS:
            chat.append({"role": "assistant", "content": f"Please ask in at most {MAX_QUESTION_CHARS} characters."})
            yield "", chat, turns, gr.skip(), gr.skip()
            return
        chat.append({"role": "assistant", "content": "*Searching the papers…*"})
        yield "", chat, turns, gr.skip(), gr.skip()
        try:
            req = Request.parse(model, mode, k, dates)
        except PapersError as exc:
            chat[-1] = {"role": "assistant", "content": f"⚠ {md_escape(exc)}"}
            yield "", chat, turns, gr.skip(), gr.skip()
            return
        history = [Turn(t["question"], t["query"], t.get("answer", "")) for t in turns]
        condensed: Condensed = condense(
            message, history, method="llm" if method == "llm" else "heuristic", settings=self.settings, model=req.model
        )
        record = {"question": message, "query": condensed.query, "method": condensed.method}
        record |= {"reason": condensed.reason, "answer": ""}
        shown = [*turns, record]
        started = time.perf_counter()
        streamed = ""
        for event in stream_answer(self.chain, condensed.query, **req.kwargs()):
            if event.kind == "text":
                streamed += event.text
                chat[-1] = {"role": "assistant", "content": md_escape(streamed) + " ▍"}
                yield "", chat, turns, gr.skip(), render_condensed_md(shown)
            elif event.kind == "error":
                sources = _retrieved_anyway(self.chain, condensed.query, req)
                chat[-1] = {
                    "role": "assistant",
                    "content": f"⚠ **Could not answer.** {md_escape(event.text)}\n\n**Retrieved papers**\n\n"
                    + _paper_list(sources, {}),
                }
                yield "", chat, shown, render_sources_md(sources, set()), render_condensed_md(shown)
            elif event.answer is not None:
                answer = event.answer
                record["answer"] = "" if answer.error else answer.answer
                elapsed = time.perf_counter() - started
                chat[-1] = {"role": "assistant", "content": render_answer_md(answer, self.threshold, elapsed)}
                cited = {c["n"] for c in answer.citations}
                sources = render_sources_md(answer.sources, cited, answer.abstained)
                yield "", chat, shown, sources, render_condensed_md(shown)

    def chat_api(self, message: str, model: str = "", mode: str = "", k: int = 0, dates: str = "") -> Iterator[str]:
        """Answer one question from the indexed papers (stateless: no follow-up condensation).
        Streams the verified text; the final value is the answer with its cited papers and their
        evidence as plain text. model: any litellm string (default from settings); mode: auto,
        generate or extract; k: papers to retrieve (0 = default); dates: comma-separated date prefixes."""
        import gradio as gr

        message = " ".join((message or "").split())
        if not message:
            raise gr.Error("Ask a question.")
        if len(message) > MAX_QUESTION_CHARS:
            raise gr.Error(f"Please ask in at most {MAX_QUESTION_CHARS} characters.")
        try:
            req = Request.parse(model, mode, k, dates)
        except PapersError as exc:
            raise gr.Error(str(exc)) from exc
        streamed = ""
        for event in stream_answer(self.chain, message, **req.kwargs()):
            if event.kind == "text":
                streamed += event.text
                yield streamed
            elif event.kind == "error":
                sources = _retrieved_anyway(self.chain, message, req)
                lines = [f"Error: {event.text}", "", "Retrieved papers (no answer was generated):"]
                yield "\n".join(lines + [f"[{s.n}] {s.title}" for s in sources])
            elif event.answer is not None:
                yield render_answer_text(event.answer, self.threshold)


def build_app(settings: Settings, chain: AnswerChain | None = None, condenser: str = "heuristic") -> gr.Blocks:
    """The Blocks app; ``chain`` defaults to the process-wide one for ``settings.index``."""
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
                    condensed_md = gr.Markdown(render_condensed_md([]), elem_id="condensed", sanitize_html=True)
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
                    sources_md = gr.Markdown(
                        "Retrieved papers appear here, with their scores; cited ones are marked.",
                        elem_id="sources",
                        sanitize_html=True,
                    )

        inputs = [box, chatbot, turns, model, mode, k, dates, method]
        outputs = [box, chatbot, turns, sources_md, condensed_md]
        common = {"concurrency_id": CONCURRENCY_ID, "api_visibility": "undocumented", "show_progress": "hidden"}
        asked = box.submit(handlers.respond, inputs, outputs, **common)
        clicked = send.click(handlers.respond, inputs, outputs, **common)
        stop.click(None, None, None, cancels=[asked, clicked], queue=False)
        fresh = "Retrieved papers appear here, with their scores; cited ones are marked."
        new.click(
            lambda: ([], [], fresh, render_condensed_md([])),
            None,
            [chatbot, turns, sources_md, condensed_md],
            cancels=[asked, clicked],
            queue=False,
            api_visibility="undocumented",
        )
        chatbot.clear(  # the chat's own trash button: forget the history used for follow-ups too
            lambda: ([], fresh, render_condensed_md([])),
            None,
            [turns, sources_md, condensed_md],
            cancels=[asked, clicked],
            queue=False,
            api_visibility="undocumented",
        )
        gr.api(chat, api_name="chat", concurrency_id=CONCURRENCY_ID)
    return app


def _theme() -> Any:
    """The default look with system fonts: nothing is fetched from a font CDN."""
    import gradio as gr

    return gr.themes.Default(
        font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def launch(app: gr.Blocks, settings: Settings, port: int | None = None, *, block: bool = True) -> tuple[Any, str, str]:
    """Queue (``settings.ui.concurrency`` answers at once) and serve on ``settings.ui.host``; no share link."""
    app.queue(default_concurrency_limit=settings.ui.concurrency)
    return app.launch(
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
    """Serve the chat UI on 127.0.0.1 over the indexed papers."""
    from assistant.settings import load_settings

    try:
        settings = load_settings(**({"index": index_dir} if index_dir else {}))
        click.echo(f"loading the index {settings.index} …", err=True)
        chain = get_chain(settings)
        warm_up(settings, lambda m: click.echo(m, err=True))
        app = build_app(settings, chain, condenser=condenser)
    except PapersError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    url = f"http://{settings.ui.host}:{settings.ui.port if port is None else port}"
    click.echo(f"starting on {url} (Ctrl+C stops)", err=True)
    try:
        launch(app, settings, port)
    except OSError as exc:  # the port is taken, or the address cannot be bound
        click.echo(f"error: cannot serve on {settings.ui.host}: {exc} (try --port)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
