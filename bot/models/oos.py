"""The out-of-scope rule: the one definition shared by training, the export gate and the runtime.

From the logits ``z`` of one text (docs/checkpoints.md), ``max_softmax`` scores
max(softmax(z / T)) and ``energy`` scores T * logsumexp(z / T); ``knn`` scores the text's cosine
similarity to its nearest training example in the encoder's space (the pooled vector, against
the unit vectors stored in the head as ``reference``) plus ``softmax_weight`` * max_softmax.
A text is out of scope when its score is below the calibrated threshold. Training calibrates
``OosRule`` (``training.calibration``) on the float32 scores of ``oos_scores`` and decides with
``accepts``, the checkpoint and the bundle manifest record it, and the runtime head
(``bot.models.intent_head``) applies it with the same functions, so a row is decided the same
way everywhere, even one exactly at the threshold.

numpy only.

Example::

    rule = OosRule("max_softmax", temperature=1.0, threshold=0.5)
    rule.in_scope(logits)            # logits [n, labels] -> [n] bool
    score_logits(logits, "energy", 2.0)   # [n] float32, what calibration thresholds
    knn = OosRule("knn", 1.0, 0.6, softmax_weight=0.25)
    knn.in_scope(logits, nearest_similarity(pooled, reference))   # pooled [n, hidden], reference [m, hidden]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

OOS_SCORES = ("max_softmax", "energy", "knn")
LOGIT_SCORES = ("max_softmax", "energy")  # the scores computed from the logits alone

FloatArray = npt.NDArray[np.floating]
Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class OosRule:
    """How out-of-scope is decided: ``score`` at ``temperature`` below ``threshold``.

    ``softmax_weight`` is used by ``knn`` alone: how much max_softmax adds to the similarity.
    """

    score: str
    temperature: float
    threshold: float
    calibration: str = ""
    softmax_weight: float = 0.0

    def __post_init__(self) -> None:
        check_score(self.score)
        if not self.temperature > 0:
            raise ValueError(f"out-of-scope temperature must be > 0, got {self.temperature}")
        if not self.softmax_weight >= 0:
            raise ValueError(f"out-of-scope softmax_weight must be >= 0, got {self.softmax_weight}")

    @property
    def needs_similarity(self) -> bool:
        """Whether the score needs each text's similarity to the training examples (``knn``)."""
        return self.score == "knn"

    def scores(self, logits: FloatArray, similarity: FloatArray | None = None) -> Scores:
        """The in-scope score of each row of [n, k] logits, [n]; higher = more in scope.
        ``similarity`` [n] (``nearest_similarity``) is required by ``knn``."""
        return oos_scores(logits, self, similarity)

    def in_scope(self, logits: FloatArray, similarity: FloatArray | None = None) -> npt.NDArray[np.bool_]:
        """[n] bool: which rows of [n, k] logits this rule keeps in scope (score >= threshold)."""
        return accepts(self.scores(logits, similarity), self.threshold)


def rule_fields(rule: OosRule) -> dict[str, object]:
    """The rule as JSON fields (docs/checkpoints.md): ``softmax_weight`` only for ``knn``, so the
    files of the other scores stay what earlier releases wrote and read."""
    fields = asdict(rule)
    if not rule.needs_similarity:
        del fields["softmax_weight"]
    return fields


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
    if check_score(score) not in LOGIT_SCORES:
        raise ValueError(f"the {score!r} score is not computed from the logits alone; use oos_scores")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if score == "max_softmax":
        return np.asarray(softmax(scaled).max(axis=1), dtype=np.float32)
    top = scaled.max(axis=1)
    logsumexp = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return np.asarray(temperature * logsumexp, dtype=np.float32)


def oos_scores(logits: FloatArray, rule: OosRule, similarity: FloatArray | None = None) -> Scores:
    """The in-scope score of each row of [n, k] logits under ``rule``, [n] float32."""
    if not rule.needs_similarity:
        return score_logits(logits, rule.score, rule.temperature)
    if similarity is None:
        raise ValueError("the knn out-of-scope score needs each text's similarity to the training examples")
    return knn_scores(similarity, logits, rule.softmax_weight, rule.temperature)


def knn_scores(similarity: FloatArray, logits: FloatArray, softmax_weight: float, temperature: float) -> Scores:
    """similarity + softmax_weight * max_softmax(logits / temperature), [n] float32, computed in float64.

    >>> knn_scores(np.array([0.8]), np.array([[0.0, 0.0]]), 0.5, 1.0)
    array([1.05], dtype=float32)
    """
    combined = np.asarray(similarity, dtype=np.float64)
    if softmax_weight:
        combined = combined + softmax_weight * score_logits(logits, "max_softmax", temperature).astype(np.float64)
    return np.asarray(combined, dtype=np.float32)


def nearest_similarity(vectors: FloatArray, reference: FloatArray) -> Scores:
    """Cosine similarity of each of [n, hidden] ``vectors`` to its nearest row of ``reference``
    [m, hidden] (unit rows), [n] float32. A text far from every training example scores low.

    >>> nearest_similarity(np.array([[3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    array([0.8], dtype=float32)
    """
    return np.asarray(cosines(vectors, reference).max(axis=1), dtype=np.float32)


def cosines(vectors: FloatArray, reference: FloatArray) -> Scores:
    """Cosine of each of [n, hidden] ``vectors`` with each unit row of ``reference`` [m, hidden]:
    [n, m] float32 (the nearest-example vote, ``bot.models.vote``, needs them all).

    >>> cosines(np.array([[3.0, 4.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    array([[0.6, 0.8]], dtype=float32)
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return np.asarray((vectors / norms) @ np.asarray(reference, dtype=np.float32).T, dtype=np.float32)


def accepts(scores: Scores, threshold: float) -> npt.NDArray[np.bool_]:
    """[n] bool: which float32 scores are in scope (score >= threshold, compared in float32).

    The threshold is rounded to float32 explicitly so the decision does not depend on numpy's
    promotion rules or on whether the threshold came from JSON or from calibration.
    """
    return np.asarray(scores, dtype=np.float32) >= np.float32(threshold)
