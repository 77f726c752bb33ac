"""``papers-ui``: a Gradio chat over the same answer chain as ``ask``, plus a JSON API, on 127.0.0.1.

- Answers stream in as the chain accepts verified sentences; each finished answer lists its cited
  papers (title, date, link, the evidence sentence that backs it) and shows every sentence's
  support score, with a flag on weak or unsupported ones. A side panel lists every retrieved
  paper with its scores, cited ones marked.
- Follow-ups are condensed with the chat history into a standalone query (``assistant.condense``)
  before retrieval; the query actually searched is shown on demand.
- Everything from papers, models and users is text: it is HTML-escaped and its Markdown syntax is
  neutralised before it reaches a Markdown component, on top of Gradio's own sanitising.
- ``/chat`` is a Gradio API endpoint: ``Client(url).predict(question, api_name="/chat")`` returns
  the final answer and its citations as plain text (stateless: no follow-up condensation).
- ``POST /api/ask`` returns what ``ask --json`` prints; ``GET /api/health`` says the server is up.
- One ``AnswerChain`` (index, encoder, embedded model) per process, shared by every session;
  Gradio's queue runs at most ``settings.ui.concurrency`` answers at once.

Modules: ``handlers`` (request validation, the streaming handlers), ``app`` (layout, HTTP routes,
launch, the command), ``watched`` (the watched-questions panel). What they show is rendered by
``assistant.render`` (pure string rendering, no Gradio; the Markdown, plain-text and JSON names
below are re-exported from it). Gradio and Starlette are imported only when an app is built or served.
"""

from assistant.render import (
    answer_json,
    answer_markdown,
    answer_plain,
    backing_evidence,
    condensed_markdown,
    md_escape,
    safe_url,
    sources_markdown,
    support_label,
)
from assistant.ui.app import CONCURRENCY_ID, api_routes, build_app, launch, main, serve, warm_up
from assistant.ui.handlers import (
    MODES,
    AskBody,
    BadRequest,
    Handlers,
    Request,
    ask_payload,
    get_chain,
    parse_dates,
)

__all__ = [
    "CONCURRENCY_ID",
    "MODES",
    "AskBody",
    "BadRequest",
    "Handlers",
    "Request",
    "answer_json",
    "answer_markdown",
    "answer_plain",
    "api_routes",
    "ask_payload",
    "backing_evidence",
    "build_app",
    "condensed_markdown",
    "get_chain",
    "launch",
    "main",
    "md_escape",
    "parse_dates",
    "safe_url",
    "serve",
    "sources_markdown",
    "support_label",
    "warm_up",
]
