"""An index on a read-only file system, and a disk that fills during ingest (issue 21, items 4 and 5).

Real file systems, not injected errors: each case runs in a child process inside its own mount
namespace (``unshare --mount``, root only), with a read-only bind mount of the index or a small
tmpfs holding it, so nothing is left mounted whatever happens. Root ignores permission bits, so the
chmod'ed-copy case runs its reader as another user (``setpriv``). A case skips only when its
mechanism is unavailable here (not root, no ``unshare``/``setpriv``, mounts refused).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from assistant import storage
from assistant.manifest import load_manifest
from assistant.settings import ChunkSettings, EmbeddingSettings, Settings
from assistant.store import PaperIndex
from ingest.pipeline import run_ingest
from tests.index_helpers import REPO, subprocess_env, synthetic_papers, write_jsonl

VENV = Path(sys.executable).parent
NOBODY = 65534
QUESTION = synthetic_papers(20, seed=3)[7]["title"]  # a paper of the small index, found first by its title


def _settings(index: Path) -> Settings:
    return Settings(index=index, embedding=EmbeddingSettings(), chunking=ChunkSettings())


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


def _in_namespace(script: str, timeout: int = 420) -> subprocess.CompletedProcess[str]:
    """Run a shell ``script`` in a private mount namespace (its mounts vanish with it)."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=subprocess_env(),
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 20-paper index (and, beside it, ``more.jsonl``: 40 papers it does not hold)."""
    base = tmp_path_factory.mktemp("storage")
    run_ingest([write_jsonl(base / "papers.jsonl", synthetic_papers(20, seed=3))], _settings(base / "index"))
    write_jsonl(base / "more.jsonl", synthetic_papers(40, seed=4))
    write_jsonl(base / "many.jsonl", synthetic_papers(300, seed=5))  # more vectors than a nearly full disk holds
    return base / "index"


needs_mounts = pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare/mount (private mount namespace)")


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(lines) == 1, stderr
    return lines[0]


# -- item 4: a read-only index -------------------------------------------------------------------


@needs_mounts
def test_ask_answers_and_ingest_says_read_only_on_a_read_only_mount(small_index: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(small_index, tmp_path / "index")
    mount = tmp_path / "ro"
    mount.mkdir()
    question = QUESTION
    before = sorted(p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("papers-store-*"))
    done = _in_namespace(
        f"mount --bind {copy} {mount} && mount -o remount,bind,ro {mount} && touch {mount}/x 2>/dev/null && exit 9; "
        f"{VENV}/ask --retrieve-only --json --index {mount} '{question}' > {tmp_path}/ask.json 2> {tmp_path}/ask.err; "
        f"echo $? > {tmp_path}/ask.rc; "
        f"{VENV}/ingest {small_index.parent}/more.jsonl --index {mount} > /dev/null 2> {tmp_path}/ingest.err; "
        f"echo $? > {tmp_path}/ingest.rc"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ask.rc").read_text().strip() == "0", (tmp_path / "ask.err").read_text()[-3000:]
    reply = json.loads((tmp_path / "ask.json").read_text())
    assert reply["sources"][0]["title"] == QUESTION
    assert (tmp_path / "ingest.rc").read_text().strip() == "1"
    line = _one_line_error((tmp_path / "ingest.err").read_text())
    assert f"the index {mount} is read-only here" in line and "Read-only file system" in line
    after = sorted(p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("papers-store-*"))
    assert after == before  # the reader's private copy of the store went with it


_READER = """
import json, sys
import numpy as np
from pathlib import Path
from assistant.settings import Settings
from assistant.store import PaperIndex

