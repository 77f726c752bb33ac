"""False positives of the injection filter on real abstracts: how many sentences of real papers are
taken for instructions to an AI reader (``assistant.evidence.addresses_the_model``), and which.

Corpora: every paper under ``data/`` (read by the ingest readers, one abstract per distinct paper
text) and the SciFact corpus (``/work/shared/benchmarks/scifact/corpus.jsonl``, the ``text`` field).
Every abstract is split by the project's one sentence splitter (``assistant.text.split_sentences``),
as evidence is. None of these sentences is an injection, so every flagged one is a false positive;
each is printed with its source so it can be read and the filter fixed.

Run: ``.venv/bin/python benchmarks/injection_false_positives.py`` (``--json`` for a machine-readable
summary; exit status 1 when any sentence is flagged).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evidence import addresses_the_model  # noqa: E402
from assistant.text import split_sentences  # noqa: E402
from ingest.readers import read_paths  # noqa: E402
from ingest.records import Paper  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl"


def bundled_abstracts(folder: Path) -> Iterator[tuple[str, str]]:
    """``(title, abstract)`` of each distinct abstract the ingest readers find under ``folder``."""
    seen: set[str] = set()
    for item in read_paths([folder]):
        if isinstance(item, Paper) and item.abstract not in seen:
            seen.add(item.abstract)
            yield item.title, item.abstract


def scifact_abstracts(path: Path) -> Iterator[tuple[str, str]]:
    """``(doc id, text)`` of every SciFact document."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                yield str(row["_id"]), str(row["text"])


def flagged(abstracts: Iterator[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
    """Number of sentences, and ``(source, sentence)`` for each one the filter flags."""
    total = 0
    hits: list[tuple[str, str]] = []
    for source, abstract in abstracts:
        for sentence in split_sentences(abstract):
            total += 1
            if addresses_the_model(sentence):
                hits.append((source, sentence))
    return total, hits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    corpora = {"bundled": bundled_abstracts(args.data), "scifact": scifact_abstracts(args.scifact)}
    summary: dict[str, dict[str, object]] = {}
    for name, abstracts in corpora.items():
        total, hits = flagged(abstracts)
        summary[name] = {"sentences": total, "flagged": len(hits), "examples": hits}
    sentences = sum(int(str(s["sentences"])) for s in summary.values())
    false_positives = sum(int(str(s["flagged"])) for s in summary.values())
    if args.json:
        print(json.dumps({"sentences": sentences, "false_positives": false_positives, "corpora": summary}, indent=1))
    else:
        for name, s in summary.items():
            print(f"{name}: {s['flagged']} of {s['sentences']:,} sentences flagged")
            for source, sentence in s["examples"]:  # type: ignore[attr-defined]
                print(f"  [{source[:50]}] {sentence}")
        print(f"false positives: {false_positives} of {sentences:,} real sentences")
    return 1 if false_positives else 0


if __name__ == "__main__":
    sys.exit(main())
