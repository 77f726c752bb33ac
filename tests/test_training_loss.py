"""The trainer's minimal-pair batching and pairwise loss (``training.train``, ``--rank-weight``)."""

from __future__ import annotations

import math
import random

import pytest

from training.train import passage_batches, rank_loss


def _rows() -> list[dict]:
    rows = []
    for g in range(23):
        rows.append({"query": f"claim {g}", "passage": f"window {g}", "label": 1})
        rows.append({"query": f"not claim {g}", "passage": f"window {g}", "label": 0})
        if g % 3 == 0:
            rows.append({"query": f"other {g}", "passage": f"window {g}", "label": 0})
    return rows


def test_pairs_that_share_a_passage_share_a_batch_and_every_pair_is_used_once() -> None:
    rows = _rows()
    batches = passage_batches(rows, 8, random.Random(3))
    seen = [id(r) for b in batches for r in b]
    assert sorted(seen) == sorted(id(r) for r in rows)
    home = {}
    for i, batch in enumerate(batches):
        assert 0 < len(batch) <= 8
        for row in batch:
            assert home.setdefault(row["passage"], i) == i, "a passage's pairs were split across batches"
    assert [r["passage"] for r in batches[0]] != [r["passage"] for r in passage_batches(rows, 8, random.Random(4))[0]]


def test_rank_loss_is_the_mean_logistic_loss_over_positive_negative_pairs_of_one_passage() -> None:
    torch = pytest.importorskip("torch")
    rows = [
        {"passage": "a", "label": 1},
        {"passage": "a", "label": 0},
        {"passage": "a", "label": 0},
        {"passage": "b", "label": 0},  # no positive shares passage b: no term
        {"passage": "c", "label": 1},  # nor a negative passage c
    ]
    logits = torch.tensor([2.0, -1.0, 3.0, 9.0, -9.0])
    expected = (math.log1p(math.exp(-1.0 - 2.0)) + math.log1p(math.exp(3.0 - 2.0))) / 2
    assert float(rank_loss(logits, rows)) == pytest.approx(expected, rel=1e-6)
    lone = [{"passage": "b", "label": 0}, {"passage": "c", "label": 1}]
    assert float(rank_loss(torch.tensor([1.0, 2.0]), lone)) == 0.0
