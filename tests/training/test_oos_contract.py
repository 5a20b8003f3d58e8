"""Training's calibration and the runtime head decide every row the same way.

Calibration (``training.calibration``) chooses the out-of-scope threshold and reports the
accuracy it reaches on the validation rows (balanced, or weighted by ``SIMULATED_OOS_SHARE``
when the out-of-scope rows are simulated); the bot applies the saved rule with
``bot.models.intent_head.IntentHead``. Both must compute the same scores and compare them the
same way, or the bot rejects rows calibration accepted (and the reported accuracy is not what
ships). For ``knn`` the head is given the training rows' vectors (``reference``) and computes
each row's similarity itself; calibration gets the same similarities. The logits here are float32, as the model produces them, and include near twins (one
logit a few float32 steps apart), so neighbouring scores are one float32 step apart and the
threshold lands between them or on a row's score.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from bot.models.intent_head import IntentHead
from bot.models.oos import OOS_SCORES, OosRule, nearest_similarity
from training.calibration import (
    SIMULATED_OOS_SHARE,
    calibrate_with_oos,
    calibrate_without_oos,
    nearest_similarity_of_others,
    without_own_intent,
)

SHAPES = [(6, 2), (40, 3), (120, 7), (300, 20)]
TEMPERATURES = [0.5, 1.0, 2.5]


def _logits(rows: int, labels: int, seed: int) -> np.ndarray:
    """[rows + twins, labels] float32: random logits, exact duplicates and near twins."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(rows, labels)) * 3).astype(np.float32)
    twins = logits[rng.integers(0, rows, size=max(2, rows // 3))].copy()
    top = twins.argmax(axis=1)
    for i, steps in enumerate(rng.integers(1, 4, size=len(twins))):
        for _ in range(steps):  # a few float32 steps down: the score moves by about one float32 step
            twins[i, top[i]] = np.nextafter(twins[i, top[i]], np.float32(-np.inf))
    duplicates = logits[rng.integers(0, rows, size=2)]
    return np.concatenate([logits, twins, duplicates]).astype(np.float32)


def _reference(labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training rows' unit vectors [3 * labels, labels] (float16, as stored) and their labels."""
    vectors = np.random.default_rng(seed).normal(size=(3 * labels, labels))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit.astype(np.float16), np.arange(3 * labels) % labels


def _similarity(score: str, logits: np.ndarray, seed: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(similarity, reference) for ``knn`` (the pooled vectors are the logits), else (None, None)."""
    if score != "knn":
        return None, None
    reference = _reference(logits.shape[1], seed)[0]
    return nearest_similarity(logits, reference), reference


def _head(rule: OosRule, labels: int, reference: np.ndarray | None = None) -> IntentHead:
    """The runtime head with an identity layer: the pooled vectors it is given are the logits."""
    names = tuple(f"label{i}" for i in range(labels))
    stored = None if reference is None else reference.astype(np.float32)  # as IntentHead.load reads it
    return IntentHead(np.eye(labels, dtype=np.float32), np.zeros(labels, np.float32), names, "oos", rule, stored)


def _balanced(accepted: np.ndarray, correct: np.ndarray, is_oos: np.ndarray, oos_share: float = 0.5) -> float:
    in_scope = float(np.mean(accepted[~is_oos] & correct[~is_oos]))
    return (1 - oos_share) * in_scope + oos_share * float(np.mean(~accepted[is_oos]))


def _reported(rule: OosRule) -> float:
    """The accuracy calibration says its threshold reaches (4 decimals)."""
    match = re.search(r"(?:balanced accuracy|accuracy expected at [^=]*)(?: \([^)]*\))? = ([0-9.]+)", rule.calibration)
    assert match, rule.calibration
    return float(match.group(1))


def _best_runtime_split(scores: np.ndarray, correct: np.ndarray, is_oos: np.ndarray, oos_share: float) -> float:
    """The best accuracy any threshold can reach with the runtime's float32 scores."""
    cuts = [*np.unique(scores), np.float32(np.inf)]
    return max(_balanced(scores >= cut, correct, is_oos, oos_share) for cut in cuts)


def _check_runtime_agrees(rule: OosRule, logits: np.ndarray, correct: np.ndarray, is_oos: np.ndarray,
                          similarity: np.ndarray | None = None, reference: np.ndarray | None = None,
                          oos_share: float = 0.5) -> None:
    runtime = _head(rule, logits.shape[1], reference).score(logits)
    np.testing.assert_array_equal(runtime.in_scope, rule.in_scope(logits, similarity))
    reached = _balanced(runtime.in_scope, correct, is_oos, oos_share)
    assert round(reached, 4) == pytest.approx(_reported(rule), abs=1e-9)
    assert reached == pytest.approx(_best_runtime_split(runtime.oos_scores, correct, is_oos, oos_share), abs=1e-12)


def _separable_at_twins(scores: np.ndarray) -> np.ndarray:
    """is_oos for a split between the closest pair of distinct scores: the best threshold lies
    between two neighbouring (often adjacent) float32 values."""
    values = np.unique(scores)
    gaps = np.diff(values.astype(np.float64))
    cut = values[1:][int(gaps.argmin())]
    return scores < cut


@pytest.mark.parametrize("score", OOS_SCORES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize(("rows", "labels"), SHAPES)
def test_with_oos_rows_runtime_decides_as_calibration(score: str, temperature: float, rows: int, labels: int) -> None:
    logits = _logits(rows, labels, seed=rows * 31 + labels)
    rng = np.random.default_rng(rows + labels)
    similarity, reference = _similarity(score, logits, seed=rows)
    scores = OosRule(score, temperature, 0.0).scores(logits, similarity)
    labelings = [
        (rng.random(len(logits)) < 0.3, rng.random(len(logits)) < 0.8),  # overlapping, some in-scope wrong
        (_separable_at_twins(scores), np.ones(len(logits), dtype=bool)),  # one perfect cut, between neighbours
    ]
    for is_oos, correct in labelings:
        if is_oos.all() or not is_oos.any():
            continue
        correct = correct & ~is_oos
        rule = calibrate_with_oos(logits, correct, is_oos, score, temperature, similarity)
        assert rule.score == score
        _check_runtime_agrees(rule, logits, correct, is_oos, similarity, reference)


@pytest.mark.parametrize("score", OOS_SCORES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize(("rows", "labels"), SHAPES)
def test_without_oos_rows_runtime_decides_as_calibration(score: str, temperature: float, rows: int,
                                                         labels: int) -> None:
    logits = _logits(rows, labels, seed=rows * 17 + labels)
    gold = np.random.default_rng(rows).integers(0, labels, size=len(logits))
    gold[: len(logits) // 2] = logits[: len(logits) // 2].argmax(axis=1)  # about half right
    if score == "knn":
        _check_knn_without_oos_rows(logits, gold, temperature)
        return
    rule = calibrate_without_oos(logits, gold, score, temperature)
    # the rows calibration weighed: each validation row, and the same row without its own intent
    simulated = without_own_intent(logits, gold).astype(np.float32)
    both = np.concatenate([logits, simulated])
    is_oos = np.arange(len(both)) >= len(logits)
    correct = np.concatenate([logits.argmax(axis=1) == gold, np.zeros(len(logits), dtype=bool)])
    _check_runtime_agrees(rule, both, correct, is_oos, oos_share=SIMULATED_OOS_SHARE)
    rejected = float(np.mean(~_head(rule, labels).score(logits).in_scope))
    assert f"rejects {rejected:.0%} of the in-scope" in rule.calibration


def _check_knn_without_oos_rows(logits: np.ndarray, gold: np.ndarray, temperature: float) -> None:
    """A simulated out-of-scope row is compared with the other intents' training rows only, which
    the runtime never does; so the reported accuracy is checked on calibration's own rows, and the
    runtime against calibration on the real validation rows."""
    reference, reference_labels = _reference(logits.shape[1], seed=len(logits))
    similarity = nearest_similarity(logits, reference)
    others = nearest_similarity_of_others(logits, reference, reference_labels, gold)
    assert (others <= similarity).all() and (others < similarity).any()
    rule = calibrate_without_oos(logits, gold, "knn", temperature, similarity, others)
    accepted = np.concatenate([rule.in_scope(logits, similarity),
                               rule.in_scope(without_own_intent(logits, gold), others)])  # fmt: skip
    is_oos = np.arange(len(accepted)) >= len(logits)
    correct = np.concatenate([logits.argmax(axis=1) == gold, np.zeros(len(logits), dtype=bool)])
    assert round(_balanced(accepted, correct, is_oos, SIMULATED_OOS_SHARE), 4) == pytest.approx(_reported(rule), abs=1e-9)
    runtime = _head(rule, logits.shape[1], reference).score(logits)
    np.testing.assert_array_equal(runtime.in_scope, accepted[: len(logits)])
    assert f"rejects {float(np.mean(~runtime.in_scope)):.0%} of the in-scope" in rule.calibration


def test_some_rows_sit_exactly_on_the_threshold() -> None:
    """The edge the tests above exist for happens: a validation row's score equals the threshold,
    and both sides accept it."""
    on_threshold = 0
    for rows, labels in SHAPES:
        for score in OOS_SCORES:
            logits = _logits(rows, labels, seed=rows * 31 + labels)
            similarity, reference = _similarity(score, logits, seed=rows)
            scores = OosRule(score, 1.0, 0.0).scores(logits, similarity)
            is_oos = _separable_at_twins(scores)
            rule = calibrate_with_oos(logits, ~is_oos, is_oos, score, similarity=similarity)
            at = rule.scores(logits, similarity) == np.float32(rule.threshold)
            on_threshold += int(at.sum())
            assert _head(rule, labels, reference).score(logits).in_scope[at].all()
    assert on_threshold > 0
