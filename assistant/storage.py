"""The file system under an index: free space, read-only media, and what an interrupted writer left.

* **Disk full.** A writer first makes its vector store (``IndexWriter.begin``): a small delta, or
  at a compaction a copy of the committed store; it checks that it fits before making it
  (:func:`check_space`), and any write that still fails for
  want of space (:func:`is_disk_full`: ``ENOSPC``, SQLite's "database or disk is full", Chroma's
  wrapped errors) becomes one :class:`DiskFullError` line naming the folder, the space needed and
  the space free, after the run's own partial copy is removed. Copies a killed run left
  (``chroma-*.tmp``, ``bm25-*.tmp``) are removed by the next writer before it needs any space
  (:func:`clear_staging`).
* **Read-only media.** Chroma's embedded client writes to its SQLite file when it opens a store,
  so a store on a read-only file system (a ``:ro`` volume, a shared export, a folder the user
  cannot write) is opened from a private copy in the temporary folder (:func:`private_copy`),
  removed when the reader closes or exits; when that copy does not fit, one line says so.
* **Atomic files.** What readers read whole (the manifest, BM25's ids) is written beside and
  renamed over the old one (:func:`write_atomic`); :func:`file_stamp` tells a reader it was replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import IndexError_

MARGIN = 1 << 20  # bytes kept free beyond an estimate (SQLite journals, small files)
_FULL_WORDS = ("disk is full", "no space left", "disk quota exceeded", "errno 28", "enospc", "os error 28")
_READONLY_WORDS = ("readonly database", "read-only file system", "read-only database", "errno 30", "os error 30")


class DiskFullError(IndexError_):
    """Not enough space to write the index: one line with the folder, the space needed and free."""


def human(size: int) -> str:
    """``1536000`` -> ``1.5 MB``."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns at GB


def folder_size(path: Path) -> int:
    """Bytes the files under ``path`` hold (0 if it is missing)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def free_space(path: Path) -> int:
    """Bytes free to this user on the file system holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return 0


def _messages(exc: BaseException) -> str:
    """Every message of ``exc``, its causes and (for ``shutil.Error``) the errors it collected."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(str(current))
        if isinstance(current, OSError) and current.errno is not None:
            parts.append(f"errno {current.errno}")
        current = current.__cause__ or current.__context__
    return " ".join(parts).lower()


def is_disk_full(exc: BaseException) -> bool:
    """Did ``exc`` (an OSError, a ``shutil.Error``, SQLite's or Chroma's error) fail for want of space?"""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and "full" in str(exc).lower():
        return True
    return any(word in _messages(exc) for word in _FULL_WORDS)


def is_read_only(exc: BaseException) -> bool:
    """Did ``exc`` fail because the file system or file is read-only (or not writable by this user)?"""
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return True
    return any(word in _messages(exc) for word in _READONLY_WORDS)


def check_space(folder: Path, needed: int, what: str) -> None:
    """Raise DiskFullError (nothing written yet) when ``folder``'s file system has less than
    ``needed`` bytes (plus a margin) free for ``what``."""
    free = free_space(folder)
    if free < needed + MARGIN:
        raise DiskFullError(disk_full_message(folder, needed + MARGIN, free, what))


def disk_full_message(folder: Path, needed: int, free: int, what: str) -> str:
    return (
        f"not enough space in {folder}: {what} needs about {human(needed)}, {human(free)} free; free some space "
        "(or move the index with --index) and run ingest again: the committed index is unchanged and still answers"
    )


def copy_store(committed: Path, staging: Path, extra: int = 0) -> None:
    """Copy the committed vector store for a writer when the copy (and ``extra`` bytes the run will
    add) fit; a copy that fails part way is removed, and the failure is one line."""
    needed = folder_size(committed) + extra
    check_space(staging.parent, needed, "copying the vector store for this ingest")
    try:
        shutil.copytree(committed, staging)
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if is_disk_full(exc):
            free = free_space(staging.parent)
            message = disk_full_message(staging.parent, needed + MARGIN, free, "copying the vector store")
            raise DiskFullError(message) from exc
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise IndexError_(f"cannot copy the vector store {committed} to {staging.name} ({first})") from exc


def clear_staging(root: Path) -> list[str]:
    """Remove the partial copies a writer makes before renaming them into place (``chroma-*.tmp``,
    ``bm25-*.tmp``, ``sentences-*.tmp`` folders, ``*.json.tmp`` files): never read by anyone, and left only by a run
    that was killed or ran out of space. Call with the writer lock held. Returns the names removed."""
    removed: list[str] = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        name = path.name
        if path.is_dir() and name.endswith(".tmp") and name.startswith(("chroma-", "bm25-", "sentences-")):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
        elif path.is_file() and name.endswith(".json.tmp"):
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed


def writable(path: Path) -> bool:
    """Can this process create files in the folder ``path`` and write the files in it? (A read-only
    mount is seen whoever asks; permission bits only by a user they apply to.)"""
    try:
        if not os.access(path, os.W_OK | os.X_OK):
            return False
        return all(os.access(entry.path, os.W_OK) for entry in os.scandir(path) if entry.is_file())
    except OSError:
        return False


def check_text_path(path: Path) -> None:
    """Raise IndexError_ when ``path`` is not valid UTF-8 text: Chroma cannot open a store there."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise IndexError_(
            f"the index path {shown} is not UTF-8 text, and Chroma opens only UTF-8 paths: choose an --index "
            "whose name is UTF-8 (rename the folder)"
        ) from None


