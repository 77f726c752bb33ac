"""Turn per-question rows into report.json / report.md / report.png, check thresholds, compare runs.

The report keeps every count a mean depends on (questions without gold, abstained or empty
answers left out of the citation means, gold papers missing from the index) next to the mean,
so a number can never look better than it is because something was quietly dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from evals import coverage, metrics
from evals.metrics import RETRIEVAL_KEYS, mean

SECTIONS = ("retrieval", "citations", "faithfulness", "abstention", "coverage", "answers")


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def build_report(
    rows: list[dict[str, Any]], config: dict[str, Any], extra: dict[str, Any] | None = None, seconds: float = 0.0
) -> dict[str, Any]:
    scored = [r for r in rows if r["hit@1"] is not None]
    report: dict[str, Any] = {
        "questions": len(rows),
        "retrieval": metrics.mean_scores(scored),
        "citations": {"measured": False, "reason": "--retrieval-only"},
        "faithfulness": {"measured": False, "reason": "--retrieval-only"},
        "abstention": {
            **metrics.abstention((r["kind"] != "unanswerable", bool(r["abstained"])) for r in rows),
            "decided_by": "retrieval" if config.get("retrieval_only") else "answer",
        },
        "counts": {
            "retrieval_scored": len(scored),
            "no_gold_skipped": len(rows) - len(scored),
            "gold_not_in_index": sum(r.get("gold_not_in_index", 0) for r in rows),
        },
        "retrieval_by_kind": {},
    }
    for kind in sorted({r["kind"] for r in scored}):
        group = [r for r in scored if r["kind"] == kind]
        report["retrieval_by_kind"][kind] = {"questions": len(group), **metrics.mean_scores(group)}
    if not config.get("retrieval_only"):
        answered = [r for r in rows if not r["abstained"] and not r.get("empty")]
        with_gold = [r for r in answered if r.get("cites_gold") is not None]
        report["citations"] = {
            "measured": True,
            "recall": mean(r["citation_recall"] for r in answered),
            "precision": mean(r["citation_precision"] for r in answered),
            "cites_gold": mean(float(r["cites_gold"]) for r in with_gold),
            "outside_retrieved": sum(r.get("outside_citations", 0) for r in rows),
            "duplicate_citations": sum(r.get("duplicate_citations", 0) for r in rows),
            "removed_by_answer_step": sum(r.get("removed_citations", 0) for r in rows),
            "answers_scored": len(answered),
            "abstained_excluded": sum(bool(r["abstained"]) for r in rows),
            "empty_excluded": sum(bool(r.get("empty")) for r in rows),
        }
        report["faithfulness"] = {
            "measured": True,
            "score": mean(r["faithfulness"] for r in answered),
            "answers_scored": len(answered),
        }
        report["counts"]["answer_errors"] = sum(r.get("error") is not None for r in rows)
        # which path produced each answer: the model's checked sentences, or the extractive fallback
        report["counts"]["answered_by"] = dict(sorted(Counter(str(r.get("mode")) for r in answered).items()))
    outcomes = [{**r, "coverage": coverage.coverage_of(r)} for r in rows]
    shown = "citations" if not config.get("retrieval_only") else f"top-{coverage.SHOWN_SOURCES} sources"
    report.update(coverage.summarise(outcomes, answers=not config.get("retrieval_only"), cites_gold_from=shown))
    report["coverage"]["decided_by"] = report["abstention"]["decided_by"]
    report["config"] = config
    report.update(extra or {})
    report["timing"] = {
        "seconds": seconds,
        "retrieve_ms_mean": mean(r["retrieve_ms"] for r in rows if r.get("retrieve_ms") is not None),
    }
    return _round(report)


def write_outputs(out: Path, rows: list[dict[str, Any]], report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(_round(row), ensure_ascii=False) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report, rows), encoding="utf-8")
    chart(report, out / "report.png")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(report: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    cfg = report["config"]
    lines = [
        f"# Eval: {cfg['questions_file']}",
        "",
        f"{report['questions']} questions · index `{cfg['index']}` ({cfg['papers_indexed']} papers) · "
        f"{cfg['embedding_model']} · dense weight {cfg['fusion']['dense_weight']} · k {cfg['k']} · "
        + (
            "retrieval only"
            if cfg["retrieval_only"]
            else f"mode {cfg['mode']} · model {cfg['model']} · scorer {cfg['scorer']}"
        ),
        "",
        "## Retrieval (top 10)",
        "",
        "| " + " | ".join(RETRIEVAL_KEYS) + " |",
        "|" + "---|" * len(RETRIEVAL_KEYS),
        "| " + " | ".join(_fmt(report["retrieval"][k]) for k in RETRIEVAL_KEYS) + " |",
        "",
        f"Scored {report['counts']['retrieval_scored']}; {report['counts']['no_gold_skipped']} without gold skipped; "
        f"{report['counts']['gold_not_in_index']} gold papers not in the index.",
        "",
    ]
    for section in ("citations", "faithfulness", "abstention", "coverage", "answers"):
        lines += [f"## {section.capitalize()}", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in report.get(section, {}).items()]
        lines.append("")
    if report.get("by_kind"):
        table = coverage.group_table(report, markdown=True)
        lines += ["## Per kind and style", "", *table, "", coverage.TABLE_NOTE, ""]
    if report.get("checks"):
        lines += [f"## Thresholds ({report['checks']['file']})", "", *check_table(report["checks"], markdown=True), ""]
    misses = [r for r in rows if r["hit@10"] == 0.0]
    if misses and cfg.get("split") == "test":  # a held-out split is for aggregates only
        lines += [f"## Misses (no gold paper in the top 10): {len(misses)} (questions not listed: held-out split)", ""]
    elif misses:
        lines += [f"## Misses (no gold paper in the top 10): {len(misses)}", ""]
        for r in misses[:30]:
            lines.append(f"- `{r['id']}` {r['question']} — gold: {'; '.join(map(str, r['gold']))}")
        lines.append("")
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(RETRIEVAL_KEYS)
    values = [report["retrieval"][k] for k in labels]
    if report["citations"].get("measured"):
        labels += ["cit. recall", "cit. precision", "faithfulness"]
        values += [report["citations"]["recall"], report["citations"]["precision"], report["faithfulness"]["score"]]
    labels += ["abstain (unans.)", "wrong abstain"]
    values += [report["abstention"]["abstained_unanswerable"], report["abstention"]["wrongly_abstained"]]
    heights = [v or 0.0 for v in values]
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.9), 3.8))
    bars = ax.bar(labels, heights, color=["#4878a8"] * len(RETRIEVAL_KEYS) + ["#6a9f58"] * (len(labels) - 6))
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, _fmt(value), ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{Path(report['config']['questions_file']).name}: {report['questions']} questions", fontsize=10)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- gate --------------------------------------------------------------------------------------------


ABSTENTION_KEYS = ("abstention.abstained_unanswerable", "abstention.wrongly_abstained")
GROUPED = {"by_kind": coverage.GROUP_KEYS, "by_style": coverage.GROUP_KEYS, "retrieval_by_kind": RETRIEVAL_KEYS}


def known_metric(name: str) -> bool:
    """A threshold name (without ``max:``): a retrieval key, ``section.metric`` of the abstention,
    coverage and answers sections, or ``by_kind|by_style|retrieval_by_kind.<group>.<metric>``."""
    flat = [*RETRIEVAL_KEYS, *ABSTENTION_KEYS]
    flat += [f"coverage.{k}" for k in coverage.COVERAGE_KEYS] + [f"answers.{k}" for k in coverage.ANSWER_KEYS]
    if name in flat:
        return True
    section, _, rest = name.partition(".")
    group, _, metric = rest.partition(".")
    return section in GROUPED and bool(group) and metric in GROUPED[section]


def load_thresholds(path: Path) -> dict[str, float]:
    """Read a thresholds file: ``{"metric": bound}``; a ``max:`` prefix makes the bound an upper one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read thresholds {path}: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: thresholds must be a JSON object like {{'hit@5': 0.8}}")
    for key, value in data.items():
        if not known_metric(key.removeprefix("max:")):
            known = ", ".join([*RETRIEVAL_KEYS, *ABSTENTION_KEYS, "coverage.*", "answers.*", "by_kind.<kind>.*"])
            raise InputError(f"{path}: unknown metric {key!r} (known: {known}; each may take 'max:')")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InputError(f"{path}: threshold for {key} must be a number")
    return {k: float(v) for k, v in data.items()}


