"""Render: one ``Answer`` in every medium it is shown in, each medium's renderer in this module.

What an answer shows is decided once, here, for every medium: its :func:`state` ("failed": the model
failed and nothing was generated, so the retrieved papers are shown with the error; "none": no
answer, with the reason; "empty": no sentence survived the checks; "answered", the closest papers
included), the reason it was not answered outright (:func:`why`), each sentence's :func:`verdict`,
the papers it cites, and the evidence behind them (:func:`backing_evidence`). Each medium then says
it in its own form:

- JSON (``ask --json``, ``--format json``, ``POST /api/ask``): :func:`answer_json`, the
  ``Answer``'s fields (``Answer.as_dict``) with titles shortened for display.
- Terminal text (``ask``, ``--format text``): :func:`answer_terminal`; the answer streams first, so
  notes follow it, in parentheses; the error goes to stderr.
- Plain text (the UI's ``/chat`` API): :func:`answer_plain`; not escaped; each cited paper with the
  evidence sentences that back the answer (there is no side panel).
- Markdown for the UI's chat and panels: :func:`answer_markdown`, :func:`sources_markdown`,
  :func:`condensed_markdown`; every piece of text is made inert with :func:`md_escape` (HTML-escaped,
  Markdown syntax neutralised) on top of Gradio's own sanitising.

The Markdown *document* of ``--format markdown`` (headings, a support table, references from the
paper records) is an export format, in ``assistant.export``, built from the same pieces. Titles are
shown shortened (``assistant.display.short_title``: at most 300 characters); the index keeps them whole.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from assistant.dates import shown_date
from assistant.display import short_title, shown_payload
from assistant.text import content_words, split_sentences

if TYPE_CHECKING:
    from assistant.result import Answer, Retrieved
    from assistant.retrieve import Source
    from assistant.verify import AnswerSentence

FALLBACK_NOTE = "this answer is the cited evidence itself (mode auto falls back to extracting)."
NO_SURVIVOR = "No sentence of the model's answer survived the citation checks."
NOTHING_GENERATED = "Retrieved papers (no answer was generated):"
WITHDRAWN = "(the text above was withdrawn; the checked answer is:)"
NO_MODEL_MODES = ("closest", "extract", "auto:extract")  # answers no model wrote

# -- what an answer shows, in every medium -------------------------------------------------------


def state(answer: Answer) -> str:
    """ "failed" (an error and no sentence), "none" (not answered: no sentence), "empty" (answered,
    but no sentence survived the checks) or "answered" (sentences to show; "closest" ones included)."""
    if answer.error and not answer.sentences:
        return "failed"
    if not answer.sentences:
        return "none" if answer.abstained else "empty"
    return "answered"


def why(answer: Answer) -> str:
    """The coverage decision's reason when the answer was not given outright, else ""."""
    return answer.decision.reason if answer.decision is not None and answer.abstained else ""


def verdict(sentence: AnswerSentence, threshold: float) -> str:
    """A sentence's verdict: "unsupported" (cites nothing), "weak" (support below ``threshold``), "flagged" (the check
    flagged it, e.g. a figure the paper contradicts) or "supported"."""
    if not sentence.citations:
        return "unsupported"
    if sentence.support < threshold:
        return "weak"
    if sentence.flagged:
        return "flagged"
    return "supported"


def support_label(sentence: AnswerSentence, threshold: float) -> str:
    """The :func:`verdict` as a short label: a tick with the score, or a warning saying why."""
    score = f"{sentence.support:.2f}"
    return {
        "unsupported": f"⚠ unsupported (no paper backs it, {score})",
        "weak": f"⚠ weak support {score}",
        "flagged": f"⚠ {sentence.note or 'flagged'} (support {score})",
        "supported": f"✓ support {score}",
    }[verdict(sentence, threshold)]


def model_wrote(answer: Answer) -> bool:
    """A model wrote the answer (its mode is not one of NO_MODEL_MODES)."""
    return answer.mode not in NO_MODEL_MODES