def open_store(path: Path, connect: Callable[[Path], Any], *, reader: bool, copies: dict[Path, Path]) -> Any:
    """``connect(path)``, Chroma's client of the store at ``path``, with its failures as one line.

    A ``reader`` opens a store it cannot write (a read-only mount, a folder not its own) or one on
    a full disk from a private copy (:func:`private_copy`; ``copies`` maps stores to their copies,
    to be removed by :func:`remove_copies`), since Chroma writes when it opens a store."""
    check_text_path(path)
    target = copies.get(path)
    if target is None and reader and not writable(path):
        target = copies[path] = private_copy(path)
    try:
        return connect(target or path)
    except Exception as exc:  # chromadb's InternalError and friends: their types differ across versions
        if reader and target is None and (is_read_only(exc) or is_disk_full(exc)):
            copies[path] = private_copy(path)
            return open_store(path, connect, reader=reader, copies=copies)
        raise store_error(path, exc, reader=reader) from exc


def store_error(path: Path, exc: BaseException, *, reader: bool) -> IndexError_:
    """One line for a vector store that could not be opened or written."""
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    if is_disk_full(exc):
        return DiskFullError(
            f"the vector store {path} cannot be opened: its disk is full ({human(free_space(path))} free): free some "
            "space; copies an interrupted ingest left beside it are removed by the next `ingest` (or `ingest --repair`)"
        )
    if is_read_only(exc) and not reader:
        return IndexError_(read_only_message(path.parent, first))
    return IndexError_(f"cannot open the vector store {path} ({first}): repair the index with `ingest --repair`")


def read_only_message(root: Path, why: str) -> str:
    return (
        f"the index {root} is read-only here ({why}): ingest must write to it; run ingest where the index is "
        "writable (readers such as `ask` can still use it read-only)"
    )


def private_copy(store: Path) -> Path:
    """A copy of the vector store ``store`` in the temporary folder, for a reader that cannot open the
    store in place; removed by :func:`remove_copies` (or at exit). Raises IndexError_ in one line
    when it does not fit or cannot be made."""
    size = folder_size(store)
    parent = Path(tempfile.gettempdir())
    free = free_space(parent)
    why = "Chroma must write to the store it opens, and this one is read-only or on a full disk"
    if free < size + MARGIN:
        raise IndexError_(
            f"cannot open the vector store {store}: {why}; a private copy needs {human(size + MARGIN)} in {parent} "
            f"({human(free)} free): set TMPDIR to a folder with space, or make the index writable"
        )
    holder = Path(tempfile.mkdtemp(prefix="papers-store-"))
    atexit.register(shutil.rmtree, holder, True)
    copy = holder / store.name
    try:
        shutil.copytree(store, copy)
        os.chmod(copy, 0o700)  # writable, whatever the original's bits were
        for folder, dirs, files in os.walk(copy):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o700)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o600)
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(holder, ignore_errors=True)
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise IndexError_(
            f"cannot open the vector store {store}: {why}, and copying it to {parent} failed ({first}): set TMPDIR "
            "to a writable folder with space, or make the index writable"
        ) from exc
    return copy


def remove_copies(copies: dict[Path, Path]) -> None:
    """Delete the private copies a reader made (after its Chroma clients are closed)."""
    for copy in copies.values():
        shutil.rmtree(copy.parent, ignore_errors=True)
    copies.clear()


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime in ns) of a file, None if it is missing: an atomic replace changes the inode."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def write_atomic(path: Path, text: str, *, suffix: str = ".tmp") -> None:
    """Write beside (``path`` + ``suffix``), fsync, rename, fsync the folder: readers see the old file
    or the new one, never half of one. A file whose leftover :func:`clear_staging` must not remove
    uses another ``suffix`` (``.part``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + suffix)
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` durable (fsync of the directory itself)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