def metric_value(report: dict[str, Any], name: str) -> Any:
    """The value a threshold name points at: ``hit@5`` is ``retrieval.hit@5``; dotted names walk the
    report (``by_kind.single.hit@5``). None when any step is missing."""
    path = name.split(".") if "." in name else ["retrieval", name]
    value: Any = report
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def threshold_checks(report: dict[str, Any], thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """Every threshold with the measured value and whether it passed (one not measured fails)."""
    checks = []
    for key, limit in thresholds.items():
        upper = key.startswith("max:")
        name = key.removeprefix("max:")
        value = metric_value(report, name)
        passed = value is not None and (value <= limit if upper else value >= limit)
        checks.append({"metric": name, "value": value, "bound": "max" if upper else "min", "threshold": limit,
                       "passed": passed})  # fmt: skip
    return checks


def check_thresholds(report: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """One message per metric on the wrong side of its threshold (one not measured fails).

    A key names a retrieval metric (``"hit@5"``, a lower bound) or a dotted path into the report
    (``"abstention.abstained_unanswerable"``, ``"by_kind.single.hit@5"``); a ``max:`` prefix makes
    it an upper bound (``"max:coverage.answerable_none"``).
    """
    failures = []
    for c in threshold_checks(report, thresholds):
        name, value, limit = c["metric"], c["value"], c["threshold"]
        if value is None:
            failures.append(f"{name}: not measured, threshold {limit:.3f}")
        elif not c["passed"] and c["bound"] == "max":
            failures.append(f"{name}: {value:.4f} > maximum {limit:.3f}")
        elif not c["passed"]:
            failures.append(f"{name}: {value:.4f} < threshold {limit:.3f}")
    return failures


def check_table(checks: dict[str, Any], *, markdown: bool = False) -> list[str]:
    """Each checked metric with its value, bound and pass/fail, as aligned text or markdown."""
    rows = [
        (c["metric"], _fmt(c["value"]), "≤" if c["bound"] == "max" else "≥", _fmt(c["threshold"]),
         "pass" if c["passed"] else "FAIL")
        for c in checks["metrics"]
    ]  # fmt: skip
    if markdown:
        return ["| metric | value | bound | threshold | result |", "|---|---|---|---|---|"] + [
            "| " + " | ".join(r) + " |" for r in rows
        ]
    width = max([len(r[0]) for r in rows] + [6])
    return [f"{'metric':<{width}}  {'value':>7}  {'':1}  {'limit':>7}  result"] + [
        f"{m:<{width}}  {v:>7}  {b:1}  {t:>7}  {p}" for m, v, b, t, p in rows
    ]


# -- compare -----------------------------------------------------------------------------------------


def load_report(path: Path) -> dict[str, Any]:
    target = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read report {target}: {exc}") from exc
    if not isinstance(data, dict) or "retrieval" not in data:
        raise InputError(f"{target} is not an evals report (no 'retrieval')")
    return data


def _numbers(report: dict[str, Any]) -> dict[str, float]:
    out = {"questions": report.get("questions", 0)}
    for section in SECTIONS:
        for key, value in (report.get(section) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f"{section}.{key}"] = value
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every numeric metric present in either report, with B − A where both have it."""
    na, nb = _numbers(a), _numbers(b)
    keys = list(dict.fromkeys([*na, *nb]))
    return [
        {
            "metric": key,
            "a": na.get(key),
            "b": nb.get(key),
            "delta": nb[key] - na[key] if key in na and key in nb else None,
        }
        for key in keys
    ]


def config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    fa, fb = flat(a.get("config", {})), flat(b.get("config", {}))
    return [(k, fa.get(k), fb.get(k)) for k in dict.fromkeys([*fa, *fb]) if fa.get(k) != fb.get(k)]


def format_compare(rows: list[dict[str, Any]], diffs: list[tuple[str, Any, Any]], a: str, b: str) -> str:
    width = max([len(r["metric"]) for r in rows] + [6])
    lines = [f"{'metric':<{width}}  {'A':>9}  {'B':>9}  {'B-A':>8}", "-" * (width + 32)]
    for r in rows:
        d = r["delta"]
        delta = "" if d is None else f"{d:+d}" if isinstance(d, int) else f"{d:+.4f}"
        lines.append(f"{r['metric']:<{width}}  {_fmt(r['a']):>9}  {_fmt(r['b']):>9}  {delta:>8}")
    lines += ["", f"A: {a}", f"B: {b}"]
    if diffs:
        lines.append("config differences:")
        lines += [f"  {k}: {va!r} → {vb!r}" for k, va, vb in diffs]
    return "\n".join(lines)
