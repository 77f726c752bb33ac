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
