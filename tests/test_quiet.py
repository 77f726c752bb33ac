"""A quiet first run (issue 24, item 8): one-time builds and index writes print nothing meant for
library developers. Run in a fresh interpreter each, since logging's root configuration is global."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import assistant\n" + code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_a_build_silences_library_warnings_and_root_logging() -> None:
    done = run(
        "import logging, warnings\n"
        "from assistant.artifacts import quiet_libraries\n"
        "with quiet_libraries():\n"
        "    warnings.warn('tracer warning', UserWarning)\n"
        "    logging.warning('Please consider to run pre-processing before quantization.')\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "warnings.warn('after the build', UserWarning)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "tracer warning" not in done.stderr and "pre-processing" not in done.stderr
    assert "after the build" in done.stderr  # only the build is silenced


def test_building_bm25_prints_no_debug_line(tmp_path: Path) -> None:
    done = run(
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"  # even under a verbose root
        "from pathlib import Path\n"
        "from assistant.bm25 import build_bm25\n"
        f"build_bm25(Path({str(tmp_path / 'bm25')!r}), ['a', 'b'], ['speculative decoding', 'draft tokens'])\n"
    )
    assert done.returncode == 0, done.stderr
    assert "bm25s" not in done.stderr, done.stderr


def test_ingest_reports_calibration_progress_per_pseudo_question(tmp_path: Path) -> None:
    import json

    from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
    from ingest.pipeline import run_ingest

    topics = ["speculative decoding", "graph neural networks", "diffusion models", "protein folding"]
    rows = [
        {
            "title": f"A study {i} of {topics[i % 4]} with method M{i}",
            "abstract": f"We study {topics[i % 4]} in setting {i}. Method M{i} improves accuracy by {i + 3} percent "
            f"on benchmark B{i % 5}. We analyse its cost and release the code.",
        }
        for i in range(40)
    ]
    data = tmp_path / "papers.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    settings = Settings(index=tmp_path / "index", embedding=EmbeddingSettings(), chunking=ChunkSettings())
    embedded: list[tuple[int, int]] = []
    calibrated: list[tuple[int, int]] = []
    report = run_ingest(
        [data],
        settings,
        progress=lambda d, t: embedded.append((d, t)),
        calibration_progress=lambda d, t: calibrated.append((d, t)),
    )
    assert report.calibration["status"] == "fitted"
    total = report.calibration["pseudo_questions"]
    assert calibrated[0] == (1, total) and calibrated[-1] == (total, total) and len(calibrated) == total
    assert embedded and embedded[-1][0] == embedded[-1][1]
