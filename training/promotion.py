"""The promotion gate: may a retrained intent model replace the one in service?

Both models are scored on the same fixed evaluation set (and on the regression set: turns staff
confirmed the old model got right). The new model is published only if

1. overall accuracy does not drop by more than ``max_overall_drop`` points,
2. accuracy on the regression set does not drop by more than ``max_regression_drop`` points,
3. no intent with at least ``min_support`` evaluation examples drops by more than
   ``max_intent_drop`` points.

The decision names the rule that decided, with its numbers: a rejection carries the broken
rule as a ``PromotionFailure`` (model, metric, value, limit, the old model's value), and the
sentence is written from it.

Example::

    decision = judge(score(gold, old_predictions), score(gold, new_predictions), GateRules())
    decision.publish, decision.rule
    decision.failure          # None, or e.g. PromotionFailure("intent", "accuracy", 0.89, 0.5, 0.90)
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

_EPSILON = 1e-9  # 2 of 40 examples is 5.000000000000004 points in floating point: that is 5


@dataclass(frozen=True)
class GateRules:
    max_overall_drop: float = 0.5  # accuracy points
    max_regression_drop: float = 1.0  # accuracy points
    max_intent_drop: float = 5.0  # accuracy points, per intent with enough support
    min_support: int = 20  # evaluation examples an intent needs for rule 3

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"gate rule {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Scores:
    """Accuracy of one model: overall, per gold intent (with its support), on the regression set."""

    accuracy: float
    per_intent: dict[str, float]
    support: dict[str, int]
    regression: float | None = None


@dataclass(frozen=True)
class PromotionFailure:
    """The rule a retrained model broke: ``metric`` fell from ``reference`` (the model in service)
    to ``value`` by more than ``limit`` points. ``metric`` is "accuracy" (overall),
    "regression_accuracy", or "intent_accuracy" for the intent named by ``label``.

    >>> PromotionFailure("intent", "accuracy", 0.89, 0.5, reference=0.90).message
    'overall accuracy fell 1.00 points (90.00% -> 89.00%), more than 0.5 allowed'
    """

    model: Literal["intent", "retriever"]
    metric: str
    value: float
    limit: float
    reference: float
    label: str | None = None  # the intent, for "intent_accuracy"

    @property
    def message(self) -> str:
        fall = (self.reference - self.value) * 100
        if self.metric == "regression_accuracy":
            return f"regression-set accuracy fell {fall:.2f} points, more than {self.limit} allowed"
        if self.metric == "intent_accuracy":
            return (f"intent {self.label!r} fell {fall:.1f} points ({self.reference:.1%} -> {self.value:.1%}), "
                    f"more than {self.limit} allowed")
        return (f"overall accuracy fell {fall:.2f} points ({self.reference:.2%} -> {self.value:.2%}), "
                f"more than {self.limit} allowed")

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class GateDecision:
    publish: bool
    rule: str  # the rule that decided, in words (``failure.message`` on a rejection)
    old: Scores
    new: Scores
    failure: PromotionFailure | None = None  # the broken rule, None when published

    @classmethod
    def reject(cls, failure: PromotionFailure, old: Scores, new: Scores) -> GateDecision:
        return cls(False, failure.message, old, new, failure)

    def report(self) -> dict[str, object]:
        return {"publish": self.publish, "rule": self.rule, "old": asdict(self.old), "new": asdict(self.new),
                "failure": asdict(self.failure) if self.failure else None}


def score(gold: Sequence[str], predicted: Sequence[str], regression_gold: Sequence[str] = (),
          regression_predicted: Sequence[str] = ()) -> Scores:
    """Accuracy overall and per gold label; regression accuracy when a regression set is given."""
    if len(gold) != len(predicted) or not gold:
        raise ValueError(f"need as many predictions as gold labels (got {len(predicted)} and {len(gold)})")
    support = Counter(gold)
    right = Counter(g for g, p in zip(gold, predicted) if g == p)
    regression = None
    if regression_gold:
        regression = sum(g == p for g, p in zip(regression_gold, regression_predicted)) / len(regression_gold)
    return Scores(sum(right.values()) / len(gold), {label: right[label] / n for label, n in support.items()},
                  dict(support), regression)


def judge(old: Scores, new: Scores, rules: GateRules) -> GateDecision:
    """Apply the rules in order; the first one broken rejects, else the model is published."""
    drop = (old.accuracy - new.accuracy) * 100
    if drop > rules.max_overall_drop + _EPSILON:
        return GateDecision.reject(
            PromotionFailure("intent", "accuracy", new.accuracy, rules.max_overall_drop, old.accuracy), old, new)
    if old.regression is not None and new.regression is not None:
        fall = (old.regression - new.regression) * 100
        if fall > rules.max_regression_drop + _EPSILON:
            return GateDecision.reject(PromotionFailure("intent", "regression_accuracy", new.regression,
                                                        rules.max_regression_drop, old.regression), old, new)
    worst = _worst_intent(old, new, rules.min_support)
    if worst is not None and worst[1] > rules.max_intent_drop + _EPSILON:
        label = worst[0]
        return GateDecision.reject(PromotionFailure("intent", "intent_accuracy", new.per_intent.get(label, 0.0),
                                                    rules.max_intent_drop, old.per_intent[label], label), old, new)
    worst_text = f"; largest per-intent drop {worst[1]:.1f} points ({worst[0]})" if worst else ""
    return GateDecision(True, f"accuracy {old.accuracy:.2%} -> {new.accuracy:.2%} (change {-drop:+.2f} points)"
                        f"{worst_text}: within every rule", old, new)


def _worst_intent(old: Scores, new: Scores, min_support: int) -> tuple[str, float] | None:
    drops = [(label, (old.per_intent[label] - new.per_intent.get(label, 0.0)) * 100)
             for label, n in new.support.items() if n >= min_support and label in old.per_intent]
    return max(drops, key=lambda item: item[1]) if drops else None
