"""Helpers for tests that build or inspect a real index (no fakes: real Chroma, BM25, manifest).

``index_ids``          the chunk ids held by Chroma, the committed manifest and the BM25 ids.json
``copy_index``         a private, writable copy of an index (e.g. of the session's ``corpus_index``)
``synthetic_papers``   deterministic short papers, for collections of any size
``query_in_new_process``  open an index in a fresh interpreter and query it (Chroma persistence)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.manifest import Manifest, load_manifest
from assistant.store import PaperIndex

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
# (file, line) of every record tests/fixtures/ingest_bad/ must report as skipped
BAD_FIXTURE_SKIPS = {
    ("binary.txt", None),
    ("latin1.jsonl", 1),
    ("orphan.txt", 5),
    ("malformed.jsonl", 2),
    ("nocolumns.csv", 1),
}


@dataclass(frozen=True)
class IndexIds:
    chroma: set[str]
    manifest: set[str]
    bm25: list[str]
    generation: int
    chroma_sentences: set[str]
    manifest_sentences: set[str]

    def consistent(self) -> bool:
        """No stale or missing chunk or sentence anywhere: the stores hold exactly the same ids."""
        chunks = self.chroma == self.manifest == set(self.bm25) and len(self.bm25) == len(set(self.bm25))
        return chunks and self.chroma_sentences == self.manifest_sentences


def read_manifest(index_dir: Path) -> Manifest:
    return load_manifest(index_dir)


def index_ids(index_dir: Path) -> IndexIds:
    manifest = read_manifest(index_dir)
    manifest_ids = {cid for entry in manifest.papers.values() for cid in entry.chunk_ids}
    bm25 = json.loads((index_dir / f"bm25-{manifest.generation}" / "ids.json").read_text())
    index = PaperIndex(index_dir, manifest)
    return IndexIds(
        chroma=index.stored_ids(),
        manifest=manifest_ids,
        bm25=bm25,
        generation=manifest.generation,
        chroma_sentences=index.stored_ids(kind="sentences"),
        manifest_sentences=set(manifest.sentence_owner()),
    )


def copy_index(src: Path, dst: Path) -> Path:
    """Copy an index directory (Chroma's sqlite is in rollback-journal mode: a plain copy is whole)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


_WORDS = (  # noqa: SIM905 (a list literal of 100 words would run to 100 lines)
    "adaptive attention bayesian benchmark calibration causal contrastive convex curriculum decoder "
    "diffusion distillation domain dropout embedding encoder ensemble entropy equivariant estimator "
    "federated finetuning flow gaussian generative gradient graph hashing hierarchical inference "
    "kernel latent lattice likelihood manifold markov memory meta mixture momentum multimodal "
    "neural normalizing optimal optimizer pairwise planning policy pretraining probabilistic "
    "pruning quantile quantization query ranking recurrent regression reinforcement residual "
    "retrieval reward robust routing sampling scaling segmentation semantic sequence sparse "
    "spectral speech stochastic streaming structured supervised surrogate symbolic temporal tensor "
    "tokenizer topology transformer transport uncertainty unsupervised variational vision wavelet "
    "weather molecule protein galaxy traffic climate robot market language audio video image text "
    "table code proof theorem circuit"
).split()


def synthetic_papers(n: int, seed: int = 0, words: int = 14) -> list[dict[str, str]]:
    """``n`` distinct short papers ({"title", "abstract"}); each is one chunk with default chunking."""
    rng = random.Random(seed)
    papers = []
    for i in range(n):
        title = f"Synthetic study {seed}-{i}: " + " ".join(rng.choice(_WORDS) for _ in range(4))
        abstract = "We study " + " ".join(rng.choice(_WORDS) for _ in range(words)) + "."
        papers.append({"title": title, "abstract": abstract})
    return papers


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment minus any PAPERS_* or config file, so a child builds default settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERS_")}
    env.update(
        PAPERS_CONFIG=os.devnull,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
    )
    env.update(extra)
    return env


_QUERY_SCRIPT = """
import json, sys
import numpy as np
from pathlib import Path
from assistant.settings import Settings
from assistant.store import PaperIndex

index = PaperIndex.open(Settings(index=Path(sys.argv[1])))
vectors = np.load(sys.argv[2])
texts = json.loads(Path(sys.argv[3]).read_text())
out = {"count": index.collection.count(), "dense": [], "sparse": []}
for vector, text in zip(vectors, texts):
    hits = index.dense(vector, 3)
    out["dense"].append([[h.paper_id, h.score] for h in hits])
    out["sparse"].append([h.paper_id for h in index.sparse(text, 3)])
print(json.dumps(out))
"""


def query_in_new_process(index_dir: Path, vectors: np.ndarray, texts: list[str], work: Path) -> dict[str, Any]:
    """Open ``index_dir`` in a fresh interpreter (no in-process Chroma cache) and run dense and BM25
    queries; returns {"count": chunks in Chroma, "dense": [[[paper_id, score], ...], ...], "sparse": [...]}.
    The vectors are computed by the caller, so the child needs Chroma and bm25s but no model."""
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "vectors.npy", np.asarray(vectors, dtype="float32"))
    (work / "texts.json").write_text(json.dumps(texts))
    result = subprocess.run(
        [sys.executable, "-c", _QUERY_SCRIPT, str(index_dir), str(work / "vectors.npy"), str(work / "texts.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=subprocess_env(),
        timeout=300,
    )
    assert result.returncode == 0, f"reopening {index_dir} in a new process failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def spy_on_encode(monkeypatch: Any) -> list[str]:
    """Record every text the pipeline embeds; the real model still does the encoding."""
    from assistant import embedding

    seen: list[str] = []
    real = embedding.DocumentEncoder.encode

    def recording(self: Any, texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(embedding.DocumentEncoder, "encode", recording)
    return seen


def isolate_settings_env(monkeypatch: Any) -> None:
    """No config.toml or PAPERS_* variable of the developer's may leak into settings built by a CLI."""
    for key in [k for k in os.environ if k.startswith("PAPERS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PAPERS_CONFIG", os.devnull)
