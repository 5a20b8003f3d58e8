"""Greedy grouping of similar questions by their embedding."""
from __future__ import annotations

import numpy as np

from bot.console.similarity import group_similar


def _unit(*rows: list[float]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_groups_by_cosine_biggest_first() -> None:
    vectors = _unit([1, 0, 0], [0, 1, 0], [0.95, 0.1, 0], [0.9, 0, 0.1], [0, 0.97, 0.1], [0, 0, 1])
    assert group_similar(vectors, threshold=0.8) == [[0, 2, 3], [1, 4], [5]]
    assert group_similar(vectors, threshold=0.999) == [[0], [1], [2], [3], [4], [5]]
    assert group_similar(vectors, threshold=-1.0) == [[0, 1, 2, 3, 4, 5]]


def test_empty_input_gives_no_groups() -> None:
    assert group_similar(np.zeros((0, 8), dtype=np.float32), threshold=0.7) == []
