"""Small cross-encoders trained here, shipped as int8 ONNX files in ``assistant/models/``.

A cross-encoder reads a (query, passage) pair together through one transformer and returns one
score, instead of comparing two separately computed vectors (Nogueira & Cho, 2019, "Passage
Re-ranking with BERT"; the MiniLM cross-encoders of sentence-transformers). Ours start from the
packaged all-MiniLM-L6-v2 weights and are trained on CPU by ``training/`` (``make models``; the
data recipe, licences and figures are in docs/models.md).

At run time only onnxruntime and tokenizers are imported (no torch), and every file's sha256 is
checked before it is used: a missing or altered file is a ``ModelError`` naming it.

    model = CrossEncoder.load("relevance")
    probs = model.score([(question, passage_text(title, abstract)), ...])  # shape (n,), in [0, 1]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"
TOKENIZER = ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037")


@dataclass(frozen=True)
class ModelFile:
    """One shipped cross-encoder: its ONNX file, that file's sha256, and the pair length it reads."""

    kind: str
    file: str
    sha256: str
    max_length: int


MODELS = {
    "relevance": ModelFile(
        "relevance",
        "relevance-minilm-l6-int8.onnx",
        "4d7ab25e21dec9362e2fc844b0ef6b4416e6cbb72fccaf4d6c328d5c9b75ecd9",
        160,
    ),
    "support": ModelFile(
        "support",
        "support-minilm-l6-int8.onnx",
        "f4d9ea1bbf9f345d29aae980af8347c925a7d7945b64082f1f91333b4d82b6bf",
        128,
    ),
}


def passage_text(title: str, abstract: str) -> str:
    """The passage a cross-encoder reads for a paper, in training and at run time alike."""
    title = title.strip().rstrip(".")
    return f"{title}. {abstract.strip()}" if abstract.strip() else title


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(path: Path, expected: str) -> Path:
    """``path`` if it exists and its sha256 is ``expected``; otherwise a ``ModelError`` that says what to do."""
    if not path.is_file():
        raise ModelError(f"cross-encoder file {path} is missing; restore it from git or rebuild it with `make models`")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"cross-encoder file {path} fails its checksum (sha256 {actual[:12]}…, expected {expected[:12]}…); "
            "restore it from git (`git checkout -- assistant/models`) or rebuild it with `make models`"
        )
    return path


class CrossEncoder:
    """A shipped cross-encoder run by onnxruntime.

    ``score(pairs)`` takes ``n`` (query, passage) pairs and returns a float32 array of shape ``(n,)``:
    the sigmoid of the model's one logit, a probability in [0, 1] that the passage is relevant to
    (``relevance``) the query. Pairs are truncated to ``max_length`` word pieces, the passage first
    ("longest first"), and run in batches padded to their longest pair.
    """

    def __init__(self, spec: ModelFile, folder: Path = MODELS_DIR, *, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.spec = spec
        onnx_path = verified(folder / spec.file, spec.sha256)
        tokenizer_path = verified(folder / TOKENIZER[0], TOKENIZER[1])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(spec.max_length, strategy="longest_first")
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a damaged graph
            raise ModelError(f"cross-encoder file {onnx_path} cannot be loaded: {exc}") from exc
        self._inputs = {i.name for i in self.session.get_inputs()}

    @classmethod
    def load(cls, kind: str, folder: Path | None = None, *, threads: int = 1) -> CrossEncoder:
        """The shipped model of ``kind`` (``relevance``); one instance per process and arguments."""
        if kind not in MODELS:
            raise ModelError(f"unknown cross-encoder {kind!r}; choose one of {sorted(MODELS)}")
        return _load(kind, folder or MODELS_DIR, threads)

    def logits(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Raw logits, shape ``(len(pairs),)``."""
        import numpy as np

        out = []
        for start in range(0, len(pairs), batch_size):
            encs = self.tokenizer.encode_batch([tuple(p) for p in pairs[start : start + batch_size]])
            width = max(len(e.ids) for e in encs)
            feed = {
                name: np.zeros((len(encs), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            for row, enc in enumerate(encs):
                feed["input_ids"][row, : len(enc.ids)] = enc.ids
                feed["attention_mask"][row, : len(enc.ids)] = enc.attention_mask
                feed["token_type_ids"][row, : len(enc.ids)] = enc.type_ids
            result = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            out.append(np.asarray(result, dtype=np.float32).reshape(len(encs), -1)[:, 0])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def score(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Probabilities in [0, 1], shape ``(len(pairs),)``, in the order of ``pairs``."""
        import numpy as np

        return (1.0 / (1.0 + np.exp(-self.logits(pairs, batch_size)))).astype(np.float32)


@lru_cache(maxsize=8)
def _load(kind: str, folder: Path, threads: int) -> CrossEncoder:
    return CrossEncoder(MODELS[kind], folder, threads=threads)
