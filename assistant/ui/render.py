"""What the UI shows, as strings: pure functions of answers and sources (no Gradio here).

Everything that comes from papers, models or users is text. :func:`md_escape` makes it inert
before it reaches a Markdown component: HTML-escaped with the standard library's ``html.escape``
and its Markdown syntax neutralised, on top of Gradio's own sanitising. The plain-text answer of
the ``/chat`` API and the JSON of ``POST /api/ask`` are built here too. Titles are shown
shortened (``assistant.display.short_title``: at most 300 characters); the index keeps them whole.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assistant.display import short_title

if TYPE_CHECKING:
    from assistant.answer import Answer
    from assistant.retrieve import Source

FALLBACK_NOTE = "this answer is the cited evidence itself (mode auto falls back to extracting)."

# -- escaping ------------------------------------------------------------------------------------

# The Markdown-significant punctuation is backslash-escaped (CommonMark allows it for any ASCII
# punctuation): that disarms links, images, emphasis, code, headings, lists, tables, math and the
# bare-URL/e-mail autolinks (':' and '@' and '.' escaped). None of it is HTML-special, so escaping
# it first and then HTML-escaping never touches an entity ('&#x27;' keeps its '#').
_MD_PUNCT = frozenset("\\`*_{}[]()#+-.!|~$:@=")


def md_escape(text: object) -> str:
    """``text`` as inert Markdown: one line, HTML escaped, Markdown syntax neutralised."""
    line = " ".join(str(text).split())
    return html.escape("".join("\\" + ch if ch in _MD_PUNCT else ch for ch in line), quote=True)


_URL = re.compile(r"^https?://[^\s<>\"'`\\]+$", re.I)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with everything that could end a Markdown link destination percent-encoded."""
    if not url or not _URL.match(url.strip()):
        return None
    return quote(url.strip(), safe=":/?#&=+-._~@,;!*%$")


def _link(url: str | None, label: str = "link") -> str:
    url = safe_url(url)
    return f"[{label}]({url})" if url else ""


# -- one answer sentence -------------------------------------------------------------------------


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


# -- Markdown for the chat and the side panels ---------------------------------------------------


def _marks(citations: list[int]) -> str:
    return "".join(f"\\[{n}\\]" for n in citations)


def paper_list_md(sources: list[Source], evidence: dict[int, list[str]]) -> str:
    """A bullet per paper (number, title, date, link), with its backing evidence quoted below it."""
    lines = []
    for s in sources:
        meta = " · ".join(x for x in [md_escape(s.date) if s.date else "", _link(s.url)] if x)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(short_title(s.title))}" + (f" · {meta}" if meta else ""))
        for sentence in evidence.get(s.n, []):
            lines.append(f"  > {md_escape(sentence)}")
    return "\n".join(lines) if lines else "(none)"


def render_answer_md(answer: Answer, threshold: float, seconds: float | None = None) -> str:
    """The chat message for a finished answer (Markdown built only from escaped pieces)."""
    if answer.error and not answer.sentences:
        return (
            f"⚠ **The model could not answer.** {md_escape(answer.error)}\n\n"
            "Nothing was generated. The retrieved papers are below and in the sources panel; "
            "try another model, or mode *extract* (no model needed).\n\n"
            "**Retrieved papers**\n\n" + paper_list_md(answer.sources, {})
        )
    note = f"_{md_escape(answer.note)}_\n\n" if answer.note else ""
    if answer.error:  # auto mode: the model failed, the answer is the cited evidence itself
        note += f"⚠ **The model could not answer** ({md_escape(answer.error)}): {FALLBACK_NOTE}\n\n"
    reason = answer.decision.reason if answer.decision is not None else ""
    why = f"\n\n<sub>Why: {md_escape(reason)}</sub>" if reason and answer.abstained else ""
    if answer.coverage == "none" or (answer.abstained and not answer.sentences):
        return f"{note}**No answer.** {md_escape(answer.answer)}{why}"
    if not answer.sentences:
        return "**No answer.** No sentence of the model's answer survived the citation checks."
    parts = [f"**{md_escape(answer.preamble)}**"] if answer.preamble else []
    for s in answer.sentences:
        marks = _marks(s.citations)
        lead = f"**{md_escape(s.lead)}** — " if s.lead else ""
        parts.append(f"{lead}{md_escape(s.text)} {marks} <sub>{md_escape(support_label(s, threshold))}</sub>".strip())
    body = note + "\n\n".join(parts) + why
    cited = {c["n"] for c in answer.citations}
    evidence = backing_evidence(answer)
    papers = [s for s in answer.sources if s.n in cited]
    footer = [f"mode {answer.mode}", f"coverage {answer.coverage}"]
    if answer.mode not in ("closest", "extract", "auto:extract"):  # no model ran for those
        footer.append(f"model {answer.model}")
    if seconds is not None:
        footer.append(f"{seconds:.1f} s")
    if answer.removed_citations:
        footer.append(f"removed citations to unretrieved papers {answer.removed_citations}")
    text = body
    if papers:
        text += "\n\n**Cited papers**\n\n" + paper_list_md(papers, evidence)
    return text + f"\n\n<sub>{md_escape(' · '.join(footer))}</sub>"


