"""``papers fetch daily|arxiv``: fetch papers from the APIs into the index, then ingest what is new.

Plugged into ``papers`` through the ``papers.commands`` entry points (``pyproject.toml``). Errors
are one line (``assistant.errors.handle_errors``): a FetchError names the URL that failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from assistant.errors import handle_errors, redact
from assistant.settings import Settings, load_settings
from ingest.paths import path_text

EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C (128 + SIGINT)


class DateType(click.ParamType):
    """A day written YYYY-MM-DD: ``2024-02-30`` is "not a date", not a format mismatch."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD, e.g. 2024-09-03)", param, ctx)


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every source shares."""
    options = [
        click.option(
            "--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/)."
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Ask the API as a real run would (paced the same), then report what would be saved and "
            "added; nothing under the index changes.",
        ),
        click.option(
            "--refresh", is_flag=True, help="Ask again for what was fetched before (new papers, revised abstracts)."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object: responses and ingest."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def main() -> None:
    """Fetch papers from the Hugging Face Daily Papers or the arXiv API, save the raw responses under
    the index (fetched/) and ingest what is new. Resumable: a fetch that was stopped continues where
    it stopped. The only command that uses the network (docs/fetch.md)."""


@main.command()
@click.option("--date", "day", type=DateType(), help="One day (YYYY-MM-DD).")
@click.option("--since", type=DateType(), help="First day of a range (YYYY-MM-DD).")
@click.option("--until", type=DateType(), help="Last day of the range, included (default: today, UTC).")
@_common
def daily(
    day: datetime | None,
    since: datetime | None,
    until: datetime | None,
    index_dir: Path | None,
    dry_run: bool,
    refresh: bool,
    as_json: bool,
) -> None:
    """The Daily Papers of one day (--date) or of every day from --since to --until."""
    from ingest.fetch.daily import DailySource, days

    today = datetime.now(UTC).date()
    if day and (since or until):
        raise click.UsageError("give --date, or --since (and --until), not both")
    if not day and not since:
        raise click.UsageError("give --date YYYY-MM-DD, or --since YYYY-MM-DD [--until YYYY-MM-DD]")
    first = (day or since).date()  # type: ignore[union-attr]
    last = day.date() if day else (until.date() if until else today)
    if last < first:
        raise click.UsageError(f"--until {last} is before --since {first}")
    if last > today:
        raise click.UsageError(f"{last} is after today ({today}, UTC): there are no Daily Papers for it yet")
    _fetch(lambda s: DailySource(s.fetch, days(first, last)), index_dir, dry_run, refresh, as_json=as_json)


@main.command()
@click.option("--query", required=True, help="An arXiv API search query, e.g. 'cat:cs.CL AND abs:\"retrieval\"'.")
@click.option(
    "--max",
    "limit",
    type=click.IntRange(1, 30_000),
    default=100,
    show_default=True,
    help="Results to fetch, newest submissions first (a larger --max later continues from here).",
)
@_common
def arxiv(query: str, limit: int, index_dir: Path | None, dry_run: bool, refresh: bool, as_json: bool) -> None:
    """Up to --max results of an arXiv API query, newest submissions first (one request every 3 s)."""
    from ingest.fetch.arxiv import ArxivSource

    if not query.strip():
        raise click.UsageError("--query is empty")
    _fetch(lambda s: ArxivSource(s.fetch, query.strip(), limit), index_dir, dry_run, refresh, as_json=as_json)


def _fetch(
    make: Callable[[Settings], Any], index_dir: Path | None, dry_run: bool, refresh: bool, *, as_json: bool
) -> None:
    settings, report = _run(make, index_dir, dry_run, refresh, as_json=as_json)
    watched = None
    if not dry_run:  # the watched questions, as after `ingest` (also those a killed run left behind)
        from assistant.watch import after_ingest

        done = report.ingest
        changed = done is not None and (
            done.added + done.updated + done.removed > 0 or done.calibration.get("status") == "fitted"
        )
        watched = after_ingest(settings, changed)
    if as_json:
        click.echo(json.dumps(report.as_dict() | ({"watch": watched.as_dict()} if watched else {})))
        return
    for label in report.done:
        click.echo(f"{label}: fetched before, nothing to ask (--refresh asks again)")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    ingest = report.ingest
    if ingest is not None:
        for skip in ingest.skipped:
            click.echo(f"skipped {skip.where}: {skip.reason}", err=True)
    saved = sum(1 for r in report.responses if r.saved)
    head = "dry run, nothing changed: " if dry_run else ""
    asked = f"{report.requests} request{'s' if report.requests != 1 else ''}, {saved} new response{'s' * (saved != 1)}"
    if ingest is None:
        click.echo(f"{head}{asked}; nothing new to ingest → {path_text(settings.index.path)}")
        if report.calibration.get("status") == "fitted":
            click.echo("abstention calibrated again: a stopped run had committed papers without refitting it")
    else:
        verbs = ("to add", "to update") if dry_run else ("added", "updated")
        click.echo(
            f"{head}{asked}; {ingest.papers} papers in {len(report.ingested)} response file"
            f"{'s' * (len(report.ingested) != 1)}: {ingest.added} {verbs[0]}, {ingest.updated} {verbs[1]}, "
            f"{ingest.unchanged} unchanged, {len(ingest.skipped)} skipped"
            + ("" if dry_run else f", {ingest.embedded} vectors embedded")
            + f", in {report.seconds:.1f}s → {path_text(settings.index.path)}"
        )
    for line in watched.lines() if watched else ():
        click.echo(redact(line))


@handle_errors
def _run(
    make: Callable[[Settings], Any], index_dir: Path | None, dry_run: bool, refresh: bool, *, as_json: bool
) -> Any:
    from ingest.fetch.run import Fetched, run_fetch
    from ingest.pipeline import progress_bar

    settings = load_settings(**({"index": index_dir} if index_dir else {}))

    def show(item: Fetched) -> None:
        if as_json:
            return
        where = ("would save " if dry_run else "saved ") + item.file if item.saved else "unchanged since last fetched"
        click.echo(f"{item.url}: {item.papers} papers ({where})")

    progress = None if as_json or not sys.stderr.isatty() else progress_bar()
    try:
        report = run_fetch(
            make(settings),
            settings,
            refresh=refresh,
            dry_run=dry_run,
            progress=progress,
            on_response=show,
            notice=None if as_json else lambda line: click.echo(line, err=True),
        )
    except KeyboardInterrupt:  # Ctrl-C: say what is kept, not only click's "Aborted!"
        kept = (
            "nothing under the index changed (dry run)"
            if dry_run
            else f"every response saved so far is kept under {path_text(settings.index.path / 'fetched')}; "
            "run the same command again to resume (it asks only for the pages not saved, and ingests those "
            "not ingested yet)"
        )
        click.echo(f"\ninterrupted: {kept}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    return settings, report
