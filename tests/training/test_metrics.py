"""Metric functions against values computed by hand."""
from __future__ import annotations

import math

import pytest

from training.metrics import (
    accuracy,
    auroc,
    average_precision,
    confusion_pairs,
    macro_f1,
    mcc,
    mean_average_precision,
    mean_reciprocal_rank,
    recall_at_k,
)


def test_accuracy_counts_matches() -> None:
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == 0.5
    assert accuracy([], []) == 0.0


def test_macro_f1_by_hand() -> None:
    # a: tp=1 fp=1 fn=1 -> 0.5; b: tp=1 fp=1 fn=0 -> 2/3; c: tp=0 -> 0
    gold = ["a", "a", "b", "c"]
    pred = ["a", "b", "b", "a"]
    assert macro_f1(gold, pred) == pytest.approx((0.5 + 2 / 3 + 0) / 3)


def test_mcc_binary_matches_the_textbook_formula() -> None:
    # tp=2 tn=1 fp=1 fn=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    gold = ["p", "p", "p", "n", "n"]
    pred = ["p", "p", "n", "p", "n"]
    assert mcc(gold, pred) == pytest.approx(1 / 6)


def test_mcc_multiclass_perfect_and_constant() -> None:
    assert mcc(["a", "b", "c"], ["a", "b", "c"]) == pytest.approx(1.0)
    assert mcc(["a", "b", "c"], ["a", "a", "a"]) == 0.0


def test_mcc_multiclass_by_hand() -> None:
    # confusion rows=gold a,b,c: [[1,1,0],[0,1,0],[0,0,1]]; n=4, c=3, t=(2,1,1), p=(1,2,1)
    # (3*4 - (2+2+1)) / sqrt((16 - 6) * (16 - 6)) = 7/10
    assert mcc(["a", "a", "b", "c"], ["a", "b", "b", "c"]) == pytest.approx(0.7)


def test_auroc_by_hand_with_a_tie() -> None:
    # pairs (pos, neg): (0.9>0.5) (0.9>0.1) (0.5=0.5 half) (0.5>0.1) -> 3.5 / 4
    assert auroc([0.9, 0.5], [0.5, 0.1]) == pytest.approx(0.875)
    assert auroc([1.0], [0.0]) == 1.0
    assert math.isnan(auroc([], [0.3]))


def test_ranking_metrics_by_hand() -> None:
    rankings = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"]]
    relevant = [{"a"}, {"a"}, {"x"}]
    assert recall_at_k(rankings, relevant, 1) == pytest.approx(1 / 3)
    assert recall_at_k(rankings, relevant, 2) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(rankings, relevant) == pytest.approx((1 + 0.5 + 0) / 3)
    assert mean_average_precision(rankings, relevant) == pytest.approx((1 + 0.5 + 0) / 3)


def test_average_precision_with_two_relevant_items() -> None:
    # relevant at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision(["a", "x", "b"], {"a", "b"}) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(["x"], set()) == 0.0


def test_confusion_pairs_most_frequent_first() -> None:
    gold = ["a", "a", "a", "b", "b"]
    pred = ["b", "b", "a", "a", "b"]
    assert confusion_pairs(gold, pred, 5) == [("a", "b", 2), ("b", "a", 1)]
