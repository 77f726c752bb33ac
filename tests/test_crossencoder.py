"""The shipped relevance cross-encoder: checksum, loading without torch, and that it ranks real pairs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.crossencoder import MODELS, MODELS_DIR, TOKENIZER, CrossEncoder, passage_text, sha256_of
from assistant.errors import ModelError
from ingest.readers import read_paths
from ingest.records import Paper

ROOT = Path(__file__).resolve().parent.parent

# Questions written for this test (never used in training) about papers of the bundled corpus.
QUESTIONS = {
    "Handwritten Code Recognition for Pen-and-Paper CS Education": "recognising code that students wrote by hand",
    "Simplicial Closure and higher-order link prediction": "predicting group interactions among more than two nodes",
    "Differential Evolution for Neural Architecture Search": "evolutionary search over neural network architectures",
    "Efficiently Computing Similarities to Private Datasets": "similarity queries against differentially private data",
}


@pytest.fixture(scope="module")
def papers() -> dict[str, Paper]:
    found = {p.title: p for p in read_paths([ROOT / "data"]) if isinstance(p, Paper) and p.title in QUESTIONS}
    assert set(found) == set(QUESTIONS), "the bundled corpus lost a paper this test reads"
    return found


def test_shipped_files_match_their_checksums() -> None:
    for spec in MODELS.values():
        assert sha256_of(MODELS_DIR / spec.file) == spec.sha256
    assert sha256_of(MODELS_DIR / TOKENIZER[0]) == TOKENIZER[1]


def test_matching_question_scores_higher_than_the_others(papers: dict[str, Paper]) -> None:
    model = CrossEncoder.load("relevance")
    titles = list(QUESTIONS)
    for title, question in QUESTIONS.items():
        pairs = [(question, passage_text(papers[t].title, papers[t].abstract)) for t in titles]
        probs = model.score(pairs)
        assert probs.shape == (len(titles),)
        assert ((probs >= 0) & (probs <= 1)).all()
        mine = probs[titles.index(title)]
        others = [p for t, p in zip(titles, probs, strict=True) if t != title]
        assert mine > max(others), (question, dict(zip(titles, probs.round(3).tolist(), strict=True)))


def test_empty_input_gives_an_empty_array() -> None:
    assert CrossEncoder.load("relevance").score([]).shape == (0,)


def test_a_corrupted_copy_is_a_clear_model_error(tmp_path: Path) -> None:
    spec = MODELS["relevance"]
    shutil.copy(MODELS_DIR / TOKENIZER[0], tmp_path / TOKENIZER[0])
    data = bytearray((MODELS_DIR / spec.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / spec.file).write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"fails its checksum.*make models"):
        CrossEncoder(spec, tmp_path)
    (tmp_path / spec.file).unlink()
    with pytest.raises(ModelError, match="is missing"):
        CrossEncoder(spec, tmp_path)


def test_unknown_kind_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="unknown cross-encoder"):
        CrossEncoder.load("nonsense")


def test_scoring_imports_no_torch() -> None:
    code = (
        "import sys; from assistant.crossencoder import CrossEncoder; "
        "CrossEncoder.load('relevance').score([('a question', 'a passage')]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