index = PaperIndex.open(Settings(index=Path(sys.argv[1])))
index.check_complete()
hits = index.dense(np.load(sys.argv[2])[0], 3)
sparse = index.sparse(sys.argv[3], 3)
entries = index.manifest.papers.get_many([hits[0].paper_id])
print(json.dumps({"dense": hits[0].paper_id, "sparse": sparse[0].paper_id, "title": entries[hits[0].paper_id].title}))
index.close()
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_reader_of_another_user_reads_a_chmodded_copy(small_index: Path, tmp_path: Path) -> None:
    """Permission bits, not a read-only mount: the files belong to root and allow only reading."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="papers-test-", dir="/tmp"))  # pytest's own tmp is private to root
    try:
        _read_as_nobody(small_index, shared)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _read_as_nobody(small_index: Path, tmp_path: Path) -> None:
    from assistant import embedding

    tmp_path.chmod(0o755)
    copy = shutil.copytree(small_index, tmp_path / "index")
    for folder, dirs, files in os.walk(copy):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o555)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
    copy.chmod(0o555)
    manifest = load_manifest(copy)
    pid, entry = next(iter(manifest.papers.items()))
    settings = _settings(copy)
    encoder = embedding.DocumentEncoder(
        settings.embedding.model, settings.cache, settings.embedding.backend, settings.embedding.batch_size
    )
    np.save(tmp_path / "q.npy", encoder.encode([f"{entry.title}\n{entry.abstract}"]))
    (tmp_path / "q.npy").chmod(0o644)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    done = subprocess.run(
        [*as_nobody, sys.executable, "-c", _READER, str(copy), str(tmp_path / "q.npy"), entry.title],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=subprocess_env(HOME="/tmp", TMPDIR="/tmp"),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"dense": pid, "sparse": pid, "title": entry.title}


def test_the_catalog_opens_read_only_where_it_cannot_be_written(
    small_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the file may not be written (as a non-root user sees a chmod'ed copy) the catalog opens
    mode=ro; where it may, read-write (to roll back a killed writer's journal); query_only in both."""
    import sqlite3

    from assistant import catalog as catalog_module
    from assistant.catalog import CATALOG, Catalog

    copy = shutil.copytree(small_index, tmp_path / "index")
    generation = load_manifest(copy).generation
    for may_write in (True, False):
        monkeypatch.setattr(catalog_module.os, "access", lambda *args, may=may_write, **kwargs: may)
        catalog = Catalog(copy / CATALOG)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            catalog.db.execute("DELETE FROM papers")
        assert len(catalog.ids(generation)) == 20
        catalog.close()


# -- item 5: a disk that fills during ingest -----------------------------------------------------


def _full_disk_script(
    index: Path,
    mount: Path,
    out: Path,
    *,
    leave_kb: int,
    precheck: bool,
    leftover_kb: int,
    repair_first: bool = False,
    source: str = "more.jsonl",
) -> str:
    """Shell: a tmpfs at ``mount`` holding a copy of ``index`` and a filler leaving ``leave_kb`` free
    (and a killed run's partial copy of ``leftover_kb``); then ask, ingest (real ENOSPC from the copy
    when ``precheck`` is off), ask, and ``--repair`` (before the ingest with ``repair_first``).
    Results (exit codes, outputs, free KB) are written to ``out``."""
    ingest = f"{VENV}/ingest {index.parent}/{source} --index {mount}/index"
    if not precheck:  # the check before copying skipped: the copy itself runs out of space
        code = textwrap.dedent("""
            import sys
            from assistant import storage
            storage.check_space = lambda *args, **kwargs: None
            from ingest.cli import main
            sys.argv = ["ingest", *sys.argv[1:]]
            main()
        """)
        (out / "nocheck.py").write_text(code)
        ingest = f"{sys.executable} {out}/nocheck.py {index.parent}/{source} --index {mount}/index"
    leftover = ""
    if leftover_kb:  # what a killed run left: a partial copy that fills the disk
        leftover = (
            f"mkdir {mount}/index/chroma-9-0badc0de.tmp && (dd if=/dev/zero "
            f"of={mount}/index/chroma-9-0badc0de.tmp/part bs=1k count={leftover_kb} 2>/dev/null; true); "
        )
    repair = (
        f"{VENV}/ingest --repair --index {mount}/index > {out}/repair.out 2> {out}/repair.err; "
        f"echo $? > {out}/repair.rc; "
    )
    return (
        f"mount -t tmpfs -o size=4m tmpfs {mount} && cp -r {index} {mount}/index && "
        f"avail=$(df -k --output=avail {mount} | tail -1) && "
        f"dd if=/dev/zero of={mount}/filler bs=1k count=$((avail-{leave_kb})) 2>/dev/null; "
        + leftover
        + f"df -k --output=avail {mount} | tail -1 > {out}/free.before; "
        f"{VENV}/ask --retrieve-only --json --index {mount}/index '{QUESTION}' > {out}/ask1.json "
        f"2> {out}/ask1.err; echo $? > {out}/ask1.rc; "
        + (repair if repair_first else "")
        + f"{ingest} > {out}/ingest.out 2> {out}/ingest.err; echo $? > {out}/ingest.rc; "
        f"ls -a {mount}/index > {out}/after.ls; df -k --output=avail {mount} | tail -1 > {out}/free.after; "
        f"{VENV}/ask --retrieve-only --json --index {mount}/index '{QUESTION}' > {out}/ask2.json "
        f"2> {out}/ask2.err; echo $? > {out}/ask2.rc; " + ("" if repair_first else repair)
    )


