"""What per-collection abstention calibration adds to an ingest (issue: ≤ 15% of a full ingest).

    .venv/bin/python benchmarks/calibration.py [--data data] [--out benchmarks/out/calibration.json]

One run, one process, libraries imported first: (a) a full ``run_ingest`` of ``--data`` into a
fresh temporary index with ``abstention.calibrate`` off; (b) ``assistant.calibrate.refresh(force=True)``
on that index with the default settings (what an ingest with calibration on runs after its
commit). Reported: both wall and CPU times and the ratio (a + b) / a. The pseudo-question count
and the cross-validated estimates come from the fit itself.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import click  # noqa: E402

import assistant  # noqa: E402,F401 - sets the process environment first


@click.command()
@click.option("--data", type=click.Path(path_type=Path), default=Path("data"), show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmarks/out/calibration.json"))
def main(data: Path, out: Path) -> None:
    from assistant.calibrate import refresh
    from assistant.settings import load_settings
    from ingest.pipeline import run_ingest

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(index=Path(tmp) / "index", abstention={"calibrate": False})
        wall, cpu = time.perf_counter(), time.process_time()
        report = run_ingest([data], settings)
        ingest_wall, ingest_cpu = time.perf_counter() - wall, time.process_time() - cpu
        on = settings.model_copy(update={"abstention": settings.abstention.model_copy(update={"calibrate": True})})
        wall, cpu = time.perf_counter(), time.process_time()
        fitted = refresh(on, report.added, force=True)
        cal_wall, cal_cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "papers": report.papers,
        "ingest_s": {"wall": round(ingest_wall, 2), "cpu": round(ingest_cpu, 2)},
        "calibration_s": {"wall": round(cal_wall, 2), "cpu": round(cal_cpu, 2)},
        "ratio_with_calibration": {
            "wall": round((ingest_wall + cal_wall) / ingest_wall, 3),
            "cpu": round((ingest_cpu + cal_cpu) / ingest_cpu, 3),
        },
        "calibration": fitted,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    click.echo(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
