"""The out-of-scope rule: the one definition shared by training, the export gate and the runtime.

From the logits ``z`` of one text (docs/checkpoints.md), ``max_softmax`` scores
max(softmax(z / T)) and ``energy`` scores T * logsumexp(z / T); a text is out of scope when its
score is below the calibrated threshold. Training calibrates ``OosRule`` (``training.calibration``)
on the float32 scores of ``score_logits`` and decides with ``accepts``, the checkpoint and the
bundle manifest record it, and the runtime head (``bot.models.intent_head``) applies it with the
same two functions, so a row is decided the same way everywhere, even one exactly at the threshold.

numpy only.

Example::

    rule = OosRule("max_softmax", temperature=1.0, threshold=0.5)
    rule.in_scope(logits)            # logits [n, labels] -> [n] bool
    score_logits(logits, "energy", 2.0)   # [n] float32, what calibration thresholds
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

OOS_SCORES = ("max_softmax", "energy")

FloatArray = npt.NDArray[np.floating]
Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class OosRule:
    """How out-of-scope is decided: ``score`` of the logits at ``temperature`` below ``threshold``."""

    score: str
    temperature: float
    threshold: float
    calibration: str = ""

    def __post_init__(self) -> None:
        check_score(self.score)
        if not self.temperature > 0:
            raise ValueError(f"out-of-scope temperature must be > 0, got {self.temperature}")

    def scores(self, logits: FloatArray) -> Scores:
        """The in-scope score of each row of [n, k] logits, [n]; higher = more in scope."""
        return oos_scores(logits, self)

    def in_scope(self, logits: FloatArray) -> npt.NDArray[np.bool_]:
        """[n] bool: which rows of [n, k] logits this rule keeps in scope (score >= threshold)."""
        return accepts(self.scores(logits), self.threshold)


def check_score(score: str) -> str:
    """Return ``score`` if it is a known out-of-scope score, else raise ``ValueError``."""
    if score not in OOS_SCORES:
        raise ValueError(f"unknown out-of-scope score {score!r}; expected one of {OOS_SCORES}")
    return score


def softmax(logits: FloatArray) -> Scores:
    """Row-wise softmax of [n, k] logits, computed stably in float64, returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


def score_logits(logits: FloatArray, score: str, temperature: float) -> Scores:
    """The ``score`` of each row of [n, k] logits at ``temperature``, [n] float32.

    Computed in float64 and returned as float32: the values the runtime compares with the
    threshold, and so the values calibration must choose the threshold on.

    >>> score_logits(np.array([[0.0, 0.0]]), "max_softmax", 1.0)
    array([0.5], dtype=float32)
    """
    check_score(score)
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if score == "max_softmax":
        return np.asarray(softmax(scaled).max(axis=1), dtype=np.float32)
    top = scaled.max(axis=1)
    logsumexp = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return np.asarray(temperature * logsumexp, dtype=np.float32)


def oos_scores(logits: FloatArray, rule: OosRule) -> Scores:
    """The in-scope score of each row of [n, k] logits under ``rule``, [n] float32."""
    return score_logits(logits, rule.score, rule.temperature)


def accepts(scores: Scores, threshold: float) -> npt.NDArray[np.bool_]:
    """[n] bool: which float32 scores are in scope (score >= threshold, compared in float32).

    The threshold is rounded to float32 explicitly so the decision does not depend on numpy's
    promotion rules or on whether the threshold came from JSON or from calibration.
    """
    return np.asarray(scores, dtype=np.float32) >= np.float32(threshold)
