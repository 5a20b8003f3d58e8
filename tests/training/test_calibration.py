"""Out-of-scope scores and thresholds on constructed examples."""
from __future__ import annotations

import numpy as np
import pytest

from bot.models.oos import score_logits, softmax
from training.calibration import (
    SIMULATED_OOS_SHARE,
    balanced_threshold,
    calibrate_answer,
    calibrate_with_oos,
    calibrate_without_oos,
    expected_accuracy_threshold,
    without_own_intent,
)


def test_scores_follow_the_checkpoint_formulas() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(score_logits(logits, "max_softmax", 1.0), [1 / (1 + np.exp(-2)), 0.5])
    np.testing.assert_allclose(score_logits(logits, "energy", 1.0), [np.log(np.exp(2) + 1), np.log(2)])
    np.testing.assert_allclose(score_logits(logits, "energy", 2.0), 2 * np.log(np.exp([1.0, 0.0]) + 1))
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="unknown"):
        score_logits(logits, "entropy", 1.0)


def test_balanced_threshold_separates_when_it_can() -> None:
    # in-scope scores 0.9, 0.8, 0.7 (all correct), out-of-scope 0.3, 0.2: the cut lies between 0.3 and 0.7
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    is_oos = np.array([False, False, False, True, True])
    threshold, value = balanced_threshold(scores, np.array([True] * 3 + [False] * 2), is_oos)
    assert threshold == pytest.approx(0.5)
    assert value == 1.0


def test_balanced_threshold_weighs_both_sides_equally() -> None:
    # oos at 0.75 overlaps: cutting at 0.775 gives (2/3 + 1) / 2 = 0.833 > cutting at 0.5: (1 + 0.5) / 2 = 0.75
    scores = np.array([0.9, 0.8, 0.7, 0.75, 0.2])
    is_oos = np.array([False, False, False, True, True])
    threshold, value = balanced_threshold(scores, np.array([True] * 3 + [False] * 2), is_oos)
    assert threshold == pytest.approx(0.775)
    assert value == pytest.approx((2 / 3 + 1) / 2)


def test_ties_keep_the_lower_threshold() -> None:
    # the 0.6 in-scope row is misclassified: rejecting it or not scores the same, and the
    # lower cut (fewer rejections) is kept
    scores = np.array([0.9, 0.6, 0.3])
    is_oos = np.array([False, False, True])
    threshold, value = balanced_threshold(scores, np.array([True, False, False]), is_oos)
    assert threshold == pytest.approx(0.45)
    assert value == pytest.approx(0.75)


def test_auto_picks_the_score_with_the_better_auroc() -> None:
    # row 2 is out of scope: peaked but small logits. max_softmax ranks it first (AUROC 0),
    # energy (logsumexp) ranks it last (AUROC 1).
    logits = np.array([[10.0, 9.0], [9.0, 8.0], [3.0, -3.0]])
    is_oos = np.array([False, False, True])
    rule = calibrate_with_oos(logits, np.array([True, True, False]), is_oos, "auto")
    assert rule.score == "energy"
    energy = score_logits(logits, "energy", 1.0)
    assert energy[2] < rule.threshold <= energy[1]
    assert "balanced accuracy" in rule.calibration


def test_without_oos_each_row_without_its_own_intent_stands_in_for_out_of_scope() -> None:
    # Three labels. Rows 0-3 are confident (0.9) and right; row 4 is unsure (0.5) and wrong.
    probabilities = np.array([[0.90, 0.06, 0.04], [0.90, 0.05, 0.05], [0.05, 0.90, 0.05],
                              [0.08, 0.02, 0.90], [0.45, 0.50, 0.05]])
    gold = np.array([0, 0, 1, 2, 0])
    logits = np.log(probabilities)
    simulated = softmax(without_own_intent(logits, gold)).max(axis=1)
    # Without its own intent, row 0 keeps 0.06 / 0.10 of the mass on label 1, row 4 0.50 / 0.55.
    np.testing.assert_allclose(simulated, [0.6, 0.5, 0.5, 0.8, 0.5 / 0.55])
    rule = calibrate_without_oos(logits, gold, "auto")
    assert rule.score == "max_softmax"
    # Accepting the four confident rows (t in (0.8, 0.9]) keeps in-scope accuracy at 4/5 and
    # rejects 4 of 5 simulated rows: 0.75 * 0.8 + 0.25 * 0.8 = 0.8, the best cut; the midpoint is 0.85.
    assert rule.threshold == pytest.approx(0.85)
    assert "simulated out-of-scope" in rule.calibration and "0.8000" in rule.calibration
    assert "rejects 20% of the in-scope" in rule.calibration


