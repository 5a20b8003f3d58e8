from __future__ import annotations

import pytest

from training.data import IntentExample, LabelledQuery
from training.feedback import Label, build_dataset
from training.promotion import GateRules, PromotionFailure, Scores, judge, score

BASE = [IntentExample("where is my card", "card_arrival"), IntentExample("reset my pin", "pin"),
        IntentExample("In the EVAL set", "pin")]


def test_labels_become_rows_deduplicated_without_leaks() -> None:
    labels = [
        Label("my card never came", "intent", "card_arrival"),
        Label("My  card never came", "intent", "card_arrival"),  # same text: duplicate
        Label("my card never came", "intent", "pin"),  # same text, other label: conflict
        Label("in the eval set", "intent", "pin"),  # an evaluation text: never trained on
        Label("what's the weather", "out_of_scope", None),
        Label("spam spam", "dismissed", None),
        Label("can I freeze my account", "intent", "freeze_account"),  # a new intent
        Label("how long do refunds take", "faq", "refunds"),
        Label("unknown faq question", "faq", "no-such-entry"),
    ]
    dataset = build_dataset(BASE, [LabelledQuery("refund time", "refunds")], labels,
                            eval_texts=["in the eval set"], faq_ids={"refunds"})
    texts = {(r.text, r.label) for r in dataset.intents}
    assert ("my card never came", "card_arrival") in texts and ("what's the weather", "oos") in texts
    assert ("In the EVAL set", "pin") not in texts  # base rows that leak are dropped too
    assert dataset.new_intents == ["freeze_account"]  # out of scope is a rejection, not an intent
    report = dataset.report()
    assert report["duplicates_dropped"] == 1 and report["conflicts_dropped"] == 1
    assert report["leaked_dropped"] == 2 and report["dismissed"] == 1
    assert [q.faq_id for q in dataset.queries] == ["refunds", "refunds"]
    assert report["added_queries"] == 1
    assert not any(r.text.lower().startswith("how long do refunds") for r in dataset.intents)  # no "faq" intent


def test_faq_labels_also_teach_a_faq_intent_when_the_classifier_has_one() -> None:
    base = [*BASE, IntentExample("question about the shop", "faq")]
    dataset = build_dataset(base, [], [Label("do you ship to Norway", "faq", "shipping")], [], {"shipping"})
    assert IntentExample("do you ship to Norway", "faq") in dataset.intents
    assert dataset.queries == [LabelledQuery("do you ship to Norway", "shipping")]


def test_base_repeats_and_conflicts_are_left_to_the_data_check() -> None:
    """So retraining resolves them by the rule ``train intents`` uses, and reports them."""
    base = [*BASE, IntentExample("where is my card", "card_arrival"), IntentExample("Where is my card", "pin")]
    dataset = build_dataset(base, [], [Label("where is my card", "intent", "pin")], [])
    assert dataset.intents == base and dataset.report()["conflicts_dropped"] == 1  # the label meets the first row


def scores(accuracy: float, per_intent: dict[str, float], support: int = 50,
           regression: float | None = None) -> Scores:
    return Scores(accuracy, per_intent, {k: support for k in per_intent}, regression)


RULES = GateRules(max_overall_drop=0.5, max_regression_drop=1.0, max_intent_drop=5.0, min_support=20)


def test_gate_publishes_a_better_model() -> None:
    decision = judge(scores(0.80, {"a": 0.8, "b": 0.8}), scores(0.90, {"a": 0.9, "b": 0.9}), RULES)
    assert decision.publish and "within every rule" in decision.rule and decision.failure is None


def test_gate_allows_a_small_overall_drop_but_not_a_larger_one() -> None:
    assert judge(scores(0.900, {"a": 0.9}), scores(0.896, {"a": 0.9}), RULES).publish
    decision = judge(scores(0.900, {"a": 0.9}), scores(0.890, {"a": 0.9}), RULES)
    assert not decision.publish and decision.rule.startswith("overall accuracy fell 1.00 points")
    assert decision.failure == PromotionFailure("intent", "accuracy", 0.890, 0.5, reference=0.900)


def test_gate_rejects_an_intent_that_collapses() -> None:
    decision = judge(scores(0.80, {"a": 0.9, "b": 0.7}), scores(0.85, {"a": 1.0, "b": 0.6}), RULES)
    assert not decision.publish and "intent 'b' fell 10.0 points" in decision.rule
    assert decision.failure == PromotionFailure("intent", "intent_accuracy", 0.6, 5.0, reference=0.7, label="b")


def test_gate_ignores_intents_with_little_support() -> None:
    decision = judge(scores(0.80, {"a": 0.9, "b": 0.7}, support=5), scores(0.85, {"a": 1.0, "b": 0.1}, support=5),
                     RULES)
    assert decision.publish


def test_gate_checks_the_regression_set() -> None:
    decision = judge(scores(0.8, {"a": 0.8}, regression=1.0), scores(0.9, {"a": 0.9}, regression=0.95), RULES)
    assert not decision.publish and decision.rule.startswith("regression-set accuracy fell 5.00 points")
    assert decision.failure is not None and decision.failure.metric == "regression_accuracy"
    assert decision.report()["failure"] == {"model": "intent", "metric": "regression_accuracy", "value": 0.95,
                                            "limit": 1.0, "reference": 1.0, "label": None}


def test_score_counts_per_gold_label() -> None:
    result = score(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a"], ["b"])
    assert result.accuracy == 0.75 and result.per_intent == {"a": 0.5, "b": 1.0}
    assert result.support == {"a": 2, "b": 2} and result.regression == 0.0
    with pytest.raises(ValueError):
        score(["a"], [])


def test_gate_limits_are_inclusive_despite_float_noise() -> None:
    # 40 examples, 40 right before and 38 after: exactly 5 points, computed as 5.000000000000004
    old = score(["a"] * 40 + ["b"] * 40, ["a"] * 40 + ["b"] * 40)
    new = score(["a"] * 40 + ["b"] * 40, ["a"] * 38 + ["b"] * 42)
    assert (old.per_intent["a"] - new.per_intent["a"]) * 100 > 5.0  # the float noise is real
    assert judge(old, new, GateRules(max_overall_drop=5.0, max_intent_drop=5.0, min_support=20)).publish
