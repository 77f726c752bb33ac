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

Modules: ``render`` (pure string rendering, no Gradio), ``handlers`` (request validation, the
streaming handlers), ``app`` (layout, HTTP routes, launch, the command). Gradio and Starlette are
imported only when an app is built or served.
"""

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
from assistant.ui.render import (
    backing_evidence,
    md_escape,
    render_answer_md,
    render_answer_text,
    render_condensed_md,
    render_sources_md,
    safe_url,
    support_label,
)

__all__ = [
    "CONCURRENCY_ID",
    "MODES",
    "AskBody",
    "BadRequest",
    "Handlers",
    "Request",
    "api_routes",
    "ask_payload",
    "backing_evidence",
    "build_app",
    "get_chain",
    "launch",
    "main",
    "md_escape",
    "parse_dates",
    "render_answer_md",
    "render_answer_text",
    "render_condensed_md",
    "render_sources_md",
    "safe_url",
    "serve",
    "support_label",
    "warm_up",
]
