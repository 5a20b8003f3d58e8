"""The intent head and the out-of-scope rule of docs/checkpoints.md, on hand-made numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bot.models.intent_head import IntentHead
from bot.models.oos import OosRule, oos_scores, softmax

LOGITS = np.array([[2.0, 0.0, 0.0], [0.1, 0.0, 0.0]], dtype=np.float32)


def test_max_softmax_score_uses_the_temperature() -> None:
    scores = oos_scores(LOGITS, OosRule("max_softmax", 2.0, 0.0))
    expected = math.exp(1.0) / (math.exp(1.0) + 2)
    assert scores[0] == pytest.approx(expected, rel=1e-6)


def test_energy_score_is_temperature_times_logsumexp() -> None:
    scores = oos_scores(LOGITS, OosRule("energy", 2.0, 0.0))
    assert scores[0] == pytest.approx(2.0 * math.log(math.exp(1.0) + 2), rel=1e-6)


def test_out_of_scope_below_the_threshold() -> None:
    head = IntentHead(np.eye(3, dtype=np.float32), np.zeros(3, np.float32), ("a", "b", "c"), "oos",
                      OosRule("max_softmax", 1.0, 0.5))
    scores = head.score(LOGITS)  # identity weight: pooled vectors are the logits
    assert scores.in_scope.tolist() == [True, False]
    assert scores.predicted() == ["a", "oos"]
    np.testing.assert_allclose(scores.probabilities, softmax(LOGITS), rtol=1e-6)


def test_softmax_is_stable_for_large_logits() -> None:
    assert np.isfinite(softmax(np.array([[1e4, 0.0]], np.float32))).all()


@pytest.mark.parametrize(
    ("rule", "message"),
    [(("cosine", 1.0, 0.0), "unknown out-of-scope score"), (("energy", 0.0, 0.0), "temperature must be > 0")],
)
def test_bad_rules_are_refused(rule: tuple[str, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OosRule(*rule)


def test_head_shape_must_fit_the_labels() -> None:
    with pytest.raises(ValueError, match="do not fit 2 labels"):
        IntentHead(np.eye(3, dtype=np.float32), np.zeros(3, np.float32), ("a", "b"), "oos",
                   OosRule("max_softmax", 1.0, 0.5))