def cited_sources(answer: Answer) -> list[Source]:
    """The sources the answer cites, in citation order."""
    by_n = {s.n: s for s in answer.sources}
    return [by_n[c["n"]] for c in answer.citations]


def backing_evidence(answer: Answer) -> dict[int, list[str]]:
    """For each cited paper, the evidence sentences that back the answer sentences citing it:
    per citing sentence, the paper's evidence sentence sharing the most content words with it."""
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


def _paper_line(source: Source, with_url: bool = True) -> str:
    """ "[n] title — date, url" (titles shortened for display)."""
    extra = ", ".join(x for x in [shown_date(source.date), source.url if with_url else None] if x)
    return f"[{source.n}] {short_title(source.title)}" + (f" — {extra}" if extra else "")


def _flagged_lines(answer: Answer, threshold: float) -> list[str]:
    """ "Flagged sentences:" and a line per sentence whose verdict is not "supported" (none: no lines)."""
    flagged = [s for s in answer.sentences if verdict(s, threshold) != "supported"]
    if not flagged:
        return []
    return ["", "Flagged sentences:"] + [f"- {s.text} ({support_label(s, threshold)})" for s in flagged]


# -- JSON ----------------------------------------------------------------------------------------


def answer_json(result: Answer | Retrieved) -> dict[str, Any]:
    """What ``ask --json`` prints and ``POST /api/ask`` returns: ``result.as_dict()`` (the ``Answer``'s
    fields; for a ``Retrieved``, its retrieve-only answer) with titles shortened for display."""
    return shown_payload(result.as_dict())


def to_json(result: Answer | Retrieved) -> str:
    """:func:`answer_json` as one line of JSON text."""
    return json.dumps(answer_json(result))


# -- terminal text (ask) -------------------------------------------------------------------------


class TerminalText(NamedTuple):
    """What ``ask`` prints: ``out`` on stdout, ``err`` on stderr ("error: …" when the model failed, else "")."""

    out: str
    err: str

    @property
    def text(self) -> str:
        """Both as one text, the error line first (``--format text``, unstreamed: ``export``)."""
        return self.err + self.out


def _words(text: str) -> str:
    return " ".join(text.split())


def answer_terminal(answer: Answer, threshold: float, streamed: str | None = None) -> TerminalText:
    """The answer as ``ask`` prints it: the answer text, then in parentheses its note and the reason
    it was not answered outright; the retrieved papers if nothing was generated; the flagged
    sentences; citations removed; the cited papers (date, link). ``streamed``: the text already
    printed while the answer was checked (the answer is not repeated; if it differs, the streamed
    text was the model's reasoning, withdrawn); None: nothing was printed."""
    shown = state(answer)
    body = answer.answer or (NO_SURVIVOR if shown == "empty" else "")
    if streamed is None or not streamed.strip():
        lines = [body] if body else []
    elif body and _words(streamed) != _words(body):
        lines = ["", "", WITHDRAWN, body]
    else:
        lines = [""]  # ends the streamed line
    err = f"error: {answer.error}\n" if answer.error else ""
    if answer.note:
        lines.append(f"({answer.note})")
    if why(answer):
        lines.append(f"(why: {why(answer)})")
    if shown == "failed":
        lines += ["", NOTHING_GENERATED] + [f"  {_paper_line(s, with_url=False)}" for s in answer.sources]
        return TerminalText("\n".join(lines) + "\n", err)
    if answer.error:
        lines.append(f"(the model could not answer: {FALLBACK_NOTE.rstrip('.')})")
    lines += _flagged_lines(answer, threshold)
    if answer.removed_citations:
        lines.append(f"(removed citations to papers that were not retrieved: {answer.removed_citations})")
    if answer.citations:
        lines += ["", "Cited papers:"] + [f"  {_paper_line(s)}" for s in cited_sources(answer)]
    return TerminalText("\n".join(lines) + "\n", err)


