"""Model artifacts built once into the cache: split files joined, checksums verified, under a lock.

Every one-time build (a GGUF concatenated from package parts, the mpnet zip, the ONNX export)
goes through :func:`build_once`: an inter-process ``filelock`` so two first runs never write the
same file, a temporary file renamed into place (``os.replace``) so a reader never sees half of
one, and a sha256 check (``hashlib.file_digest``) before the file is used: against the published
digest for a file, against the digests recorded at build time for a folder (an ONNX export). A
sidecar ``<file>.verified`` records them with sizes and mtimes, so later runs skip re-hashing
hundreds of MB unless a file changed; a changed or corrupt file means a rebuild.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from assistant.errors import ModelError

LOCK_TIMEOUT_S = 900.0  # a first build of a 500 MB model on a slow disk takes minutes, not hours


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file (``hashlib.file_digest``)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _stamp(path: Path) -> dict[str, object]:
    """What changes when a file, or any file in a folder, is rewritten: sizes and mtimes."""
    if path.is_dir():
        return {"files": {str(f.relative_to(path)): _stamp(f) for f in sorted(path.rglob("*")) if f.is_file()}}
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def folder_digests(path: Path) -> dict[str, str]:
    """sha256 of every file in a folder, by relative path (a folder artifact's checksum)."""
    return {str(f.relative_to(path)): sha256_of(f) for f in sorted(path.rglob("*")) if f.is_file()}


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verified(path: Path, sha256: str | None, record: Path | None = None) -> bool:
    """True when ``path`` exists and matches ``sha256`` (None: any content), re-hashing only when
    its size or mtime changed since the last check. The check is recorded beside ``record``
    (default ``path``; a file in a read-only place, e.g. site-packages, records in the cache)."""
    if not path.exists():
        return False
    sidecar = _sidecar(record or path)
    recorded: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        recorded = json.loads(sidecar.read_text())
        unchanged = {k: v for k, v in recorded.items() if k not in ("digests", "digest")}
        if unchanged == {"sha256": sha256, **_stamp(path)}:  # same expected digest, size and mtimes
            return True
    if path.is_dir():
        # a folder built here (an ONNX export, an unzipped model): its files must still hash to the
        # digests recorded when it was built; a folder never recorded is not trusted
        digests = folder_digests(path)
        if not recorded or recorded.get("digests") != digests:
            return False
        sidecar.write_text(json.dumps({"sha256": sha256, **_stamp(path), "digests": digests}))
        return True
    if sha256 is None:
        # a file built here (an ONNX export): it must still hash to the digest recorded at build time
        digest = sha256_of(path)
        if not recorded or recorded.get("digest") != digest:
            return False
        sidecar.write_text(json.dumps({"sha256": None, **_stamp(path), "digest": digest}))
        return True
    if sha256_of(path) != sha256:
        return False
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps({"sha256": sha256, **_stamp(path)}))
    return True


def forget(path: Path) -> None:
    """Drop what is recorded about an artifact, so the next ``build_once`` builds it afresh."""
    _sidecar(path).unlink(missing_ok=True)


def lock(target: Path) -> contextlib.AbstractContextManager[object]:
    """The inter-process lock guarding ``target``'s build (``filelock``; released if we crash)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target.with_name(f".{target.name}.lock")), timeout=LOCK_TIMEOUT_S)


def build_once(target: Path, build: Callable[[Path], None], *, sha256: str | None = None, what: str = "") -> Path:
    """Return ``target``, building it first if needed: ``build(tmp)`` writes a file or folder at
    ``tmp``; it is checked against ``sha256`` (files only) and renamed to ``target``.

    Raises ModelError when the built file fails its checksum or the build fails with an OSError.
    """
    what = what or target.name
    if verified(target, sha256):
        return target
    with lock(target):
        if verified(target, sha256):  # another process built it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.")) / "build"
        try:
            if sys.stderr.isatty():
                print(f"building {what} (once, into {target.parent}) ...", file=sys.stderr, flush=True)
            with quiet_libraries():
                build(tmp)
            if tmp.is_file() and sha256 is not None and (got := sha256_of(tmp)) != sha256:
                raise ModelError(f"{what}: built file fails its checksum (sha256 {got[:12]}…, expected {sha256[:12]}…)")
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except OSError as exc:
            raise ModelError(f"could not build {what} into {target.parent}: {exc}") from exc
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
        record: dict[str, object] = {"sha256": sha256, **_stamp(target)}
        if target.is_dir():
            record["digests"] = folder_digests(target)
        elif sha256 is None:
            record["digest"] = sha256_of(target)
        _sidecar(target).write_text(json.dumps(record))
    return target


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence what the libraries a one-time build calls print for their developers: torch's tracer and
    exporter warnings, onnxruntime quantisation's advice (a
    ``logging.warning`` on the root logger, which would also install a root handler that then prints
    bm25s's DEBUG lines). Errors still raise."""
    import logging
    import warnings

    root = logging.getLogger()
    guard = logging.NullHandler()
    added = not root.handlers
    if added:
        root.addHandler(guard)  # logging.warning() calls basicConfig() only when the root has no handler
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
        if added:
            root.removeHandler(guard)


def concatenate(parts: Sequence[Path]) -> Callable[[Path], None]:
    """A ``build`` for :func:`build_once` that joins ``parts`` in order into one file."""

    def build(tmp: Path) -> None:
        needed = sum(p.stat().st_size for p in parts)
        if shutil.disk_usage(tmp.parent).free < needed:
            raise ModelError(f"not enough free space in {tmp.parent} ({needed:,} bytes needed)")
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 8 << 20)

    return build
