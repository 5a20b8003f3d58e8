"""The knn score's neighbours: every row of a small intent, k-means centroids of a large one."""
from __future__ import annotations

import numpy as np

from bot.models.oos import nearest_similarity
from training.neighbours import condense


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_a_large_intent_keeps_centroids_that_cover_each_of_its_regions() -> None:
    rng = np.random.default_rng(0)
    directions = _unit(rng.normal(size=(3, 32)))
    # intent 0: 90 rows around three directions; intent 1: 5 rows
    rows = _unit(np.repeat(directions, 30, axis=0) + rng.normal(scale=0.05, size=(90, 32)))
    small = _unit(rng.normal(size=(5, 32)))
    vectors, labels = np.concatenate([rows, small]), np.array([0] * 90 + [1] * 5)
    reference, kept = condense(vectors, labels, per_label=5)
    assert kept.tolist() == [0] * 5 + [1] * 5
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(reference[5:], small)  # at the cap: the rows themselves
    # every row of the large intent is still close to a neighbour; its single mean would not be
    assert nearest_similarity(rows, reference[:5]).min() > 0.9
    assert nearest_similarity(rows, _unit(rows.mean(axis=0, keepdims=True))).min() < 0.8


def test_zero_keeps_every_row() -> None:
    vectors = _unit(np.random.default_rng(1).normal(size=(10, 4)))
    reference, labels = condense(vectors, np.zeros(10, dtype=int), per_label=0)
    np.testing.assert_array_equal(reference, vectors)
    assert labels.tolist() == [0] * 10
