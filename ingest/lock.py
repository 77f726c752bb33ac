"""One writer per index: an exclusive ``filelock`` on ``<index>/.lock``, which the OS drops if we crash.

A second ``ingest`` on the same index is refused at once (not queued, not interleaved), with
the holder's pid in the message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from assistant.errors import IndexError_, IndexLockedError, IndexMissingError
from assistant.storage import (
    MARGIN,
    DiskFullError,
    disk_full_message,
    free_space,
    is_disk_full,
    is_read_only,
    read_only_message,
)


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock for the ``with`` block; raises IndexLockedError if it is taken."""
    owner = index_dir / ".lock.owner"
    lock = FileLock(str(index_dir / ".lock"), timeout=0)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        owner.write_text(f"ingest pid {os.getpid()}")
    except Timeout:
        try:
            holder = owner.read_text().strip()
        except OSError:
            holder = ""
        raise IndexLockedError(
            f"index {index_dir} is being written by {holder or 'another process'}; wait for it to finish "
            "(a second ingest on the same index is refused, not interleaved)"
        ) from None
    except OSError as exc:  # (Timeout is one too) a read-only mount, a folder of another user, a full disk
        if lock.is_locked:
            lock.release()
        if is_disk_full(exc):
            raise DiskFullError(disk_full_message(index_dir, MARGIN, free_space(index_dir), "the writer lock")) from exc
        if index_dir.exists() and not index_dir.is_dir():
            what = f"the index path {index_dir} is a file, not a folder: choose another --index"
            raise IndexMissingError(what) from exc
        if is_read_only(exc):
            raise IndexError_(read_only_message(index_dir, exc.strerror or str(exc))) from exc
        raise IndexError_(f"cannot write the index {index_dir}: {exc.strerror or exc}") from exc
    try:
        yield
    finally:
        lock.release()
