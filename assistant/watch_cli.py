"""``papers watch add|list|remove|run``: living questions (``assistant.watch``) from the command line.

Plugged into ``papers`` through the ``papers.commands`` entry points (``pyproject.toml``). Errors are
one line (``assistant.errors.handle_errors``): an empty question (exit 2, as ``ask``), a question
already watched, an unknown id, no index; nothing stored is lost on any of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.display import short_title
from assistant.errors import EXIT_USAGE, EmptyQuestion, handle_errors, redact

INDEX = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/)."
)
JSON = click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")


def _settings(index_dir: Path | None) -> Any:
    from assistant.settings import load_settings

    return load_settings(**({"index": index_dir} if index_dir else {}))


def _cited(papers: Any) -> str:
    return "; ".join(f"{short_title(c.title, 80)} ({c.paper_id})" for c in papers) or "nothing"


@click.group()
def main() -> None:
    """Living questions: saved beside the index, answered again (no model) after every ingest that
    changes the collection and on `papers watch run`; what changed is reported (docs/watch.md)."""


@main.command()
@click.argument("question")
@INDEX
@JSON
@handle_errors
def add(question: str, index_dir: Path | None, as_json: bool) -> None:
    """Watch QUESTION: save it, and answer it once now (no model) so the next run reports changes."""
    from assistant.answer import AnswerChain
    from assistant.watch import WatchList, run

    settings = _settings(index_dir)
    try:
        watched = WatchList(settings.index.path).add(question)
    except EmptyQuestion as exc:  # a usage error at every door (ask: exit 2)
        if as_json:
            click.echo(json.dumps({"error": str(exc)}))
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    chain = AnswerChain(settings)
    try:
        answered = run(chain, [watched.id], seen=True)
    finally:
        chain.retriever.index.close()
    error = next((c.error for c in answered if c.error), None)
    last = next((w.last for w in WatchList(settings.index.path).entries() if w.id == watched.id), None)
    if as_json:
        now = last.as_dict() if last else None
        click.echo(json.dumps({"id": watched.id, "question": watched.question, "last": now, "error": error}))
        return
    click.echo(redact(f'watching #{watched.id}: "{watched.question}"'))
    if error:
        click.echo(redact(f"  not answered now: {error}"))
    elif last is not None:
        click.echo(redact(f"  now: coverage {last.coverage}, citing {_cited(last.cited)}"))


@main.command(name="list")
@INDEX
@JSON
@click.option("--mark-seen", is_flag=True, help="Then mark every change as seen (as the UI's button does).")
@handle_errors
def list_(index_dir: Path | None, as_json: bool, mark_seen: bool) -> None:
    """The watched questions, their last answer, and what changed since last seen."""
    from assistant.watch import WatchList

    settings = _settings(index_dir)
    watch = WatchList(settings.index.path)
    watch.require_index()
    entries = watch.entries()
    if as_json:
        rows = [{**w.as_dict(), "unseen": w.unseen.as_dict() if w.unseen else None} for w in entries]
        click.echo(json.dumps({"questions": rows}))
    elif not entries:
        click.echo('no watched questions (`papers watch add "QUESTION"` adds one)')
    for w in [] if as_json else entries:
        last = w.last
        state = f"coverage {last.coverage}, generation {last.generation}" if last else "not answered yet"
        click.echo(f'#{w.id} "{w.question}" ({state})' + ("  [changed]" if w.unseen else ""))
        if last and last.cited:
            click.echo(f"    cited: {_cited(last.cited)}")
        if w.unseen:
            click.echo(f"    since last seen: {w.unseen.line().split(': ', 1)[1]}")
    if mark_seen:  # what was listed, not an answer recorded by a run since
        watch.mark_seen(shown={w.id: w.last for w in entries if w.last is not None})


@main.command()
@click.argument("question_or_id")
@INDEX
@JSON
@handle_errors
def remove(question_or_id: str, index_dir: Path | None, as_json: bool) -> None:
    """Stop watching QUESTION_OR_ID (its id, e.g. 3 or #3, or its text)."""
    from assistant.watch import WatchList

    removed = WatchList(_settings(index_dir).index.path).remove(question_or_id)
    if as_json:
        click.echo(json.dumps({"removed": removed.as_dict()}))
        return
    click.echo(f'no longer watching #{removed.id}: "{removed.question}"')


@main.command(name="run")
@INDEX
@JSON
@handle_errors
def run_(index_dir: Path | None, as_json: bool) -> None:
    """Answer every watched question again now (no model) and report what changed."""
    from assistant.answer import AnswerChain
    from assistant.watch import WatchList, WatchReport, run

    settings = _settings(index_dir)
    watch = WatchList(settings.index.path)
    watch.require_index()
    if not watch.entries():
        report = WatchReport(0)
    else:
        chain = AnswerChain(settings)
        try:
            changes = run(chain)
        finally:
            chain.retriever.index.close()
        report = WatchReport(len(changes), changes)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    for line in report.lines():
        click.echo(redact(line))
    changed = report.as_dict()["changed"]
    click.echo(f"{report.watched} watched question{'s' * (report.watched != 1)}, {changed} changed")
