"""``ingest [PATHS…] [--index DIR] [--json]``: build or update the index incrementally."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import handle_errors, redact
from assistant.settings import load_settings
from ingest.paths import path_text


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--index", "index_dir", type=click.Path(path_type=Path), help="Index directory (default .papers/).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the counts.")
@click.option("--rebuild", is_flag=True, help="Start the index afresh (after a model or chunking change).")
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove indexed papers that came from these paths and that they no longer hold (papers from "
    "other sources are never touched; removing more than 20% of the collection needs --yes).",
)
@click.option("--yes", is_flag=True, help="Confirm a --prune that removes more than 20% of the collection.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Report what this run would add, update and (with --prune) remove, and change nothing.",
)
@click.option(
    "--recalibrate", is_flag=True, help="Fit this collection's abstention decision again (assistant.calibrate)."
)
@click.option(
    "--repair",
    is_flag=True,
    help="Recover a damaged index: an unreadable manifest from its backup or from PATHS; missing vectors "
    "and BM25 are re-made (any run does that) embedding only what is missing.",
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Encode on a running Ray cluster with Ray Data: `auto` (the cluster found as Ray finds it) or "
    "HOST:PORT of its head node. This process still writes the index (same commit, same results).",
)
def main(
    paths: tuple[Path, ...],
    index_dir: Path | None,
    as_json: bool,
    rebuild: bool,
    prune: bool,
    yes: bool,
    dry_run: bool,
    recalibrate: bool,
    repair: bool,
    ray_address: str | None,
) -> None:
    """Read paper collections (Daily Papers dumps, JSONL, CSV, arXiv Atom, HF JSON) into the index."""
    if dry_run and (rebuild or repair or ray_address):
        raise click.UsageError("--dry-run reports what a run would do: it combines with no --rebuild, --repair, --ray")
    flags = {"rebuild": rebuild, "prune": prune, "yes": yes, "dry_run": dry_run, "recalibrate": recalibrate}
    settings, report = _ingest(paths, index_dir, flags, repair, ray_address, as_json=as_json)
    watched = None if dry_run else _watch(settings, report)  # living questions (assistant.watch)
    if as_json:
        click.echo(json.dumps(report.as_dict() | ({"watch": watched.as_dict()} if watched else {})))
        return
    for skip in report.skipped:
        click.echo(f"skipped {skip.where}: {skip.reason}", err=True)
    if dry_run:
        for paper in report.pruned:
            click.echo(f"would remove {paper['id']}: {paper['title'][:100]} (from {', '.join(paper['sources'])})")
    added, updated, removed = ("to add", "to update", "to remove") if dry_run else ("added", "updated", "removed")
    click.echo(
        ("dry run, nothing changed: " if dry_run else "")
        + f"{report.papers} papers from {report.records} records ({report.duplicates} duplicates): "
        f"{report.added} {added}, {report.updated} {updated}, {report.unchanged} unchanged"
        + (f", {report.removed} {removed}" if report.removed or (dry_run and prune) else "")
        + f", {len(report.skipped)} skipped, in {report.seconds:.1f}s → {path_text(settings.index.path)}"
    )
    if report.restored:
        how = {
            "backup": "the damaged manifest was restored from its backup",
            "sources": "the damaged manifest was rebuilt from the sources and the vectors still stored",
            "store": "the lost vector store was rebuilt from the newest one left",
        }[report.restored]
        click.echo(f"repaired: {how}")
    if report.unrecovered:
        click.echo(
            f"warning: {len(report.unrecovered)} papers had vectors in the store but are in none of the paths given, "
            f"so they are not in the index now (e.g. {report.unrecovered[0]}); run `ingest --repair` with every "
            "source path to get them back",
            err=True,
        )
    if report.repaired:
        click.echo(f"repaired: {report.repaired} missing vectors re-embedded ({report.embedded} embedded in all)")
    cal = report.calibration
    if cal.get("status") in ("fitted", "kept") and cal.get("estimated_refused_answerable") is not None:
        click.echo(
            f"abstention {'calibrated' if cal['status'] == 'fitted' else 'calibration kept'} for this collection: "
            f"{cal['pseudo_questions']} pseudo-questions; estimated {cal['estimated_refused_answerable']:.0%} of "
            f"answerable questions refused, {cal['estimated_answered_near_miss']:.0%} of near misses answered"
            + (f" ({cal['seconds']:.1f}s)" if cal["status"] == "fitted" else "")
        )
    elif cal.get("status") == "default":
        click.echo(f"abstention: {cal['reason']}")
    for line in watched.lines() if watched else ():
        click.echo(redact(line))


def _watch(settings: Any, report: Any) -> Any:
    """The watched questions answered again when this run changed the collection or refitted its
    calibration (``assistant.watch.after_ingest``): a ``WatchReport``, or None when none ran."""
    from assistant.watch import after_ingest

    changed = report.added + report.updated + report.removed > 0 or report.calibration.get("status") == "fitted"
    return after_ingest(settings, changed)


@handle_errors
def _ingest(
    paths: tuple[Path, ...],
    index_dir: Path | None,
    flags: dict[str, bool],
    repair: bool,
    ray_address: str | None,
    *,
    as_json: bool,
) -> Any:
    from ingest.pipeline import progress_bar, run_ingest

    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    targets = list(paths) or ([] if repair else [settings.data])  # --repair alone reads no source
    bars = not as_json and sys.stderr.isatty()
    return settings, run_ingest(
        targets,
        settings,
        **flags,
        repair=repair,
        progress=progress_bar() if bars else None,
        calibration_progress=progress_bar("calibrating", "question") if bars else None,
        ray_address=ray_address,
    )
