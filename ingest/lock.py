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

from assistant.errors import IndexLockedError


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock for the ``with`` block; raises IndexLockedError if it is taken."""
    index_dir.mkdir(parents=True, exist_ok=True)
    owner = index_dir / ".lock.owner"
    lock = FileLock(str(index_dir / ".lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = owner.read_text().strip()
        except OSError:
            holder = ""
        raise IndexLockedError(
            f"index {index_dir} is being written by {holder or 'another process'}; wait for it to finish "
            "(a second ingest on the same index is refused, not interleaved)"
        ) from None
    try:
        owner.write_text(f"ingest pid {os.getpid()}")
        yield
    finally:
        lock.release()
