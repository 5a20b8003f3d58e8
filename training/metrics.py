"""Metric functions: plain numpy in, floats out, checked against hand-computed values in tests.

Keys used in reports (ARCHITECTURE.md): ``accuracy``, ``macro_f1``, ``in_scope_accuracy``,
``oos_recall``, ``oos_auroc``, ``mcc``, ``recall_at_1``, ``recall_at_5``, ``mrr``, ``map``.

Example::

    >>> accuracy(["a", "b"], ["a", "a"])
    0.5
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of positions where the prediction equals the gold label."""
    gold_array, pred_array = np.asarray(gold, dtype=object), np.asarray(predicted, dtype=object)
    if gold_array.size == 0:
        return 0.0
    return float(np.mean(gold_array == pred_array))


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over the labels that occur in ``gold`` or ``predicted``."""
    labels = sorted(set(gold) | set(predicted))
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def mcc(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Multi-class Matthews correlation coefficient (Gorodkin's R_K), 0 when undefined."""
    labels = sorted(set(gold) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)))
    for g, p in zip(gold, predicted):
        confusion[index[g], index[p]] += 1
    total = confusion.sum()
    correct = np.trace(confusion)
    true_counts, pred_counts = confusion.sum(axis=1), confusion.sum(axis=0)
    numerator = correct * total - true_counts @ pred_counts
    denominator = np.sqrt((total**2 - pred_counts @ pred_counts) * (total**2 - true_counts @ true_counts))
    return float(numerator / denominator) if denominator else 0.0


def auroc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pos, neg = np.asarray(positive_scores, float), np.asarray(negative_scores, float)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    # Rank-sum (Mann-Whitney U) form: O(n log n), average ranks for ties.
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    start = 0
    while start < scores.size:
        end = start
        while end + 1 < scores.size and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


def rank_of_first_relevant(ranking: Sequence[str], relevant: set[str]) -> int | None:
    """1-based rank of the first relevant item, or None when none is ranked."""
    for position, item in enumerate(ranking, start=1):
        if item in relevant:
            return position
    return None


def recall_at_k(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int) -> float:
    """Share of queries with at least one relevant item in the top ``k``."""
    hits = [bool(set(ranking[:k]) & rel) for ranking, rel in zip(rankings, relevant)]
    return float(np.mean(hits)) if hits else 0.0


def mean_reciprocal_rank(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> float:
    """Mean over queries of 1 / rank of the first relevant item (0 when none is ranked)."""
    ranks = [rank_of_first_relevant(ranking, rel) for ranking, rel in zip(rankings, relevant)]
    return float(np.mean([1 / r if r else 0.0 for r in ranks])) if ranks else 0.0


def average_precision(ranking: Sequence[str], relevant: set[str]) -> float:
    """Mean of precision@i over the ranks i of the relevant items (missing ones count 0)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for position, item in enumerate(ranking, start=1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / len(relevant)


def mean_average_precision(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> float:
    """MAP: mean of ``average_precision`` over queries (equals MRR with one relevant item)."""
    values = [average_precision(ranking, rel) for ranking, rel in zip(rankings, relevant)]
    return float(np.mean(values)) if values else 0.0


def confusion_pairs(gold: Sequence[str], predicted: Sequence[str], top: int) -> list[tuple[str, str, int]]:
    """The ``top`` most frequent (gold, predicted) mistakes, most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for g, p in zip(gold, predicted):
        if g != p:
            counts[(g, p)] = counts.get((g, p), 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(g, p, n) for (g, p), n in ordered[:top]]