def test_weighting_the_in_scope_side_keeps_more_rows() -> None:
    # in-scope 0.9, 0.8, 0.7, 0.6 (right), oos 0.65, 0.62, 0.3, 0.2. Equal weights cut at 0.675:
    # (3/4 + 1) / 2 = 0.875; a quarter out of scope cuts at 0.45: 0.75 * 1 + 0.25 * 2/4 = 0.875.
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.65, 0.62, 0.3, 0.2])
    is_oos = np.arange(8) >= 4
    correct = ~is_oos
    assert balanced_threshold(scores, correct, is_oos)[0] == pytest.approx(0.675)
    threshold, value = balanced_threshold(scores, correct, is_oos, oos_share=0.25)
    assert threshold == pytest.approx(0.45)
    assert value == pytest.approx(0.875)
    with pytest.raises(ValueError, match="oos_share"):
        balanced_threshold(scores, correct, is_oos, oos_share=1.0)


def test_with_oos_rows_the_threshold_is_chosen_for_the_given_share_of_out_of_scope_messages() -> None:
    # max_softmax: in scope 0.9, 0.8, 0.7, 0.6 (right), out of scope 0.65, 0.62, 0.55, 0.52
    probabilities = np.array([0.9, 0.8, 0.7, 0.6, 0.65, 0.62, 0.55, 0.52])
    logits = np.stack([np.log(probabilities), np.log(1 - probabilities)], axis=1)
    is_oos = np.arange(8) >= 4
    balanced = calibrate_with_oos(logits, ~is_oos, is_oos, "max_softmax")
    quarter = calibrate_with_oos(logits, ~is_oos, is_oos, "max_softmax", oos_share=0.25)
    assert quarter.threshold < balanced.threshold  # rejects fewer in-scope rows
    assert "balanced accuracy" in balanced.calibration
    assert "out-of-scope share of 0.25" in quarter.calibration


def test_without_oos_the_simulated_rows_count_as_a_quarter_of_the_traffic() -> None:
    # Rows 4 and 5 are right but unsure (0.6, 0.62); without their own intent they score 0.75 and
    # 0.74. Weighing simulated rows equally would cut at 0.85 and refuse both right answers; at
    # the assumed share of 0.25 the cut is 0.55 and every in-scope row is accepted.
    probabilities = np.array([[0.90, 0.06, 0.04], [0.90, 0.05, 0.05], [0.05, 0.90, 0.05],
                              [0.08, 0.02, 0.90], [0.60, 0.30, 0.10], [0.10, 0.62, 0.28]])
    gold = np.array([0, 0, 1, 2, 0, 1])
    logits = np.log(probabilities)
    assert SIMULATED_OOS_SHARE == 0.25
    rule = calibrate_without_oos(logits, gold, "max_softmax")
    assert rule.threshold == pytest.approx(0.55)
    assert "out-of-scope share of 0.25" in rule.calibration and "= 0.8333" in rule.calibration
    assert "rejects 0% of the in-scope" in rule.calibration


def test_without_oos_needs_two_labels() -> None:
    with pytest.raises(ValueError, match="two labels"):
        calibrate_without_oos(np.zeros((3, 1)), np.zeros(3, dtype=int), "auto")