def render_failure_md(message: str, sources: list[Source]) -> str:
    """The chat message when the chain raised before it had an answer, with what was retrieved."""
    return f"⚠ **Could not answer.** {md_escape(message)}\n\n**Retrieved papers**\n\n" + paper_list_md(sources, {})


def render_sources_md(sources: list[Source], cited: set[int], abstained: bool = False) -> str:
    """The side panel: every retrieved paper with its scores, cited ones marked."""
    if not sources:
        return "No paper was retrieved."
    head = "**Retrieved papers** (fused rank score · dense cosine similarity)"
    if abstained:
        head += "\n\nNone is close enough to the question to answer from."
    lines = [head, ""]
    for s in sources:
        mark = "✓ **cited**" if s.n in cited else "not cited"
        meta = " · ".join(x for x in [md_escape(s.date) if s.date else "", _link(s.url)] if x)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(short_title(s.title))}  ")
        lines.append(
            f"  {mark} · score {s.score:.4f} · similarity {s.similarity:.2f}" + (f" · {meta}" if meta else "") + "  "
        )
        snippet = s.snippet if len(s.snippet) <= 220 else s.snippet[:219].rstrip() + "…"
        lines.append(f"  <sub>{md_escape(snippet)}</sub>")
    return "\n".join(lines)


def render_condensed_md(history: list[dict[str, str]]) -> str:
    """The "search query" panel: per turn, what was asked and what was searched for, latest first."""
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


# -- plain text (the /chat API) and JSON (POST /api/ask) -----------------------------------------


def render_failure_text(message: str, sources: list[Source]) -> str:
    """The plain-text reply when no answer was generated: the error, then the retrieved papers."""
    lines = [f"Error: {message}", "", "Retrieved papers (no answer was generated):"]
    lines += [f"[{s.n}] {short_title(s.title)}" + (f" ({s.date})" if s.date else "") for s in sources]
    return "\n".join(lines)


def render_answer_text(answer: Answer, threshold: float) -> str:
    """The plain-text answer the /chat API returns (not Markdown; nothing escaped)."""
    if answer.error and not answer.sentences:
        return render_failure_text(answer.error, answer.sources)
    if answer.abstained:  # "none" or "closest": the answer text says which, and why
        reason = answer.decision.reason if answer.decision is not None else ""
        return "\n".join(x for x in (answer.note, answer.answer, f"Why: {reason}" if reason else "") if x)
    text = answer.answer or "No sentence of the model's answer survived the citation checks."
    if answer.error:
        text = f"The model could not answer ({answer.error}): {FALLBACK_NOTE}\n\n{text}"
    if answer.note:
        text = f"{answer.note}\n\n{text}"
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
            lines.append(f"[{c['n']}] {short_title(src.title)}" + (f" ({extra})" if extra else ""))
            lines += [f'    evidence: "{ev}"' for ev in evidence.get(c["n"], [])]
    return "\n".join(lines)
