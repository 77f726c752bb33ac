"""``evals run | abstention | compare | scorer``: measure retrieval and answers, gate CI, compare runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from assistant.errors import handle_errors

PathType = click.Path(path_type=Path)


@click.group()
def main() -> None:
    """Evaluate retrieval, citations, faithfulness and abstention on question sets."""


@main.command()
@click.option("--questions", "questions", required=True, type=PathType, help="Question JSONL, or a BEIR directory.")
@click.option(
    "--split",
    help="Question file: keep only the questions of this split (their 'split' field, e.g. dev or test). "
    "BEIR folder: the qrels split (default test).",
)
@click.option("--retrieval-only", is_flag=True, help="Skip the LLM: retrieval metrics and retrieval's abstention.")
@click.option("--index", "index_dir", type=PathType, help="Index directory (BEIR default: OUT/index).")
@click.option("--model", help="LLM for answers (a litellm model string).")
@click.option("--mode", type=click.Choice(["auto", "generate", "extract"]), help="Answer mode.")
@click.option("--k", type=click.IntRange(1, 50), help="Papers handed to the answer step (retrieval is scored at 10).")
@click.option("--out", type=PathType, help="Output directory (default evals/out/<questions name>).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout.")
@click.option("--check", "check", type=PathType, help="Fail (exit 1) if retrieval metrics fall below these thresholds.")
@click.option(
    "--targets",
    "targets",
    type=PathType,
    help="Also list these thresholds (the issue's targets) with each value and met/missed; never fails.",
)
@click.option("--judge", help="Use this LLM (via litellm) as the support scorer instead of the heuristic.")
@click.option("--sample", type=click.IntRange(1), help="Run only N questions, evenly spaced over the set.")
@handle_errors
def run(
    questions: Path,
    split: str | None,
    retrieval_only: bool,
    index_dir: Path | None,
    model: str | None,
    mode: str | None,
    k: int | None,
    out: Path | None,
    as_json: bool,
    check: Path | None,
    judge: str | None,
    sample: int | None,
    targets: Path | None = None,
) -> None:
    """Run a question set and write results.jsonl, report.json, report.md and report.png.

    With ``--check``, the report also lists every threshold with its value and pass/fail (report.json
    ``checks``, report.md, and the printed summary); a failure exits 1. ``--targets`` lists another
    file's thresholds the same way (report.json ``targets``) without failing: a floor that guards
    against regressions and the targets still missed are both in view.
    """
    from evals.report import check_table, check_thresholds, load_thresholds, threshold_checks, write_outputs
    from evals.run import RunConfig, run_eval

    thresholds = load_thresholds(check) if check else None  # a bad file fails before the run
    aims = load_thresholds(targets) if targets else None
    out = out or Path("evals/out") / (questions.stem if questions.is_file() else questions.name)
    cfg = RunConfig(questions, out, split, retrieval_only, index_dir, model, mode, k, judge, sample)
    result = run_eval(cfg, progress=sys.stderr.isatty())
    report = result.report
    if thresholds is not None:
        checks = threshold_checks(report, thresholds)
        report["checks"] = {"file": str(check), "passed": all(c["passed"] for c in checks), "metrics": checks}
    if aims is not None:
        met = threshold_checks(report, aims)
        report["targets"] = {"file": str(targets), "passed": all(c["passed"] for c in met), "metrics": met}
    write_outputs(out, result.rows, report)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(_summary(report, out))
        if thresholds is not None:
            click.echo(f"thresholds ({check}):")
            click.echo("\n".join(check_table(report["checks"])))
        if aims is not None:
            click.echo(f"targets, reported only ({targets}):")
            click.echo("\n".join(check_table(report["targets"])).replace("FAIL", "MISSED"))
    if thresholds is not None:
        failures = check_thresholds(report, thresholds)
        if failures:
            click.echo(f"check failed against {check}:", err=True)
            for failure in failures:
                click.echo(f"  {failure}", err=True)
            sys.exit(1)
        click.echo(f"check passed against {check}", err=True)


def _summary(report: dict[str, Any], out: Path) -> str:
    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.3f}"

    r, c, a = report["retrieval"], report["counts"], report["abstention"]
    lines = [
        f"{report['questions']} questions; retrieval scored on {c['retrieval_scored']} "
        f"({c['no_gold_skipped']} without gold, {c['gold_not_in_index']} gold papers not in the index)",
        "retrieval  " + "  ".join(f"{k} {f(v)}" for k, v in r.items()),
    ]
    if report["citations"].get("measured"):
        ci, fa = report["citations"], report["faithfulness"]
        lines.append(
            f"citations  recall {f(ci['recall'])}  precision {f(ci['precision'])}  cites gold {f(ci['cites_gold'])}  "
            f"outside retrieved {ci['outside_retrieved']}  (scored {ci['answers_scored']}, "
            f"abstained {ci['abstained_excluded']}, empty {ci['empty_excluded']})"
        )
        lines.append(f"faithfulness  {f(fa['score'])}")
    lines.append(
        f"abstention ({a['decided_by']})  "
        f"unanswerable abstained {f(a['abstained_unanswerable'])} of {a['unanswerable']}"
        f"  answerable wrongly abstained {f(a['wrongly_abstained'])} of {a['answerable']}"
    )
    cv, an = report["coverage"], report["answers"]
    lines.append(
        f"coverage ({cv['decided_by']})  answerable: answered {f(cv['answerable_answered'])} closest "
        f"{f(cv['answerable_closest'])} none {f(cv['answerable_none'])}  unanswerable answered "
        f"{f(cv['unanswerable_answered'])}  off-topic none {f(cv['off_topic_none'])} of {cv['off_topic']}  "
        f"answered citing gold {f(cv['answered_cites_gold'])} ({cv['cites_gold_from']})"
    )
    if an.get("measured"):
        lines.append(
            f"answers  content-word recall {f(an['content_word_recall'])} (answered only "
            f"{f(an['content_word_recall_answered'])}, {an['with_reference']} references)  "
            f"prose {f(an['prose'])}  extract {f(an['extract'])} of {an['answered']} answered"
        )
    if report.get("by_style"):
        from evals.coverage import TABLE_NOTE, group_table

        lines += [*group_table(report), f"({TABLE_NOTE})"]
    lines.append(f"wrote {out}/report.json, report.md, report.png, results.jsonl")
    return "\n".join(lines)


@main.command()
@click.argument("a", type=PathType)
@click.argument("b", type=PathType)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@handle_errors
def compare(a: Path, b: Path, as_json: bool) -> None:
    """Show two reports (report.json files or run directories) side by side with B − A."""
    from evals.report import compare as compare_reports
    from evals.report import config_differences, format_compare, load_report

    ra, rb = load_report(a), load_report(b)
    rows, diffs = compare_reports(ra, rb), config_differences(ra, rb)
    if as_json:
        payload = {"a": str(a), "b": str(b), "metrics": rows, "config_differences": [list(d) for d in diffs]}
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(format_compare(rows, diffs, str(a), str(b)))


@main.command()
@click.option("--questions", "questions", required=True, type=PathType, help="Question JSONL, or a BEIR directory.")
@click.option(
    "--split", help="Question file: only this split's questions ('split' field). BEIR folder: qrels split (test)."
)
@click.option("--index", "index_dir", type=PathType, help="Index directory (BEIR default: OUT/index).")
@click.option("--out", type=PathType, help="Output directory (default evals/out/abstention-<questions name>).")
@click.option("--seed", default=0, show_default=True, help="Seed for choosing the BEIR queries to leave out.")
@click.option(
    "--target-refused",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Override abstention.target_refused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON to stdout.")
@handle_errors
def abstention(
    questions: Path,
    split: str | None,
    index_dir: Path | None,
    out: Path | None,
    seed: int,
    target_refused: float | None,
    as_json: bool,
) -> None:
    """Refusal rates on answerable, unanswerable and leave-out near-miss questions (evals/abstention.py).

    A question file: every answerable question is also asked with its gold papers masked. A BEIR
    folder: half the judged queries (seeded) are asked with their relevant documents masked.
    """
    from evals.abstention import leave_out_rows, summarise
    from evals.run import RunConfig, prepare

    name = questions.stem if questions.is_file() else questions.name
    out = out or Path("evals/out") / f"abstention-{name}"
    cfg = RunConfig(questions, out, split, index=index_dir)
    prepared = prepare(cfg, progress=sys.stderr.isatty())
    chain = prepared.chain
    if target_refused is not None:
        chain.settings.abstention.target_refused = target_refused
    rows = leave_out_rows(chain, prepared.questions, prepared.gold_of, halves=prepared.beir is not None, seed=seed)
    calibration = chain.calibration
    result = {
        "questions": str(questions),
        "split": prepared.beir.split if prepared.beir is not None else split,
        "index": str(prepared.settings.index.path),
        "papers": chain.retriever.index.paper_count,
        "calibrated": calibration is not None,
        "calibration": {
            "fitted_on": calibration.fitted_on,
            "estimates": calibration.estimates,
            "threshold": calibration.threshold_for(chain.settings.abstention.target_refused),
        }
        if calibration
        else None,
        "target_refused": chain.settings.abstention.target_refused,
        "seed": seed,
        **summarise(rows),
        "rows": [r.as_dict() for r in rows],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "abstention.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for kind, want in (("answerable", "low"), ("unanswerable", "high"), ("near_miss", "high")):
        g = result[kind]
        if g["questions"]:
            click.echo(
                f"{kind:13s} refused {g['refused']:3d} of {g['questions']:3d} ({g['refused_rate']:.1%}; want {want})"
            )
    click.echo(f"written: {out / 'abstention.json'}")


@main.command()
@click.option("--pairs", "pairs_path", type=PathType, default=Path("evals/support_pairs.jsonl"), show_default=True)
@click.option("--index", "index_dir", type=PathType, help="Index whose manifest supplies the abstracts (else data/).")
@click.option("--out", type=PathType, default=Path("evals/out/scorer.json"), show_default=True)
@click.option("--judge", help="Score with this LLM (via litellm) instead of the heuristic.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON to stdout.")
@handle_errors
def scorer(pairs_path: Path, index_dir: Path | None, out: Path, judge: str | None, as_json: bool) -> None:
    """Accuracy, precision, recall and F1 of the support scorer on the labelled pairs."""
    from assistant.settings import load_settings
    from evals.pairs import evidence_by_title, load_pairs, score_pairs

    settings = load_settings(**({"index": index_dir} if index_dir else {}))
    pairs = load_pairs(pairs_path)
    evidence = evidence_by_title(settings)
    if judge:
        from evals.judge import JudgeScorer

        support: Any = JudgeScorer(judge, settings)
    else:
        from assistant.embedding import QueryEncoder
        from evals.run import product_scorer

        model = settings.embedding.model
        manifest = settings.index.path / "manifest.json"
        if manifest.is_file():
            model = json.loads(manifest.read_text())["embedding_model"]
        support = product_scorer(QueryEncoder(model, settings.cache), settings)
    result = score_pairs(pairs, evidence, support)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    s = result["supported"]

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.3f}"

    click.echo(
        f"{result['scorer']} (threshold {result['threshold']}) on {result['pairs']} pairs: "
        f"accuracy {f(s['accuracy'])}  "
        f"'supported' precision {f(s['precision'])} recall {f(s['recall'])} F1 {f(s['f1'])}"
    )
    for kind, row in result["by_kind"].items():
        click.echo(f"  {kind:<18} {row['label']:<12} n={row['n']:<3} accuracy {f(row['accuracy'])}")
    if result["side_by_side"]:
        click.echo("side by side (accuracy): " + "  ".join(result["side_by_side"]))
        for kind in ["accuracy", *result["by_kind"]]:
            row = "  ".join(f"{part['threshold']:.2f}:{f(part[kind])}" for part in result["side_by_side"].values())
            click.echo(f"  {kind:<18} {row}")
    best = result["best_threshold"]
    click.echo(
        f"best F1 on these pairs at threshold {best['threshold']}: F1 {f(best['f1'])} accuracy {f(best['accuracy'])}"
    )
    if result["missing_sources"]:
        click.echo(f"{len(result['missing_sources'])} source titles not found, pairs skipped", err=True)
    click.echo(f"wrote {out}")