def retrieved_terminal(retrieved: Retrieved) -> str:
    """``ask --retrieve-only``: the note, the coverage when not answered, each source with its scores and snippet."""
    lines = [f"({retrieved.note})"] if retrieved.note else []
    if retrieved.abstain:
        reason = retrieved.decision.reason if retrieved.decision else ""
        if retrieved.coverage == "closest":
            lines.append(f"(coverage: closest; the collection may not answer exactly this: {reason})\n")
        else:
            lines.append(f"(coverage: none; the collection does not cover this question: {reason})\n")
    for s in retrieved.sources:
        lines.append(f"[{s.n}] {short_title(s.title)}  (score {s.score:.3f}, similarity {s.similarity:.2f})")
        lines.append(f"    {s.snippet[:240]}")
    return "".join(line + "\n" for line in lines)


# -- plain text (the /chat API) ------------------------------------------------------------------


def failure_plain(message: str, sources: list[Source], note: str = "") -> str:
    """The plain-text reply when no answer was generated: the error, the note, the retrieved papers."""
    lines = [f"Error: {message}", "", *([note, ""] if note else []), NOTHING_GENERATED]
    return "\n".join(lines + [_paper_line(s, with_url=False) for s in sources])


def answer_plain(answer: Answer, threshold: float) -> str:
    """The plain-text answer the /chat API returns (nothing escaped): the note, the answer, why it
    was not answered outright, flagged sentences, each cited paper with its backing evidence."""
    shown = state(answer)
    if shown == "failed":
        return failure_plain(answer.error or "", answer.sources, answer.note)
    reason = f"Why: {why(answer)}" if why(answer) else ""
    if shown == "none":  # "not covered": the answer text says so, the reason says why
        return "\n".join(x for x in (answer.note, answer.answer, reason) if x)
    lines = [answer.note, ""] if answer.note else []
    if answer.error:
        lines += [f"The model could not answer ({answer.error}): {FALLBACK_NOTE}", ""]
    lines += [x for x in (answer.answer or NO_SURVIVOR, reason) if x]
    lines += _flagged_lines(answer, threshold)
    if answer.citations:
        lines += ["", "Cited papers:"]
        evidence = backing_evidence(answer)
        for source in cited_sources(answer):
            lines.append(_paper_line(source))
            lines += [f'    evidence: "{ev}"' for ev in evidence.get(source.n, [])]
    return "\n".join(lines)


# -- Markdown (the UI's chat and side panel) -----------------------------------------------------

# The Markdown-significant punctuation is backslash-escaped (CommonMark allows it for any ASCII
# punctuation): that disarms links, images, emphasis, code, headings, lists, tables, math and the
# bare-URL/e-mail autolinks (':' and '@' and '.' escaped). None of it is HTML-special, so escaping
# it first and then HTML-escaping never touches an entity ('&#x27;' keeps its '#').
_MD_PUNCT = frozenset("\\`*_{}[]()#+-.!|~$:@=")
_URL = re.compile(r"^https?://[^\s<>\"'`\\]+$", re.I)


def md_escape(text: object) -> str:
    """``text`` as inert Markdown: one line, HTML escaped, Markdown syntax neutralised."""
    line = " ".join(str(text).split())
    return html.escape("".join("\\" + ch if ch in _MD_PUNCT else ch for ch in line), quote=True)


def safe_url(url: str | None) -> str | None:
    """An http(s) URL with everything that could end a Markdown link destination percent-encoded."""
    if not url or not _URL.match(url.strip()):
        return None
    return quote(url.strip(), safe=":/?#&=+-._~@,;!*%$")


def _meta_md(source: Source) -> str:
    url = safe_url(source.url)
    day = shown_date(source.date)
    return " · ".join(x for x in [md_escape(day) if day else "", f"[link]({url})" if url else ""] if x)


