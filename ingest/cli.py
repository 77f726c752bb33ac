"""``ingest [PATHS…] [--index DIR] [--json]``: build or update the index incrementally."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import handle_errors
from assistant.settings import load_settings


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the counts.")
@click.option("--rebuild", is_flag=True, help="Start the index afresh (after a model or chunking change).")
@click.option("--prune", is_flag=True, help="Also remove indexed papers that these paths no longer contain.")
def main(paths: tuple[Path, ...], index_dir: Path | None, as_json: bool, rebuild: bool, prune: bool) -> None:
    """Read paper collections (Daily Papers dumps, JSONL, CSV, arXiv Atom, HF JSON) into the index."""
    settings, report = _ingest(paths, index_dir, rebuild, prune, as_json=as_json)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    for skip in report.skipped:
        click.echo(f"skipped {skip.source}:{skip.line or '-'}: {skip.reason}", err=True)
    click.echo(
        f"{report.papers} papers from {report.records} records ({report.duplicates} duplicates): "
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged"
        + (f", {report.removed} removed" if report.removed else "")
        + f", {len(report.skipped)} skipped, in {report.seconds:.1f}s → {settings.index}"
    )


@handle_errors
def _ingest(paths: tuple[Path, ...], index_dir: Path | None, rebuild: bool, prune: bool, *, as_json: bool) -> Any:
    from ingest.pipeline import progress_bar, run_ingest

    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    targets = list(paths) or [settings.data]
    progress = None if as_json or not sys.stderr.isatty() else progress_bar()
    return settings, run_ingest(targets, settings, rebuild=rebuild, prune=prune, progress=progress)
