"""Chroma: the vector stores of an index, embedded (one folder per generation) or in a Chroma server.

A committed store is named ``chroma-<generation>-<token>/`` (``chroma/`` before stores were copied);
a writer's copy is named in ``next-store.json`` before it appears. An index whose vectors live in a
Chroma server names its collections' token as ``server/<token>`` in the manifest. A torn store
crashes the process that loads it, so a store left by a killed run is tried in a child process
(:func:`probe_store`) before it is reused.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from assistant.errors import IndexError_, IndexMismatchError

SERVER_PREFIX = "server/"  # Manifest.chroma_dir of an index whose vectors live in a Chroma server
NEXT_STORE = "next-store.json"  # names the store an ingest in progress writes


def collection_name(model: str, chunk_size: int, chunk_overlap: int) -> str:
    """Named for what built it, so a different model or chunking never mixes into this one."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")
    return f"papers-{slug}-c{chunk_size}o{chunk_overlap}"


def server_dir() -> str:
    """A new name for an index's collections on a Chroma server."""
    return SERVER_PREFIX + secrets.token_hex(4)


def chroma_http_client(host: str, port: int, timeout_s: float) -> Any:
    """A client of the Chroma server at host:port, telemetry off, every request bounded by
    ``timeout_s`` (Chroma's own client waits forever). Raises IndexError_ if it cannot be reached."""
    import chromadb
    import httpx
    from chromadb.config import Settings as ChromaSettings

    try:
        client = chromadb.HttpClient(host=host, port=port, settings=ChromaSettings(anonymized_telemetry=False))
        session = getattr(getattr(client, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            session.timeout = httpx.Timeout(timeout_s)
        client.heartbeat()
    except Exception as exc:  # chromadb raises ValueError / httpx errors / its own: all mean "not reachable"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IndexError_(
            f"cannot reach the Chroma server at {host}:{port} ({first[:200]}): start it with `chroma run --path DIR "
            f"--host 127.0.0.1 --port {port}`, or correct index.chroma_host / index.chroma_port"
        ) from exc
    return client


def server_collection(server: tuple[str, int, float], full: str, root: Path, *, create: bool) -> Any:
    """The collection ``full`` on the Chroma server ``(host, port, timeout_s)``; without ``create``
    a missing one is an IndexMismatchError naming the index at ``root`` (a reader never creates one)."""
    client = chroma_http_client(*server)
    if not create:
        try:
            return client.get_collection(full, embedding_function=None)
        except Exception as exc:  # chromadb's NotFoundError (its type differs across versions)
            host, port, _ = server
            raise IndexMismatchError(
                f"the Chroma server at {host}:{port} has no collection {full} that index {root} "
                "was built with: is index.chroma_host / chroma_port the server it was built on?"
            ) from exc
    return client.get_or_create_collection(
        name=full, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )


def drop_retired(client: Any, name: str, keep: set[str | None], retired: set[str]) -> None:
    """Drop the collections ``<name>-<token>[-sentences]`` on a Chroma server whose token no kept
    store names (``server/<token>`` in ``keep``) and a writer of this index retired (``retired``)."""
    tokens = {k.removeprefix(SERVER_PREFIX) for k in keep if k and k.startswith(SERVER_PREFIX)}
    for listed in client.list_collections():
        found = re.fullmatch(re.escape(name) + r"-([0-9a-f]{8})(?:-sentences)?", listed.name)
        if found and found.group(1) not in tokens and found.group(1) in retired:
            client.delete_collection(listed.name)


def chroma_client(path: Path) -> Any:
    """Embedded Chroma with telemetry off; it never embeds anything itself (no default EF)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def store_names(root: Path) -> list[tuple[int, str]]:
    """(generation, name) of every committed-style vector store folder on disk."""
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        match = re.fullmatch(r"chroma-(\d+)-[0-9a-f]{8}", folder.name)
        if folder.is_dir() and (match or folder.name == "chroma"):
            found.append((int(match.group(1)) if match else 0, folder.name))
    return found


def healthy_deltas(root: Path, after: int) -> list[str]:
    """Delta stores (``assistant.segments``) on disk written after generation ``after``, oldest
    first, that open and answer a query (:func:`probe_store`): what a repair from the sources reuses."""
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        match = re.fullmatch(r"chroma-(\d+)-[0-9a-f]{8}-delta", folder.name)
        if folder.is_dir() and match and int(match.group(1)) > after:
            found.append((int(match.group(1)), folder.name))
    return [name for _, name in sorted(found) if probe_store(root / name)]


def committed_stores(root: Path) -> list[str]:
    """Stores on disk that a commit made: all but the one an unfinished ingest is writing (named in
    next-store.json), so a first ingest killed before its commit is simply run again."""
    try:
        writing = json.loads((root / NEXT_STORE).read_text())["chroma_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        writing = None
    return [name for _, name in store_names(root) if name != writing]


def newest_store(root: Path) -> str | None:
    """The vector store of the highest generation on disk that opens and answers a query, or None."""
    for _, name in sorted(store_names(root), reverse=True):
        if probe_store(root / name):
            return name
    return None


# "chroma" (before copies), chroma-<gen>-<token> (a base), chroma-<gen>-<token>-delta (assistant.segments)
_STORE = re.compile(r"chroma(?:-\d+-[0-9a-f]{8}(?:-delta)?(?:\.tmp)?)?")


def is_store(name: str) -> bool:
    return bool(_STORE.fullmatch(name))


_PROBE = "import sys; from assistant.chroma import probe_in_process; probe_in_process(sys.argv[1])"


def probe_store(path: Path, timeout_s: float = 300.0) -> bool:
    """True when the Chroma store at ``path`` opens and answers a query, tried in a child process
    (a torn store crashes the process that loads it)."""
    try:
        here = Path(__file__).resolve().parent.parent  # import this project, not a same-named folder in cwd
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path.resolve())], capture_output=True, timeout=timeout_s, cwd=here
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def probe_in_process(path: str) -> None:
    """Open every collection at ``path``, read one vector and query with it (raises or crashes if torn)."""
    client = chroma_client(Path(path))
    for listed in client.list_collections():
        collection = client.get_collection(listed.name, embedding_function=None)
        count = collection.count()
        if count:
            got = collection.get(limit=1, include=["embeddings"])
            collection.query(query_embeddings=[got["embeddings"][0]], n_results=min(5, count), include=["distances"])
