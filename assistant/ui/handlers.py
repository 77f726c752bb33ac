"""Request validation and the handlers behind the chat, the ``/chat`` API and ``POST /api/ask``.

The chat and ``/chat`` handlers are generators, which is how Gradio streams: every ``yield`` is
an update. They read ``AnswerChain.stream`` directly (no thread, no queue) through
``assistant.result.AnswerStream``: each verified piece of text, an empty string for every generated
token, and the ``Answer`` last. The handlers hand control back to Gradio at least every HEARTBEAT_S,
so Stop, New chat or a disconnect closes them mid-sentence; closing closes the chain's generator,
whose ``with`` block closes the LLM stream, and the server stops generating. What they show is
rendered by ``assistant.render`` (Markdown for the chat, plain text for ``/chat``, JSON for the API).
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.condense import Condensed, Turn, condense
from assistant.display import short_title
from assistant.errors import EmptyQuestion, PapersError, redact
from assistant.render import (
    answer_json,
    answer_markdown,
    answer_plain,
    condensed_markdown,
    failure_markdown,
    failure_plain,
    md_escape,
    sources_markdown,
)
from assistant.result import AnswerStream, read_answer
from assistant.settings import MAX_K
from assistant.text import clean_question

if TYPE_CHECKING:
    from assistant.answer import Answer, AnswerChain
    from assistant.retrieve import Source
    from assistant.settings import Settings

MODES = ("auto", "generate", "extract")


class BadRequest(PapersError):
    """A question or option the user must fix (HTTP 422)."""


# -- validation ----------------------------------------------------------------------------------


def check_question(text: str) -> str:
    """``text`` unchanged if it is a question we take (``assistant.text.clean_question``: not blank
    once control characters are gone; a long one is cut by the chain, with a note)."""
    try:
        clean_question(text)
    except EmptyQuestion as exc:
        raise BadRequest(str(exc)) from None
    return text


def check_mode(mode: str | None) -> str | None:
    mode = (mode or "").strip() or None
    if mode is not None and mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def check_k(k: int | None) -> int | None:
    if k is not None and not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be between 1 and {MAX_K}, not {k}")
    return k


def _plain(text: str | None) -> str:
    """A form or JSON string as text we can echo: control, format and surrogate characters removed."""
    if not text:
        return ""
    try:
        return clean_question(text, limit=None)[0]
    except EmptyQuestion:
        return ""


def check_dates(dates: list[str] | None) -> list[str] | None:
    """Each date checked (``assistant.dates.check_dates``): an impossible, relative or unreadable
    date, or too many, is a BadRequest naming it."""
    from assistant.dates import DateError
    from assistant.dates import check_dates as check

    try:
        return check(dates)
    except DateError as exc:
        raise BadRequest(f"dates: {exc}") from None


def parse_dates(text: str | None) -> list[str] | None:
    """The date filter box: comma- or semicolon-separated dates ('Sep 3', '2024-09'), each checked.
    A comma inside one date ('Sep 3, 2024') joins it to the year that follows."""
    parts = [d.strip() for d in re.split(r"[,;]", text or "") if d.strip()]
    dates: list[str] = []
    for part in parts:
        if dates and re.fullmatch(r"(?:19|20)\d\d", part):
            dates[-1] = f"{dates[-1]}, {part}"
        else:
            dates.append(part)
    return check_dates(dates)


@dataclass
class Request:
    """The per-question knobs of the chat and ``/chat``, validated."""

    model: str | None
    mode: str | None
    k: int | None
    dates: list[str] | None

    @classmethod
    def parse(cls, model: str | None, mode: str | None, k: float | None, dates: str | None) -> Request:
        """From the form: ``k`` 0 or empty means the default; ``dates`` is the filter box's text."""
        if k and (not math.isfinite(k) or k != int(k)):
            raise BadRequest(f"k must be a whole number of papers, not {k}")
        k_int = check_k(int(k) if k else None)
        return cls(_plain(model) or None, check_mode(_plain(mode)), k_int, parse_dates(_plain(dates)))

    def kwargs(self) -> dict[str, Any]:
        return {"model": self.model, "mode": self.mode, "k": self.k, "dates": self.dates}


MAX_MODEL_CHARS = 200  # a litellm model string ("openai/gpt-4o-mini"); longer is not a model name


