"""The command line: one ``papers`` group (``ask``, ``ingest``, ``ui``, ``eval``), one error mapping.

``papers ask`` and ``papers ui`` live in this package; ``papers ingest`` and ``papers eval`` are
plugged in through the ``papers.commands`` entry-point group (``pyproject.toml``), so this library
never imports the packages built on top of it. ``ask``, ``ingest``, ``evals`` and ``papers-ui``
remain as entry points of their own.

Every command maps errors the same way (``assistant.errors.handle_errors``): a ``PapersError`` prints
``error: <message>`` on stderr (and ``{"error": message}`` on stdout with ``--json``) and exits 1;
a usage error (bad option, empty question, ``--k`` out of range) exits 2 with click's message.
"""

from __future__ import annotations

import json
import sys
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import click

from assistant.errors import EXIT_ERROR, EXIT_USAGE, fail, handle_errors
from assistant.export import FORMATS
from assistant.render import answer_terminal, retrieved_terminal, to_json
from assistant.settings import MAX_K

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "fail", "handle_errors", "main", "papers"]


def _check_question(question: str, fmt: str) -> None:
    """The same check as every other door (``assistant.text.clean_question``): blank is a usage error
    (exit 2); the JSON formats print ``{"error": ...}`` on stdout too, as for their other errors."""
    from assistant.errors import EmptyQuestion
    from assistant.text import clean_question

    try:
        clean_question(question)
    except EmptyQuestion as exc:
        if fmt in ("json", "bundle"):
            click.echo(json.dumps({"error": str(exc)}))
        raise click.BadParameter(str(exc), param_hint="'QUESTION'") from None


def _dates(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """Each ``--date`` checked as every door checks it (``assistant.dates.check_dates``): an
    impossible, relative or unreadable date is a usage error naming it."""
    from assistant.dates import DateError, check_dates

    try:
        return tuple(check_dates(value) or ())
    except DateError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command()
@click.argument("question")
@click.option("--k", type=click.IntRange(1, MAX_K), help=f"Papers to retrieve, 1-{MAX_K} (default from settings: 5).")
@click.option("--model", help="Any litellm model string; default: the embedded local model.")
@click.option("--mode", type=click.Choice(["auto", "generate", "extract"]), help="How to answer.")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option(
    "--date",
    "dates",
    multiple=True,
    callback=_dates,
    help="Only papers with this page date (repeatable): 'Sep 3', '2024-09-03', '2024-09' or 'September'.",
)
@click.option(
    "--retrieve-only",
    is_flag=True,
    help="Show the retrieved papers; no LLM (except to translate a non-English question).",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object (the same as --format json).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="text (default, streamed), markdown, json, bibtex (the cited papers) or bundle (JSON to audit the "
    "answer later: index generation and catalog hash, model, settings, scores, verdicts).",
)
def main(
    question: str,
    k: int | None,
    model: str | None,
    mode: str | None,
    index_dir: Path | None,
    dates: tuple[str, ...],
    retrieve_only: bool,
    as_json: bool,
    fmt: str | None,
) -> None:
    """Answer QUESTION from the indexed paper abstracts, citing paper titles."""
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json is --format json: give --json or --format {fmt}, not both")
    fmt = "json" if as_json else fmt or "text"
    if retrieve_only and fmt not in ("text", "json"):
        raise click.UsageError(f"--retrieve-only prints text or json, not {fmt}")
    _check_question(question, fmt)
    # JSON formats print {"error": ...} on stdout too (assistant.errors.handle_errors reads as_json)
    handle_errors(_ask)(
        question, k, model, mode, index_dir, dates, retrieve_only, fmt, as_json=fmt in ("json", "bundle")
    )


def _ask(
    question: str,
    k: int | None,
    model: str | None,
    mode: str | None,
    index_dir: Path | None,
    dates: tuple[str, ...],
    retrieve_only: bool,
    fmt: str,
    as_json: bool,
) -> None:
    from assistant.settings import load_settings

    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    if retrieve_only:
        _retrieve_only(question, settings, k, list(dates), fmt == "json", model)
        return
    from assistant.answer import AnswerChain

    chain = AnswerChain(settings)
    stream = _Streamer() if fmt == "text" else None
    answer = chain.answer(question, k=k, mode=mode, model=model, dates=list(dates) or None, on_text=stream)
    if stream is not None:  # the answer was printed as it was checked: the rest of ask's text follows it
        shown = answer_terminal(answer, chain.scorer.threshold, streamed=stream.shown)
        click.echo(shown.out, nl=False)
        if shown.err:
            click.echo(shown.err, nl=False, err=True)
    else:
        from assistant.export import export

        text = export(answer, fmt, chain.retriever.index, settings, chain.scorer.threshold)
        click.echo(text, nl=False)
        if fmt == "bibtex" and not text:
            click.echo("(no paper was cited: nothing to write as BibTeX)", err=True)
    if answer.error:
        sys.exit(EXIT_ERROR)


def _retrieve_only(
    question: str, settings: Any, k: int | None, dates: list[str], as_json: bool, model: str | None = None
) -> None:
    from assistant.answer import AnswerChain

    # no LLM runs, unless the question must be translated first (then --model's, as for answers)
    retrieval = AnswerChain(settings).retrieve(question, k=k, dates=dates or None, model=model)
    click.echo(to_json(retrieval) + "\n" if as_json else retrieved_terminal(retrieval), nl=False)


class _Streamer:
    """Prints verified sentences as they are accepted (only verified text is ever shown)."""

    def __init__(self) -> None:
        self.started = False
        self.shown = ""

    def __call__(self, text: str) -> None:
        self.started = True
        self.shown += text
        click.echo(text, nl=False)
        sys.stdout.flush()


class _Commands(click.Group):
    """``papers``: built-in commands plus those registered under the ``papers.commands`` entry points,
    each imported only when it runs (``papers ask`` never imports the UI or the ingest stack)."""

    BUILTIN: ClassVar[dict[str, str]] = {"ask": "assistant.cli:main", "ui": "assistant.ui:main"}

    def _targets(self) -> dict[str, str]:
        plugged = {ep.name: ep.value for ep in entry_points(group="papers.commands")}
        return {**plugged, **self.BUILTIN}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._targets())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self._targets().get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(import_module(module), attr)


@click.group(cls=_Commands)
def papers() -> None:
    """Question answering over paper abstracts with verified citations, offline by default."""