def paper_list_md(sources: list[Source], evidence: dict[int, list[str]]) -> str:
    """A bullet per paper (number, title, date, link), with its backing evidence quoted below it."""
    lines = []
    for s in sources:
        meta = _meta_md(s)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(short_title(s.title))}" + (f" · {meta}" if meta else ""))
        lines += [f"  > {md_escape(sentence)}" for sentence in evidence.get(s.n, [])]
    return "\n".join(lines) if lines else "(none)"


def failure_markdown(message: str, sources: list[Source]) -> str:
    """The chat message when the chain raised before it had an answer, with what was retrieved."""
    return f"⚠ **Could not answer.** {md_escape(message)}\n\n**Retrieved papers**\n\n" + paper_list_md(sources, {})


def answer_markdown(answer: Answer, threshold: float, seconds: float | None = None) -> str:
    """The chat message for a finished answer (Markdown built only from escaped pieces): the note,
    the sentences with their support labels, why, the cited papers with their evidence, a footer."""
    shown = state(answer)
    note = f"_{md_escape(answer.note)}_\n\n" if answer.note else ""
    if shown == "failed":
        return (
            f"⚠ **The model could not answer.** {md_escape(answer.error)}\n\n"
            "Nothing was generated. The retrieved papers are below and in the sources panel; "
            f"try another model, or mode *extract* (no model needed).\n\n{note}"
            "**Retrieved papers**\n\n" + paper_list_md(answer.sources, {})
        )
    if answer.error:  # auto mode: the model failed, the answer is the cited evidence itself
        note += f"⚠ **The model could not answer** ({md_escape(answer.error)}): {FALLBACK_NOTE}\n\n"
    reason = f"\n\n<sub>Why: {md_escape(why(answer))}</sub>" if why(answer) else ""
    if shown == "none":
        return f"{note}**No answer.** {md_escape(answer.answer)}{reason}"
    if shown == "empty":
        return f"{note}**No answer.** {md_escape(NO_SURVIVOR)}"
    parts = [f"**{md_escape(answer.preamble)}**"] if answer.preamble else []
    for s in answer.sentences:
        marks = "".join(f"\\[{n}\\]" for n in s.citations)
        lead = f"**{md_escape(s.lead)}** — " if s.lead else ""
        parts.append(f"{lead}{md_escape(s.text)} {marks} <sub>{md_escape(support_label(s, threshold))}</sub>".strip())
    text = note + "\n\n".join(parts) + reason
    if papers := cited_sources(answer):
        text += "\n\n**Cited papers**\n\n" + paper_list_md(papers, backing_evidence(answer))
    footer = [f"mode {answer.mode}", f"coverage {answer.coverage}"]
    if model_wrote(answer):
        footer.append(f"model {answer.model}")
    if seconds is not None:
        footer.append(f"{seconds:.1f} s")
    if answer.removed_citations:
        footer.append(f"removed citations to unretrieved papers {answer.removed_citations}")
    return text + f"\n\n<sub>{md_escape(' · '.join(footer))}</sub>"


def sources_markdown(sources: list[Source], cited: set[int], abstained: bool = False) -> str:
    """The side panel: every retrieved paper with its scores, cited ones marked."""
    if not sources:
        return "No paper was retrieved."
    head = "**Retrieved papers** (fused rank score · dense cosine similarity)"
    if abstained:
        head += "\n\nNone is close enough to the question to answer from."
    lines = [head, ""]
    for s in sources:
        mark = "✓ **cited**" if s.n in cited else "not cited"
        meta = _meta_md(s)
        lines.append(f"- **\\[{s.n}\\]** {md_escape(short_title(s.title))}  ")
        lines.append(
            f"  {mark} · score {s.score:.4f} · similarity {s.similarity:.2f}" + (f" · {meta}" if meta else "") + "  "
        )
        snippet = s.snippet if len(s.snippet) <= 220 else s.snippet[:219].rstrip() + "…"
        lines.append(f"  <sub>{md_escape(snippet)}</sub>")
    return "\n".join(lines)


def condensed_markdown(history: list[dict[str, str]]) -> str:
    """The UI's "search query" panel: per turn, what was asked and what was searched for, latest first."""
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