class AskBody(BaseModel):
    """The JSON body of ``POST /api/ask``: ``ask``'s arguments and options (the question is cut by
    the chain, with a note; at most MAX_DATES dates, a model string of at most MAX_MODEL_CHARS)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str
    k: int | None = None
    mode: str | None = None
    model: str | None = None
    dates: list[str] | None = None
    retrieve_only: bool = False

    @classmethod
    def parse(cls, data: object) -> AskBody:
        """Types checked by pydantic, then the same checks as the chat; BadRequest names the field."""
        try:
            body = cls.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            problems = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors[:5]]
            more = f"; and {len(errors) - 5:,} more" if len(errors) > 5 else ""
            raise BadRequest("; ".join(problems) + more) from None
        check_question(body.question)
        body.mode = check_mode(_plain(body.mode))
        check_k(body.k)
        body.model = _plain(body.model) or None
        if body.model is not None and len(body.model) > MAX_MODEL_CHARS:
            raise BadRequest(f"model: at most {MAX_MODEL_CHARS} characters, not {len(body.model):,}")
        body.dates = check_dates([d for d in (_plain(x) for x in body.dates or []) if d])
        return body


class Cancelled(PapersError):
    """The client went away; the answer was stopped (nobody is left to read it)."""


def ask_payload(chain: AnswerChain, body: AskBody, cancel: threading.Event | None = None) -> dict[str, Any]:
    """What ``ask --json`` prints for the same question and options (``assistant.render.answer_json``
    of the answer, or of the retrieve-only result). A PapersError raised by the chain propagates; a
    provider failure does not raise, it is the payload's ``error`` (``ask`` then exits 1). ``cancel``
    set (the client disconnected) closes the chain's stream at its next token, which closes the LLM
    stream: Cancelled."""
    if body.retrieve_only:
        return answer_json(chain.retrieve(body.question, k=body.k, dates=body.dates))

    def check(_piece: str) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the client disconnected; the answer was stopped")

    stream = chain.stream(body.question, k=body.k, mode=body.mode, model=body.model, dates=body.dates)
    return answer_json(read_answer(stream, check))


# -- the shared chain and the streaming bridge ---------------------------------------------------

_chains: dict[Path, AnswerChain] = {}
_chains_lock = threading.Lock()


def get_chain(settings: Settings) -> AnswerChain:
    """The process-wide chain for this index, built on first use (index, encoder, scorer)."""
    from assistant.answer import AnswerChain

    key = Path(settings.index.path).resolve()
    with _chains_lock:
        chain = _chains.get(key)
        if chain is None:
            chain = _chains[key] = AnswerChain(settings)
        return chain


HEARTBEAT_S = 0.25  # while the model writes a sentence, hand control back to Gradio this often


def _due(last: list[float]) -> bool:
    """True at most every HEARTBEAT_S: a yield point where Gradio can stop the handler."""
    now = time.monotonic()
    if now - last[0] < HEARTBEAT_S:
        return False
    last[0] = now
    return True


def _failure_message(exc: Exception) -> str:
    return redact(str(exc) if isinstance(exc, PapersError) else f"internal error ({type(exc).__name__}): {exc}")


# -- the handlers --------------------------------------------------------------------------------


class Handlers:
    """The two Gradio entry points: ``respond`` (the UI chat, with history) and ``chat_api`` (/chat)."""

    def __init__(self, settings: Settings, chain: AnswerChain) -> None:
        self.settings = settings
        self.chain = chain
        self.threshold = chain.scorer.threshold
        self._export_dir: Path | None = None  # where export_files writes (made on first use)

    def _retrieved_anyway(self, query: str, req: Request) -> list[Source]:
        """Sources to show when the chain raised before returning an answer."""
        try:
            return self.chain.retriever.search(query, k=req.k, dates=req.dates).sources
        except Exception:
            return []

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
        try:
            message, _ = clean_question(message or "", limit=None)  # the chain cuts a long one, with a note
        except EmptyQuestion as exc:
            gr.Warning(str(exc))  # the same message as ask (exit 2) and POST /api/ask (422)
            yield gr.skip(), chat, turns, gr.skip(), gr.skip()
            return
        chat.append({"role": "user", "content": md_escape(message)})
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
        try:
            last = [time.monotonic()]
            with contextlib.closing(AnswerStream(self.chain.stream(condensed.query, **req.kwargs()))) as stream:
                for piece in stream:
                    if not piece:  # the model is still writing: let Gradio stop us if asked to
                        if _due(last):
                            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                        continue
                    streamed += piece
                    chat[-1] = {"role": "assistant", "content": md_escape(streamed) + " ▍"}
                    yield "", chat, turns, gr.skip(), condensed_markdown(shown)
                answer = stream.answer
        except Exception as exc:
            sources = self._retrieved_anyway(condensed.query, req)
            chat[-1] = {"role": "assistant", "content": failure_markdown(_failure_message(exc), sources)}
            yield "", chat, shown, sources_markdown(sources, set()), condensed_markdown(shown)
            return
        record["answer"] = "" if answer.error else answer.answer
        record["result"] = answer  # what the Export control and "More like this" read (Handlers.after_answer)
        elapsed = time.perf_counter() - started
        chat[-1] = {"role": "assistant", "content": answer_markdown(answer, self.threshold, elapsed)}
        cited = {c["n"] for c in answer.citations}
        sources_md = sources_markdown(answer.sources, cited, answer.coverage == "none")
        yield "", chat, shown, sources_md, condensed_markdown(shown)

    # -- after an answer: its exports and the papers it retrieved (see assistant.export, assistant.similar)

    def export_files(self, answer: Answer) -> tuple[Path, Path | None]:
        """The answer as Markdown and its cited papers as BibTeX (None: nothing cited), written to
        files in a temporary folder Gradio may serve (named by content: the same answer, the same file)."""
        import hashlib
        import tempfile

        from assistant.bibtex import bibtex
        from assistant.export import cited_papers, to_markdown

        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="papers-export-"))
        folder = self._export_dir

        def write(text: str, suffix: str) -> Path:
            path = folder / f"answer-{hashlib.sha256(text.encode()).hexdigest()[:12]}.{suffix}"
            path.write_text(text, encoding="utf-8")
            return path

        papers = cited_papers(answer, self.chain.retriever.index)
        bib = bibtex(papers)
        return write(to_markdown(answer, self.threshold, papers), "md"), write(bib, "bib") if bib else None

    def after_answer(self, turns: list[dict[str, Any]] | None = None) -> tuple[Any, Any, Any]:
        """(Markdown download, BibTeX download, "More like this" choices) for the last turn's answer;
        disabled when the last turn has none (a failure, New chat)."""
        import gradio as gr

        answer = (turns or [{}])[-1].get("result")
        if answer is None:
            off = gr.DownloadButton(value=None, interactive=False)
            return off, off, gr.Dropdown(choices=[], value=None)
        md_path, bib_path = self.export_files(answer)
        choices = [(f"[{s.n}] {short_title(s.title, 120)}", s.paper_id) for s in answer.sources]
        return (
            gr.DownloadButton(value=str(md_path), interactive=True),
            gr.DownloadButton(value=str(bib_path) if bib_path else None, interactive=bib_path is not None),
            gr.Dropdown(choices=choices, value=None),
        )

    def more_like_this(self, paper: str | None, k: float | None = 5) -> str:
        """Markdown: the papers nearest ``paper`` (a retrieved paper's id, or any title or id typed),
        from the stored vectors (``assistant.similar``; no model runs)."""
        from assistant.dates import shown_date
        from assistant.similar import resolve, similar

        text = _plain(paper)
        if not text:
            return "Pick a retrieved paper, or type a title or paper id."
        index = self.chain.retriever.index
        try:
            pid = resolve(index, text)
            found = similar(index, pid, int(k or 5))
            title = index.manifest.papers[pid].title
        except PapersError as exc:
            return f"⚠ {md_escape(_failure_message(exc))}"
        lines = [f"**Papers like** {md_escape(short_title(title))}", ""]
        for s in found:
            day = shown_date(s.date)
            about = md_escape(f"{s.paper_id}, {day}" if day else s.paper_id)
            lines.append(f"- {md_escape(short_title(s.title))} <sub>{about}; similarity {s.score:.2f}</sub>")
        return "\n".join(lines) if found else lines[0] + "\n\nNo other paper in the index."

    def chat_api(self, message: str, model: str = "", mode: str = "", k: int = 0, dates: str = "") -> Iterator[str]:
        """Answer one question from the indexed papers (stateless: no follow-up condensation).
        Streams the verified text; the final value is the answer with its cited papers and their
        evidence as plain text. model: any litellm string (default from settings); mode: auto,
        generate or extract; k: papers to retrieve (0 = default); dates: comma-separated date prefixes."""
        import gradio as gr

        try:
            message, _ = clean_question(message or "", limit=None)
            req = Request.parse(model, mode, k, dates)
        except PapersError as exc:
            raise gr.Error(str(exc)) from exc
        streamed = ""
        try:
            last = [time.monotonic()]
            with contextlib.closing(AnswerStream(self.chain.stream(message, **req.kwargs()))) as stream:
                for piece in stream:
                    if piece or _due(last):  # an empty piece: a point where Gradio may stop us
                        streamed += piece
                        yield streamed
            yield answer_plain(stream.answer, self.threshold)
        except Exception as exc:
            yield failure_plain(_failure_message(exc), self._retrieved_anyway(message, req))