def test_answer_thresholds_reach_the_precision_target_with_most_coverage() -> None:
    top = np.array([0.9, 0.85, 0.8, 0.6, 0.5])
    second = np.array([0.5, 0.5, 0.5, 0.55, 0.45])
    correct = np.array([True, True, True, False, False])
    thresholds = calibrate_answer(top, second, correct, target_precision=1.0)
    answered = (top >= thresholds.answer) & (top - second >= thresholds.margin)
    assert answered.tolist() == [True, True, True, False, False]
    assert "precision 1.000" in thresholds.calibration


def test_answer_threshold_weighed_against_out_of_scope_messages() -> None:
    """With out-of-scope messages, the FAQ answer threshold lies where the smoothed scores weigh
    equally, below the lowest held-out query: ten queries do not show where questions stop. A
    wrong top-1 with a narrow lead is left to the margin, not to the answer threshold."""
    top = np.array([0.42, 0.48, 0.55, 0.6, 0.62, 0.66, 0.7, 0.74, 0.8, 0.52])
    second = top - np.array([0.1, 0.2, 0.15, 0.3, 0.1, 0.2, 0.25, 0.1, 0.3, 0.02])
    correct = np.array([True] * 9 + [False])  # 0.52, leading by 0.02, is the wrong entry
    outside = np.array([0.1, 0.15, 0.18, 0.2, 0.22, 0.25, 0.28, 0.3, 0.33, 0.36, 0.4, 0.45])
    alone = calibrate_answer(top, second, correct, target_precision=0.95)
    weighed = calibrate_answer(top, second, correct, 0.95, outside, SIMULATED_OOS_SHARE)
    assert alone.answer >= 0.42  # on the queries alone: one of their own scores
    assert 0.33 < weighed.answer < 0.42, weighed
    assert 0.02 < weighed.margin <= 0.1  # the wrong entry is not answered, every right one is
    answered = (top >= weighed.answer) & (top - second >= weighed.margin)
    assert answered.tolist() == [True] * 9 + [False]
    assert "10 held-out queries against 12 out-of-scope messages" in weighed.calibration
    # the more of the traffic is out of scope, the higher the bar
    assert calibrate_answer(top, second, correct, 0.95, outside, 0.5).answer > weighed.answer


def test_expected_accuracy_threshold_follows_the_share() -> None:
    inside, outside = np.array([0.6, 0.7, 0.8]), np.array([0.1, 0.2, 0.3])
    low, _ = expected_accuracy_threshold(inside, outside, 0.1)
    middle, accuracy = expected_accuracy_threshold(inside, outside, 0.5)
    high, _ = expected_accuracy_threshold(inside, outside, 0.9)
    assert low < middle < high
    assert 0.4 < middle < 0.5 and accuracy > 0.9
    identical, _ = expected_accuracy_threshold(np.array([0.5, 0.5]), np.array([0.2, 0.2]), 0.5)
    assert 0.2 < identical < 0.5  # no spread: the kernels' floor still places it between
    with pytest.raises(ValueError, match="oos_share"):
        expected_accuracy_threshold(inside, outside, 1.0)


def test_margin_holds_back_what_it_can_and_answers_the_most() -> None:
    """Of the margins that decide the most held-out queries right, the smallest (answering most)
    is taken, halfway between the leads on either side; a wrong top-1 whose lead is as wide as
    right ones' is not chased by a margin that would hold back right answers with it."""
    leads = np.array([0.028, 0.104, 0.118, 0.2, 0.26, 0.29, 0.37, 0.42, 0.5])
    correct = np.array([False, True, False, True, True, True, True, True, True])
    top = np.full(leads.size, 0.7)
    outside = np.array([0.1, 0.2, 0.3])
    thresholds = calibrate_answer(top, top - leads, correct, 0.9, outside)
    assert thresholds.margin == pytest.approx((0.028 + 0.104) / 2)
    assert "8 of the 9 queries that clear it (2 with a wrong top-1 entry)" in thresholds.calibration
    # every top-1 right: no margin
    assert calibrate_answer(top, top - leads, np.ones(leads.size, bool), 0.9, outside).margin == 0.0
