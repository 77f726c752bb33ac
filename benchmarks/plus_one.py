"""One incremental ingest into an existing index: its seconds and the bytes it wrote.

    python benchmarks/plus_one.py INDEX SOURCE

Runs ``run_ingest`` in this process on a copy you made of the index and prints one JSON line:
``seconds``; ``write_bytes`` (this process's bytes sent to storage, ``/proc/self/io``);
``bytes_of_new_files`` (files under the index that did not exist before: a store copy, a delta
store, the new BM25 and sentence folders) and ``new_bytes_by_kind`` (the same by top-level
folder: ``chroma``, ``bm25``, ``sentences``, ``other``); and the manifest's stores. Measures what
``assistant.segments`` changed (a delta store instead of a copy of the committed one) on the
bundled corpus; ``benchmarks/scale.py`` times the same step at 1k-100k papers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # benchmarks/ingest.py shadows `ingest`

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)
from assistant.settings import Settings  # noqa: E402
from ingest.pipeline import run_ingest  # noqa: E402


def _io() -> dict[str, int]:
    lines = Path("/proc/self/io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: path -> (inode, size)."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            stat = os.lstat(os.path.join(folder, name))
            out[os.path.join(folder, name)] = (stat.st_ino, stat.st_size)
    return out


def main() -> None:
    index, source = Path(sys.argv[1]), Path(sys.argv[2])
    before = _files(index)
    io_before, started = _io(), time.monotonic()
    report = run_ingest([source], Settings(index=index))
    seconds, io_after = time.monotonic() - started, _io()
    fresh = {path: size for path, (inode, size) in _files(index).items() if before.get(path, (None, 0))[0] != inode}
    new = sum(fresh.values())
    by_kind: dict[str, int] = {}
    for path, size in fresh.items():
        top = Path(path).relative_to(index).parts[0]
        kind = next((k for k in ("chroma", "bm25", "sentences") if top.startswith(k)), "other")
        by_kind[kind] = by_kind.get(kind, 0) + size
    manifest = json.loads((index / "manifest.json").read_text())
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "write_bytes": io_after["write_bytes"] - io_before["write_bytes"],
                "bytes_of_new_files": new,
                "new_bytes_by_kind": by_kind,
                "added": report.added,
                "chroma_dir": manifest["chroma_dir"],
                "chroma_deltas": manifest.get("chroma_deltas"),
                "sentence_dir": manifest.get("sentence_dir"),
                "sentence_deltas": manifest.get("sentence_deltas"),
            }
        )
    )


if __name__ == "__main__":
    main()
