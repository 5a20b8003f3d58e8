"""The gate's items: fixed evaluation sets, and fresh labels held out by rotation."""
from __future__ import annotations

from knowledge.conversations.reviews import ReviewLabel
from knowledge.faq.entry import FaqEntry
from training.data import IntentExample, LabelledQuery
from training.gateset import gate_items, hold_out, without_phrasings


def _label(i: int, text: str, kind: str, value: str | None) -> ReviewLabel:
    return ReviewLabel(i, i, text, kind, value, "ana", "2026-12-01T10:00:00")


PICKUP = [_label(i, f"pick up in store {i}", "faq", "store-pickup") for i in range(1, 7)]
LOYALTY = [_label(10 + i, f"points {i}", "intent", "loyalty_programme") for i in range(3)]


def test_one_in_five_of_each_theme_is_held_out_and_which_turns() -> None:
    rare = [_label(20, "pallets", "intent", "wholesale"), _label(21, "crates", "intent", "wholesale")]
    repeat = _label(30, "PICK UP IN STORE 1", "faq", "store-pickup")  # a repeat goes with its text
    held = hold_out([*PICKUP, *LOYALTY, *rare, repeat, _label(40, "spam", "dismissed", None)], rotation=0)
    by_theme = {label.value for label in held}
    assert by_theme == {"store-pickup", "loyalty_programme"}  # two of wholesale are too few to spare one
    pickup = {label.text.casefold() for label in held if label.value == "store-pickup"}
    assert len(pickup) == 1 and sum(label.value == "loyalty_programme" for label in held) == 1
    if "pick up in store 1" in pickup:
        assert repeat in held
    turns = [{label.id for label in hold_out(PICKUP, rotation)} for rotation in range(6)]
    assert len({frozenset(t) for t in turns}) > 1  # another run holds out other phrasings
    assert set().union(*turns) == {label.id for label in PICKUP}


def test_items_name_their_part() -> None:
    held = [PICKUP[0], LOYALTY[0], _label(50, "where is my parcel", "intent", "order_status"),
            _label(51, "tell me a joke", "out_of_scope", None)]
    items = gate_items([IntentExample("hi", "greeting")], [LabelledQuery("refund?", "refunds")], held,
                       old_intents={"greeting", "order_status"}, old_entries={"refunds"})
    assert [(i.text, i.gold, i.kind, i.part) for i in items] == [
        ("hi", "greeting", "intent", "old data: intents"), ("refund?", "refunds", "faq", "old data: FAQ search"),
        ("pick up in store 1", "store-pickup", "faq", "new themes"),
        ("points 0", "loyalty_programme", "intent", "new themes"),
        ("where is my parcel", "order_status", "intent", "fresh phrasings"),
        ("tell me a joke", "oos", "intent", "fresh phrasings")]


def test_held_out_phrasings_leave_the_faq() -> None:
    entry = FaqEntry("store-pickup", "Can I collect in store?", "Yes.", ("Pick up in  store 1", "click and collect"))
    assert without_phrasings([entry], ["pick up in store 1"])[0].alternatives == ("click and collect",)
