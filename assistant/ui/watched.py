"""The "Watched questions" panel: the living questions of ``assistant.watch`` and what changed since you
last looked.

Read from ``<index>/watch.json`` each time the page loads (an ``ingest`` in another process answers
them again); "Check again" answers every one now (no model: ``assistant.watch.run``), "Mark as seen"
makes every question's last answer the one you have seen. Questions are added and removed with
``papers watch add|remove``. Every text shown is escaped (``assistant.render.md_escape``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.display import short_title
from assistant.errors import PapersError, redact
from assistant.render import md_escape
from assistant.watch import Change, Cited, Watched, WatchList, run

if TYPE_CHECKING:
    from assistant.answer import AnswerChain
    from assistant.settings import Settings

EMPTY = 'No watched questions. Add one with `papers watch add "QUESTION"`; it is answered again after every ingest.'


def _papers(papers: tuple[Cited, ...]) -> str:
    return "; ".join(f"{md_escape(short_title(c.title, 120))} ({md_escape(c.paper_id)})" for c in papers)


def _change_md(change: Change) -> str:
    parts = []
    if change.before != change.after:
        parts.append(f"coverage {md_escape(change.before or 'not answered yet')} → **{md_escape(change.after)}**")
    if change.newly_cited:
        parts.append(f"newly cited: {_papers(change.newly_cited)}")
    if change.no_longer_cited:
        parts.append(f"no longer cited: {_papers(change.no_longer_cited)}")
    return "; ".join(parts)


def render_watched_md(entries: list[Watched]) -> str:
    """The panel: a count of changed questions, then per question its last coverage, generation and
    cited papers, and (marked) what changed since it was last seen."""
    if not entries:
        return EMPTY
    changed = sum(1 for w in entries if w.unseen)
    head = (
        f"**{changed} of {len(entries)} watched questions changed since you last looked.**"
        if changed
        else f"Nothing changed since you last looked ({len(entries)} watched)."
    )
    lines = [head, ""]
    for w in entries:
        last = w.last
        state = f"*{md_escape(last.coverage)}* (generation {last.generation})" if last else "*not answered yet*"
        lines.append(f"- **#{w.id}** {md_escape(w.question)} — {state}  ")
        if w.unseen:
            lines.append(f"  🔔 **changed**: {_change_md(w.unseen)}  ")
        if last and last.cited:
            lines.append(f"  <sub>cited: {_papers(last.cited)}</sub>")
    return "\n".join(lines)


class WatchedHandlers:
    """The panel's three actions; each returns the panel's Markdown (an error as one line in it)."""

    def __init__(self, settings: Settings, chain: AnswerChain) -> None:
        self.watch = WatchList(settings.index.path)
        self.chain = chain

    def _render(self, note: str = "") -> str:
        try:
            text = render_watched_md(self.watch.entries())
        except (PapersError, OSError) as exc:
            text = f"The watched questions cannot be read: {md_escape(redact(str(exc)))}"
        return f"{note}\n\n{text}" if note else text

    def show(self) -> str:
        return self._render()

    def check(self) -> str:
        """Answer every watched question again now, then show what changed."""
        try:
            changes = run(self.chain)
        except (PapersError, OSError) as exc:
            return self._render(f"Not answered again: {md_escape(redact(str(exc)))}")
        failed = [c for c in changes if c.error]
        note = f"Answered {len(changes) - len(failed)} question(s) again" + (
            f"; {len(failed)} could not be: {md_escape(failed[0].error)}" if failed else "."
        )
        return self._render(note)

    def mark_seen(self) -> str:
        try:
            self.watch.mark_seen()
        except (PapersError, OSError) as exc:
            return self._render(f"Not marked: {md_escape(redact(str(exc)))}")
        return self._render()


def watched_panel(settings: Settings, chain: AnswerChain) -> WatchedHandlers:
    """Build the panel inside the current Blocks context (a collapsed accordion) and wire it."""
    import gradio as gr

    handlers = WatchedHandlers(settings, chain)
    with gr.Accordion("Watched questions", open=False, elem_id="watched-box"):
        panel = gr.Markdown(handlers.show, elem_id="watched", sanitize_html=True)  # read again on every page load
        with gr.Row():
            check = gr.Button("Check again", elem_id="watched-check")
            seen = gr.Button("Mark as seen", elem_id="watched-seen")
    quiet = {"api_visibility": "undocumented"}
    check.click(handlers.check, None, [panel], concurrency_limit=1, **quiet)
    seen.click(handlers.mark_seen, None, [panel], queue=False, **quiet)
    return handlers
