"""Out-of-scope scores and the thresholds that turn scores into decisions (numpy only).

Intents (docs/checkpoints.md): from the logits ``z`` of one message,
``max_softmax = max(softmax(z / T))`` and ``energy = T * logsumexp(z / T)``; a message is out
of scope when its score is below the threshold.

- With out-of-scope validation rows, the threshold maximises the balanced accuracy of the
  accept/reject decision: the mean of in-scope accuracy (a rejected in-scope message counts
  as wrong) and out-of-scope recall.
- Without them, out-of-scope messages are simulated: each in-scope validation message is
  scored once more with its own intent's logit removed, which is how the model sees a message
  whose intent it was never taught. The threshold maximises the same balanced accuracy between
  the real in-scope scores and these simulated out-of-scope ones.

Example::

    scores = oos_scores(logits, "max_softmax")
    rule = calibrate_with_oos(scores, correct, is_oos, "max_softmax")
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.metrics import auroc


@dataclass(frozen=True)
class OosRule:
    """How out-of-scope messages are rejected; saved in ``supportbot_intents.json``."""

    score: str
    temperature: float
    threshold: float
    calibration: str


@dataclass(frozen=True)
class AnswerThresholds:
    """When the retriever answers directly; saved in ``supportbot_retriever.json``."""

    answer: float
    margin: float
    calibration: str


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` [n, labels]."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def oos_scores(logits: np.ndarray, score: str, temperature: float = 1.0) -> np.ndarray:
    """In-scope confidence per row of ``logits`` [n, labels]: high means in scope."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    if score == "max_softmax":
        return softmax(z).max(axis=1)
    if score == "energy":
        top = z.max(axis=1)
        return temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))
    raise ValueError(f"unknown out-of-scope score {score!r}; expected 'max_softmax' or 'energy'")


def balanced_threshold(scores: np.ndarray, correct: np.ndarray, is_oos: np.ndarray) -> tuple[float, float]:
    """Return (threshold, balanced accuracy) maximising the mean of in-scope accuracy and oos recall.

    ``correct`` says whether the argmax label of an in-scope row is right (ignored for oos rows).
    Candidate thresholds are midpoints between neighbouring distinct scores (and the ends).
    """
    scores = np.asarray(scores, float)
    inscope, oos = ~is_oos, is_oos
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    best = (float(candidates[0]), -1.0)
    for threshold in candidates:
        accepted = scores >= threshold
        in_acc = np.mean(accepted[inscope] & correct[inscope]) if inscope.any() else 0.0
        oos_recall = np.mean(~accepted[oos]) if oos.any() else 0.0
        value = (in_acc + oos_recall) / 2
        if value > best[1] + 1e-12:
            best = (float(threshold), float(value))
    return best


def calibrate_with_oos(
    logits: np.ndarray, correct: np.ndarray, is_oos: np.ndarray, score: str, temperature: float = 1.0
) -> OosRule:
    """Pick the score ("auto" = the better validation AUROC) and the balanced-accuracy threshold."""
    candidates = ("max_softmax", "energy") if score == "auto" else (score,)
    by_auroc = {}
    for name in candidates:
        values = oos_scores(logits, name, temperature)
        by_auroc[name] = auroc(values[~is_oos], values[is_oos])
    chosen = max(candidates, key=lambda name: by_auroc[name])
    threshold, balanced = balanced_threshold(oos_scores(logits, chosen, temperature), correct, is_oos)
    aurocs = ", ".join(f"{name} {value:.4f}" for name, value in by_auroc.items())
    return OosRule(
        chosen,
        temperature,
        threshold,
        f"threshold maximising balanced accuracy (in-scope accuracy with rejection, oos recall) "
        f"= {balanced:.4f} on {int((~is_oos).sum())} in-scope and {int(is_oos.sum())} out-of-scope "
        f"validation rows; validation AUROC {aurocs}",
    )


def without_own_intent(logits: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """``logits`` [n, labels] with each row's gold label removed (its logit pushed to -1e9).

    Softmax and energy of the result are those of the remaining labels: the scores a message
    gets from a model that does not know its intent, i.e. a simulated out-of-scope message.
    """
    masked = np.array(logits, dtype=np.float64)
    masked[np.arange(len(masked)), np.asarray(gold, dtype=int)] = -1e9
    return masked


def calibrate_without_oos(logits: np.ndarray, gold: np.ndarray, score: str, temperature: float = 1.0) -> OosRule:
    """Threshold from in-scope validation rows alone (``gold``: their label indices).

    Each row also stands in for an out-of-scope message through ``without_own_intent``; the
    threshold maximises balanced accuracy between the two, as ``calibrate_with_oos`` does with
    real out-of-scope rows. Needs at least two labels.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.shape[1] < 2:
        raise ValueError("calibrating without out-of-scope rows needs at least two labels")
    chosen = "max_softmax" if score == "auto" else score
    gold = np.asarray(gold, dtype=int)
    inscope = oos_scores(logits, chosen, temperature)
    simulated = oos_scores(without_own_intent(logits, gold), chosen, temperature)
    scores = np.concatenate([inscope, simulated])
    is_oos = np.arange(scores.size) >= inscope.size
    correct = np.concatenate([logits.argmax(axis=1) == gold, np.zeros(simulated.size, dtype=bool)])
    threshold, balanced = balanced_threshold(scores, correct, is_oos)
    rejected = float(np.mean(inscope < threshold))
    return OosRule(
        chosen,
        temperature,
        threshold,
        f"no out-of-scope validation rows: {inscope.size} in-scope validation rows, each also scored "
        f"without its own intent as a simulated out-of-scope message; threshold maximising balanced "
        f"accuracy = {balanced:.4f}; it rejects {rejected:.0%} of the in-scope validation rows",
    )


def calibrate_answer(
    top_scores: Sequence[float], second_scores: Sequence[float], top_correct: Sequence[bool], target_precision: float
) -> AnswerThresholds:
    """Pick (answer, margin) that answers the most queries with precision >= ``target_precision``.

    A query is answered when its top cosine >= answer and exceeds the second entry's by >= margin.
    When no pair reaches the target, the pair with the highest precision is taken.
    """
    top, second = np.asarray(top_scores, float), np.asarray(second_scores, float)
    correct = np.asarray(top_correct, bool)
    gaps = top - second
    answers = np.unique(np.quantile(top, np.linspace(0, 1, 41)))
    margins = np.unique(np.concatenate([[0.0], np.quantile(gaps, np.linspace(0, 0.9, 19))]))
    best: tuple[float, float, float, float] | None = None  # (coverage, precision, answer, margin)
    fallback: tuple[float, float, float, float] | None = None
    for answer in answers:
        for margin in margins:
            answered = (top >= answer) & (gaps >= margin)
            if not answered.any():
                continue
            precision, coverage = float(correct[answered].mean()), float(answered.mean())
            if precision >= target_precision and (best is None or coverage > best[0]):
                best = (coverage, precision, float(answer), float(margin))
            if fallback is None or (precision, coverage) > (fallback[1], fallback[0]):
                fallback = (coverage, precision, float(answer), float(margin))
    chosen = best or fallback
    assert chosen is not None, "calibrate_answer needs at least one query"
    coverage, precision, answer, margin = chosen
    how = "the most answered" if best else f"no pair reached precision {target_precision:.2f}; the most precise"
    return AnswerThresholds(
        answer,
        margin,
        f"{how} (answer, margin) pair on {top.size} held-out queries: answers {coverage:.0%} "
        f"with top-1 precision {precision:.3f} (target {target_precision:.2f})",
    )