@needs_mounts
@pytest.mark.parametrize(
    ("precheck", "leave_kb", "source"),
    [(True, 300, "more.jsonl"), (False, 300, "more.jsonl"), (False, 900, "many.jsonl")],
    ids=["checked-before-copying", "real-enospc-while-copying", "real-enospc-while-writing-vectors"],
)
def test_a_full_disk_costs_one_line_and_no_leftovers(
    small_index: Path, tmp_path: Path, precheck: bool, leave_kb: int, source: str
) -> None:
    mount, out = tmp_path / "disk", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    manifest_before = (small_index / "manifest.json").read_text()
    script = _full_disk_script(
        small_index, mount, out, leave_kb=leave_kb, precheck=precheck, leftover_kb=0, source=source
    )
    done = _in_namespace(script)
    assert done.returncode == 0, done.stderr
    assert (out / "ask1.rc").read_text().strip() == "0", (out / "ask1.err").read_text()[-2000:]
    assert (out / "ingest.rc").read_text().strip() == "1", (out / "ingest.out").read_text()
    line = _one_line_error((out / "ingest.err").read_text())
    assert line.startswith(f"error: not enough space in {mount}/index: ") and "needs about" in line and "free" in line
    needed = float(line.split("needs about ")[1].split(" MB")[0])
    assert needed * 1000 > leave_kb  # the space a copy of the store (and its new vectors) needs, more than is left
    # nothing of the failed run is left, and the committed index still answers
    names = set((out / "after.ls").read_text().split())
    assert not {n for n in names if n.endswith(".tmp")} and "next-store.json" not in names
    assert sorted(n for n in names if n.startswith("chroma-")) == [json.loads(manifest_before)["chroma_dir"]]
    assert int((out / "free.after").read_text()) >= int((out / "free.before").read_text()) - 8
    assert (out / "ask2.rc").read_text().strip() == "0", (out / "ask2.err").read_text()[-2000:]
    first = json.loads((out / "ask2.json").read_text())["sources"][0]["title"]
    assert first == QUESTION
    # --repair with the disk still full: one line (it needs a copy too), never a traceback
    assert (out / "repair.rc").read_text().strip() in ("0", "1")
    if (out / "repair.rc").read_text().strip() == "1":
        assert "not enough space" in _one_line_error((out / "repair.err").read_text())


@needs_mounts
def test_a_leftover_copy_filling_the_disk_is_read_around_and_removed_by_the_next_ingest(
    small_index: Path, tmp_path: Path
) -> None:
    mount, out = tmp_path / "disk", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    # 3 MB free, then a killed run's 3 MB partial copy: the disk is full before anything runs
    settings = {"leave_kb": 3000, "precheck": True, "leftover_kb": 4000, "repair_first": True}
    done = _in_namespace(_full_disk_script(small_index, mount, out, **settings))  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    assert int((out / "free.before").read_text()) == 0
    # a reader on the full disk still answers (from a private copy of the store)
    assert (out / "ask1.rc").read_text().strip() == "0", (out / "ask1.err").read_text()[-2000:]
    assert json.loads((out / "ask1.json").read_text())["sources"][0]["title"] == QUESTION
    # --repair removes the leftover first (never trips on it), then has the space it needs; so does ingest
    assert (out / "repair.rc").read_text().strip() == "0", (out / "repair.err").read_text()[-3000:]
    assert (out / "ingest.rc").read_text().strip() == "0", (out / "ingest.err").read_text()[-3000:]
    assert "40 added" in (out / "ingest.out").read_text()
    assert "chroma-9-0badc0de.tmp" not in (out / "after.ls").read_text()
    assert json.loads((out / "ask2.json").read_text())["sources"][0]["title"] == QUESTION


def test_disk_full_errors_are_recognised_in_every_form() -> None:
    import errno
    import sqlite3

    assert storage.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert storage.is_disk_full(shutil.Error([("a", "b", "[Errno 28] No space left on device: 'a' -> 'b'")]))
    assert storage.is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert storage.is_disk_full(RuntimeError("error returned from database: (code: 13) database or disk is full"))
    assert not storage.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert storage.is_read_only(OSError(errno.EROFS, "Read-only file system"))
    assert storage.is_read_only(RuntimeError("(code: 8) attempt to write a readonly database"))


def test_the_next_writer_removes_what_a_killed_copy_left(small_index: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(small_index, tmp_path / "index")
    (copy / "chroma-7-0badc0de.tmp").mkdir()
    (copy / "chroma-7-0badc0de.tmp" / "chroma.sqlite3").write_bytes(b"\0" * 1000)
    (copy / "bm25-7.tmp").mkdir()
    (copy / "manifest.json.tmp").write_text("{")
    report = run_ingest([small_index.parent / "papers.jsonl"], _settings(copy))
    assert (report.added, report.unchanged) == (0, 20)
    assert not [p.name for p in copy.iterdir() if p.name.endswith(".tmp")]
    assert PaperIndex.open(_settings(copy)).collection.count() == 20
