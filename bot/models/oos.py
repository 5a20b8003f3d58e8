"""The out-of-scope rule: the one definition shared by training, the export gate and the runtime.

From the logits ``z`` of one text (docs/checkpoints.md), ``max_softmax`` scores
max(softmax(z / T)) and ``energy`` scores T * logsumexp(z / T); a text is out of scope when its
score is below the calibrated threshold. Training calibrates ``OosRule`` (``training.calibration``)
with these functions, the checkpoint and the bundle manifest record it, and the runtime head
(``bot.models.intent_head``) applies it with the same functions, so the two cannot drift.

numpy only.

Example::

    rule = OosRule("max_softmax", temperature=1.0, threshold=0.5)
    rule.in_scope(logits)            # logits [n, labels] -> [n] bool
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OOS_SCORES = ("max_softmax", "energy")


@dataclass(frozen=True)
class OosRule:
    """How out-of-scope is decided: ``score`` of the logits at ``temperature`` below ``threshold``."""

    score: str
    temperature: float
    threshold: float
    calibration: str = ""

    def __post_init__(self) -> None:
        if self.score not in OOS_SCORES:
            raise ValueError(f"unknown out-of-scope score {self.score!r}; expected one of {OOS_SCORES}")
        if not self.temperature > 0:
            raise ValueError(f"out-of-scope temperature must be > 0, got {self.temperature}")

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """The in-scope score of each row of [n, k] logits, [n]; higher = more in scope."""
        return oos_scores(logits, self)

    def in_scope(self, logits: np.ndarray) -> np.ndarray:
        """[n] bool: which rows of [n, k] logits this rule keeps in scope (score >= threshold)."""
        return self.scores(logits) >= self.threshold


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [n, k] logits, computed stably in float64, returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def oos_scores(logits: np.ndarray, rule: OosRule) -> np.ndarray:
    """The in-scope score of each row of [n, k] logits, [n] float32; higher = more in scope."""
    scaled = logits.astype(np.float64) / rule.temperature
    if rule.score == "max_softmax":
        return softmax(scaled).max(axis=1)
    top = scaled.max(axis=1)
    logsumexp = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return (rule.temperature * logsumexp).astype(np.float32)
