"""Fuzz every ingest reader: N generated files per format, 0 tracebacks, good records still land.

Each input is a file of one format built from a good record before and after a hostile part:
random bytes, a valid file truncated anywhere, a 10 MB line, deep nesting, a wrong encoding
(Latin-1, UTF-16, lone surrogates), wrong JSON types, odd CSV dialects and quoting, XML oddities.
Every file goes through ``ingest.readers.read_file`` (what ``ingest`` runs); a run fails if any
call raises, yields something other than ``Paper``/``Skipped``, or (for the line-oriented formats,
where it is possible) loses a good record that sits on a line of its own.

    python benchmarks/fuzz_readers.py [--per-reader 10000] [--seed 0] [--out benchmarks/out/fuzz.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and would shadow the `ingest` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402

import assistant  # noqa: E402,F401 - sets the process environment (assistant.environment)
from ingest.readers import read_file  # noqa: E402
from ingest.records import Paper, Skipped  # noqa: E402

GOOD_A = ("Quokka Burrow Mapping With Drones", "We map quokka burrows with drones and count them at night.")
GOOD_B = ("Sparse Routing For Mixture Models", "We route tokens to experts sparsely and halve inference cost.")
BIG = 10 * 1024 * 1024


def _json_line(title: str, abstract: str) -> str:
    return json.dumps({"title": title, "abstract": abstract})


def _garbage(rng: random.Random) -> bytes:
    """One hostile fragment."""
    kind = rng.randrange(12)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4096))
    if kind == 1:
        return bytes(rng.choice([0, 0xFF, 0xFE, 0xEF, 0xBB, 0xBF, 0x80, 0xC3]) for _ in range(rng.randrange(1, 64)))
    if kind == 2:
        return ("[" * rng.randrange(1000, 200_000)).encode()
    if kind == 3:
        return ('{"a":' * rng.randrange(1000, 50_000)).encode()
    if kind == 4:
        return rng.choice(["é ü ñ", "Ünïcödé", "naïve café"]).encode("latin-1")
    if kind == 5:
        return "title,abstract\nÜ,ü\n".encode("utf-16")
    if kind == 6:
        return rng.choice(['"', '""', '",,,"', "\\", "\r", "\r\n\r", "\x00", "\x1b[31m", "\u2028", "\ufeff"]).encode()
    if kind == 7:
        value = rng.choice(["null", "5", "-1e400", "1" * 5000, "[]", '[{"name":5}]', "{}", "true", '"x"'])
        return f'{{"title": {value}, "abstract": {value}, "authors": {value}, "id": {value}}}'.encode()
    if kind == 8:
        return rng.choice(
            ["<feed", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>", "<a><b></a>"]
        ).encode()
    if kind == 9:
        return "".join(rng.choice("\u200b\u200d\u00ad\ufeff\x07 ∑∀⊗。") for _ in range(rng.randrange(1, 50))).encode()
    if kind == 10:
        return b"\xed\xa0\x80"  # a lone surrogate in UTF-8 form
    return (rng.choice(["Jan 1", "Sep 31", "Subscribe", "New", "Daily Papers"]) + "\n").encode()


def _big(rng: random.Random) -> bytes:
    return (rng.choice(["x", "é", '"', "{"]) * (BIG // 2)).encode()[:BIG]


SEPARATORS = "\u2028\u2029\u0085\x1c\x1d\x1e\x0b\x0c\r"  # str.splitlines breaks at these; JSON strings may hold them


def make_jsonl(rng: random.Random, big: bool) -> tuple[bytes, set[str]]:
    middle = _big(rng) if big else b"\n".join(_garbage(rng) for _ in range(rng.randrange(1, 4)))
    odd = GOOD_B[1].replace(" ", rng.choice(SEPARATORS), rng.randrange(1, 4))
    last = json.dumps({"title": GOOD_B[0], "abstract": odd}, ensure_ascii=rng.random() < 0.5)
    text = (_json_line(*GOOD_A) + "\n").encode() + middle + ("\n" + last + "\n").encode()
    return text, {GOOD_A[0], GOOD_B[0]}


def make_csv(rng: random.Random, big: bool) -> tuple[bytes, set[str]]:
    header = rng.choice(["title,abstract", "Title,Summary", "title;abstract", "abstract,title,id", "title"])
    rows = [f'"{GOOD_A[0]}","{GOOD_A[1]}"']
    middle = _big(rng) if big else b"\n".join(_garbage(rng) for _ in range(rng.randrange(1, 3)))
    text = f"{header}\n{rows[0]}\n".encode() + middle + f'\n"{GOOD_B[0]}","{GOOD_B[1]}"\n'.encode()
    # only a comma header that names both columns can carry the good rows; a stray quote may swallow the rest
    return text, ({GOOD_A[0]} if header in {"title,abstract", "Title,Summary"} else set())


def make_daily(rng: random.Random, big: bool) -> tuple[bytes, set[str]]:
    abstract_a = GOOD_A[1] * 4  # the dump reader knows an abstract by its length
    middle = _big(rng) if big else b"\n".join(_garbage(rng) for _ in range(rng.randrange(1, 4)))
    return f"Sep 3\n\n{GOOD_A[0]}\n\n{abstract_a}\n\n".encode() + middle, {GOOD_A[0]}


def make_json(rng: random.Random, big: bool) -> tuple[bytes, set[str]]:
    good = {"paper": {"id": "2401.00001", "title": GOOD_A[0], "summary": GOOD_A[1], "authors": [{"name": "Ada"}]}}
    items: list[object] = [good]
    for _ in range(rng.randrange(1, 4)):
        items.append(rng.choice([None, 5, "x", [], {"paper": 5}, {"paper": {"title": [1]}}, {"title": {"a": 1}}]))
    text = json.dumps(items).encode()
    if big:
        return text[:-1] + b', "' + _big(rng) + b'"]', set()
    if rng.random() < 0.5:  # a broken file: nothing can be promised, only no traceback
        cut = rng.randrange(len(text))
        return text[:cut] + _garbage(rng), set()
    return text, {GOOD_A[0]}


def make_atom(rng: random.Random, big: bool) -> tuple[bytes, set[str]]:
    entry = (
        f"<entry><id>http://arxiv.org/abs/2401.00001v1</id><title>{GOOD_A[0]}</title>"
        f"<summary>{GOOD_A[1]}</summary><author><name>Ada</name></author></entry>"
    )
    odd = rng.choice(
        [
            "<entry><title></title></entry>",
            "<entry><id>http://arxiv.org/api/errors#x</id><title>Error</title><summary>bad</summary></entry>",
            "<entry><title>&amp;amp;</title><summary>\u200b</summary></entry>",
            "<entry>" + "<x>" * 500 + "</x>" * 500 + "</entry>",
        ]
    )
    text = f'<feed xmlns="http://www.w3.org/2005/Atom">{entry}{odd}</feed>'.encode()
    if big:
        return text.replace(b"</summary>", _big(rng)[:BIG] + b"</summary>", 1), set()
    if rng.random() < 0.5:
        cut = rng.randrange(len(text))
        return text[:cut] + _garbage(rng), set()
    return text, {GOOD_A[0]}


MAKERS: dict[str, Callable[[random.Random, bool], tuple[bytes, set[str]]]] = {
    ".jsonl": make_jsonl,
    ".csv": make_csv,
    ".txt": make_daily,
    ".json": make_json,
    ".xml": make_atom,
}


def fuzz(suffix: str, count: int, seed: int, big_every: int, folder: Path) -> dict[str, object]:
    rng = random.Random(f"{seed}{suffix}")
    make = MAKERS[suffix]
    tracebacks: list[str] = []
    lost = 0
    papers = skipped = 0
    started = time.perf_counter()
    path = folder / f"input{suffix}"
    for i in range(count):
        data, must_land = make(rng, big_every > 0 and i % big_every == big_every - 1)
        path.write_bytes(data)
        try:
            items = list(read_file(path))
        except Exception:
            tracebacks.append(traceback.format_exc(limit=3))
            continue
        if not all(isinstance(item, Paper | Skipped) for item in items):
            tracebacks.append(f"input {i}: a reader yielded something else")
        titles = {item.title for item in items if isinstance(item, Paper)}
        lost += bool(must_land - titles)
        papers += len(titles)
        skipped += sum(isinstance(item, Skipped) for item in items)
    return {
        "inputs": count,
        "tracebacks": len(tracebacks),
        "good_records_lost": lost,
        "papers_read": papers,
        "skipped_reported": skipped,
        "seconds": round(time.perf_counter() - started, 1),
        "first_traceback": tracebacks[0] if tracebacks else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-reader", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--big-every", type=int, default=2000, help="Every Nth input carries a 10 MB line (0: none).")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/fuzz_readers.json"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in MAKERS:
            results[suffix] = fuzz(suffix, args.per_reader, args.seed, args.big_every, Path(tmp))
            r = results[suffix]
            print(
                f"{suffix:7} {r['inputs']} inputs: {r['tracebacks']} tracebacks, {r['good_records_lost']} good "
                f"records lost, {r['papers_read']} papers, {r['skipped_reported']} skipped, {r['seconds']} s",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seed": args.seed, "per_reader": args.per_reader, "readers": results}, indent=2))
    failed = any(r["tracebacks"] or r["good_records_lost"] for r in results.values())
    print(f"wrote {args.out}" + ("; FAILED" if failed else "; 0 tracebacks, 0 good records lost"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
