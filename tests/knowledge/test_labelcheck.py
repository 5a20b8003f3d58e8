"""The label check: findings named, fixes offered, only too few examples blocks a run."""
from __future__ import annotations

from knowledge.conversations.labelcheck import check_labels
from knowledge.conversations.reviews import ReviewLabel
from knowledge.faq.entry import FaqEntry

ENTRIES = [FaqEntry("store-pickup", "Can I pick up in a store?", "Yes.", ("collect in store?",)),
           FaqEntry("parcel-locker", "Can I use a parcel locker?", "Yes.", ("Collect in   store?",))]


def _label(turn: int, text: str, kind: str, value: str | None, author: str = "ana") -> ReviewLabel:
    return ReviewLabel(turn, turn, text, kind, value, author, "2026-12-01T10:00:00")


def test_a_rare_new_intent_blocks_with_its_fixes_and_an_unrouted_one_warns() -> None:
    labels = [_label(1, "ten pallets please", "intent", "wholesale"), _label(2, "Ten pallets  PLEASE", "intent",
                                                                               "wholesale"),
              *[_label(10 + i, f"points question {i}", "intent", "loyalty_programme") for i in range(3)],
              _label(20, "hi", "intent", "greeting"), _label(21, "spam", "dismissed", None)]
    findings = check_labels(labels, {"greeting"}, [], routed={"greeting"})
    assert [(f.kind, f.subject, f.blocking) for f in findings] == [
        ("too_few", "wholesale", True), ("no_route", "loyalty_programme", False), ("no_route", "wholesale", False)]
    assert findings[0].message == "New intent 'wholesale' has 1 example; 3 are needed to train it and check it."
    assert "label 2 more" in findings[0].fix and "--exclude-intent wholesale" in findings[0].fix
    assert "supportbot logs relabel 1 --intent OTHER" in findings[0].fix
    assert "supportbot routing set loyalty_programme --faq ID" in findings[1].fix
    excluded = check_labels(labels, {"greeting"}, [], routed={"greeting", "loyalty_programme"},
                            excluded={"wholesale"})
    assert [(f.kind, f.subject) for f in excluded] == [("excluded", "wholesale")]
    assert excluded[0].message == "Intent 'wholesale' is kept out of this run (2 labels not learnt)."


def test_texts_labelled_two_ways_and_shared_phrasings_are_named() -> None:
    labels = [_label(1, "do your drivers work weekends?", "faq", "store-pickup"),
              _label(2, "Do your drivers work weekends?", "intent", "delivery", "bo"),
              _label(3, "where is it", "intent", "order_status"), _label(4, "gone", "faq", "removed-entry"),
              _label(5, "collect in store?", "new_faq", "store-pickup")]
    findings = check_labels(labels, {"order_status", "delivery"}, ENTRIES, routed=set(),
                            base_labels={"where is it": "faq"})
    by_kind = {f.kind: f for f in findings if f.kind != "conflict"}
    conflicts = [f.message for f in findings if f.kind == "conflict"]
    assert conflicts == [
        "'do your drivers work weekends?' is labelled 2 ways: faq store-pickup (turn 1, ana), intent delivery "
        "(turn 2, bo); retraining learns only the first.",
        "'where is it' is labelled intent order_status (turn 3, ana) but the training data has it as intent faq; "
        "retraining keeps the training data's."]
    assert by_kind["shared_phrasing"].message == ("'collect in store?' is a phrasing of parcel-locker and "
                                                  "store-pickup: the bot offers them as a tie for it.")
    assert "removed-entry" in by_kind["unknown_faq"].message and not any(f.blocking for f in findings)
