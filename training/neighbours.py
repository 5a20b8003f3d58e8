"""The ``knn`` out-of-scope score's neighbours: the training rows' vectors, condensed per intent.

The runtime compares every message with each reference vector (``bot.models.oos.
nearest_similarity``), so the cost per message grows with their number: BANKING77's 9,000
training rows are 14 MB of float32 read per message. An intent with more than ``per_label``
rows is condensed to ``per_label`` spherical k-means centroids of its rows (unit vectors), which
keep the region the intent covers; smaller intents keep every row. numpy only.

Example::

    reference, labels = condense(unit_vectors, label_ids, per_label=32)   # [m, hidden], [m]
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

KMEANS_ITERATIONS = 10


def condense(vectors: npt.NDArray[np.floating], labels: npt.NDArray[np.integer], per_label: int,
             seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """At most ``per_label`` unit vectors per label: its rows, or their k-means centroids.

    ``vectors`` [n, hidden] are unit rows; returns (reference [m, hidden] float32, labels [m]).
    ``per_label`` 0 keeps every row.

    >>> ref, lab = condense(np.eye(3, dtype=np.float32), np.array([0, 0, 1]), per_label=1)
    >>> lab.tolist(), ref.shape
    ([0, 1], (2, 3))
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if per_label <= 0:
        return vectors, labels
    rng = np.random.default_rng(seed)
    kept, kept_labels = [], []
    for label in np.unique(labels):
        rows = vectors[labels == label]
        if len(rows) > per_label:
            rows = spherical_kmeans(rows, per_label, rng)
        kept.append(rows)
        kept_labels.append(np.full(len(rows), label, dtype=np.int64))
    return np.concatenate(kept).astype(np.float32), np.concatenate(kept_labels)


def spherical_kmeans(rows: npt.NDArray[np.float32], k: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``k`` unit centroids of unit ``rows`` [n, hidden] (n > k) by cosine: k random rows to start,
    then ``KMEANS_ITERATIONS`` rounds of assign-to-nearest and re-normalised means."""
    centroids = rows[rng.choice(len(rows), size=k, replace=False)].copy()  # [k, hidden]
    for _ in range(KMEANS_ITERATIONS):
        nearest = (rows @ centroids.T).argmax(axis=1)  # [n]
        for j in range(k):
            members = rows[nearest == j]
            if len(members):  # an empty cluster keeps its centroid
                mean = members.sum(axis=0)
                centroids[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return centroids
