"""One writer per index: an exclusive, non-blocking ``flock`` that the OS drops if we crash."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.errors import IndexLockedError


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "another process"
            raise IndexLockedError(
                f"index {index_dir} is being written by {holder}; wait for it to finish "
                "(a second ingest on the same index is refused, not interleaved)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"ingest pid {os.getpid()}".encode())
        yield
    finally:
        os.close(fd)
