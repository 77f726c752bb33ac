"""Embedding on a Ray cluster (``ingest --ray auto|HOST:PORT``): Ray Data maps the encoder over batches.

Only the encoding moves to the cluster. The driver (the ``ingest`` process) still reads the papers,
decides what to embed and alone writes Chroma, BM25 and the manifest through the same commit
protocol, so a Ray run is exactly as crash-safe and incremental as a single-process one.

``RayEncoder`` has ``DocumentEncoder``'s interface (``encode(texts) -> (n, dim) float32``, unit
vectors; ``close()``), and the pipeline calls it exactly as it calls ``DocumentEncoder`` (the same
texts per call). Each call becomes one Ray Data dataset: one block per encoder batch of
``embedding.batch_size`` texts, cut at the same positions as ``DocumentEncoder`` cuts them (each
batch is padded to its longest text, and ``onnx-int8`` quantises activations per batch, so a text's
vector depends on the batch it is in), mapped by ``map_batches`` on Ray tasks of one CPU each, and
read back in position order. Same batches, same model files, same vectors (bitwise):
``tests/test_ray_ingest.py`` checks a Ray ingest against a single-process one. A call holds
``step / batch_size`` batches (16 with the defaults: 1,024 texts in batches of 64), so at most that
many workers are busy at once, whatever the size of the cluster.

Why tasks and not an actor class: Ray Data starts a new actor pool for every dataset, and the
pipeline calls ``encode`` once per step, so actors would load the model again on every step (about
2 s each, measured). Task workers are pooled processes that Ray reuses for the whole driver
connection, so each keeps its encoder in ``_ENCODERS`` and loads the model once.

Each task reserves one CPU and runs onnxruntime on one thread, so a node runs as many encoders as
it has CPUs without oversubscribing them (``DocumentEncoder`` would start one thread per core in
every worker). The thread count does not change the vectors: bitwise equal with 1, 2 and all
threads, measured on the bundled abstracts.

Workers load the model offline from the packaged files, as every entry point does (importing
``assistant`` sets the environment). On one machine they share the driver's ``cache`` folder (the
driver builds the ONNX export there first). A cluster of several machines needs this project and
its model packages installed, at the same version, in the Python environment Ray runs on every
node (``pip install 'papers-assistant[ray]'`` and ``requirements-models.txt``), and ``cache`` must be
a writable path there too (each node builds its ONNX export once).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import embedding
from assistant.errors import ClusterError
from assistant.settings import Settings

if TYPE_CHECKING:
    import numpy as np

RAY_INSTALL = "pip install 'papers-assistant[ray]'"  # the `ray` extra of pyproject.toml
CONNECT_TIMEOUT_S = 5.0  # the TCP probe of HOST:PORT before Ray's own (much slower) retries

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


# "module.Name: message", as a traceback prints the exception raised; a worker's exception reaches
# the driver only as such text inside Ray's own exceptions (its chain is not carried over)
_RAISED = re.compile(r"(?P<name>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<text>.+)")


def _message(exc: BaseException) -> str:
    """What went wrong, in one line: a worker's original exception when Ray wraps one (just the
    message of one of ours), else the exception's own text."""
    for line in str(exc).splitlines():
        raised = _RAISED.fullmatch(line.strip())
        if raised and not raised["name"].startswith("ray."):
            if raised["name"].startswith("assistant.errors."):
                return raised["text"]
            return f"{raised['name'].rsplit('.', 1)[-1]}: {raised['text']}"
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _worker_encoder(name: str, cache: str, backend: str, batch_size: int) -> Any:
    """What a worker encodes with, built once per process: ``DocumentEncoder`` with one
    single-threaded session (the task's one CPU) instead of one per core of the node; torch follows
    OMP_NUM_THREADS, which Ray sets to the task's CPUs."""
    key = (name, cache, backend, batch_size)
    if key not in _ENCODERS:
        _ENCODERS[key] = embedding.DocumentEncoder(name, Path(cache), backend, batch_size, workers=1).encode
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
        try:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))  # one encoder per CPU
        except Exception as exc:
            self.close()
            raise ClusterError(f"the Ray cluster at {self.address} does not answer: {_message(exc)}") from exc

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
        if ray.is_initialized():  # a caller's own connection: used as it is, and left open by close()
            self._configure_data()
            return
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
        self._configure_data()

    @staticmethod
    def _configure_data() -> None:
        import logging

        from ray.data import DataContext

        context = DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # ingest draws its own bar
        context.print_on_execution_start = False
        # "execution finished in ..." on every call, and a failed task's stack: a ClusterError says it
        logging.getLogger("ray.data").setLevel(logging.CRITICAL)

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
