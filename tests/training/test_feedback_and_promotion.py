from __future__ import annotations

import pytest

from training.data import IntentExample, LabelledQuery
from training.feedback import Label, build_dataset
from training.gateset import GateItem
from training.promotion import GateRules, judge, mcnemar_p

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


def items(part: str, n: int, gold: str = "a", kind: str = "intent") -> list[GateItem]:
    return [GateItem(f"{part} {i}", gold, kind, part) for i in range(n)]


def test_the_issue_case_is_judged_by_changed_items_not_points() -> None:
    """66 old rows and 8 new-theme items: one changed row is 1.5 points, far above a 0.5-point tolerance."""
    old_rows, new_rows = items("old data: intents", 66), items("new themes", 8, "loyalty")
    all_items = old_rows + new_rows
    old = [True] * 64 + [False] * 2 + [True] * 2 + [False] * 6
    new = [True] * 63 + [False, True, False] + [True] * 7 + [False]  # old data: lost 1, gained 1
    decision = judge(all_items, old, new, GateRules())
    assert decision.publish, decision.rule
    assert decision.rule == ("new themes: 2/8 -> 7/8; old data: intents: 64/66 -> 64/66 (lost 1, gained 1): "
                             "no part worse")


def test_a_part_fails_on_a_net_loss_of_more_than_two_items_or_a_significant_one() -> None:
    rows = items("old data: intents", 66)
    assert judge(rows, [True] * 66, [False] * 2 + [True] * 64, GateRules()).publish  # 2 lost: allowed
    decision = judge(rows, [True] * 66, [False] * 5 + [True] * 61, GateRules())  # the issue's 84.85% -> 77.27%
    assert not decision.publish
    assert decision.rule.startswith("old data: intents lost 5 more than it gained (at most 2 allowed)")
    big = items("old data: intents", 3000)
    old = [True] * 3000
    new = [False] * 25 + [True] * 2975  # 25 lost of 3000: within 1% (30) but never chance
    decision = judge(big, [False] * 5 + old[5:], new, GateRules())
    assert not decision.publish and "p = 0.000" in decision.rule


def test_the_whole_bot_must_not_lose_more_than_it_gains() -> None:
    rows = items("old data: intents", 40) + items("old data: FAQ search", 40, "f1", "faq")
    old, new = [True] * 80, [False] * 2 + [True] * 38 + [False] * 2 + [True] * 38  # each part within its limit
    decision = judge(rows, old, new, GateRules())
    assert not decision.publish and decision.rule.startswith("the whole bot lost 4 more than it gained")


def test_an_old_theme_with_enough_items_is_judged_on_its_own() -> None:
    rows = items("old data: intents", 30, "a") + items("old data: intents", 500, "b")
    old, new = [True] * 530, [False] * 3 + [True] * 527  # 3 of intent a's 30 lost: noise for 530 rows
    decision = judge(rows, old, new, GateRules())
    assert not decision.publish and [f.name for f in decision.failures] == ["intent a"]
    assert judge(rows, old, new, GateRules(min_support=31)).publish


def test_mcnemar_p_is_exact() -> None:
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(1, 0) == 0.5 and round(mcnemar_p(6, 1), 4) == 0.0625
    with pytest.raises(ValueError, match="alpha"):
        GateRules(alpha=0)
    with pytest.raises(ValueError, match="one answer per item"):
        judge(items("old data: intents", 2), [True], [True, True], GateRules())
