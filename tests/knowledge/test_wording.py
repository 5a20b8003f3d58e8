from __future__ import annotations

from knowledge.faq.entry import FaqEntry
from knowledge.faq.wording import EntryWording, wording_terms

ENTRIES = [
    FaqEntry("return-policy", "What is your return policy?", "You can return most items within 30 days.",
             ("can i send something back",)),
    FaqEntry("non-returnable-items", "Which items can't be returned?",
             "Personalised or engraved items, gift cards and opened cosmetics can't be returned."),
    FaqEntry("weekend-delivery", "Do you deliver at weekends?", "Express orders can arrive on Saturday.",
             ("weekend shipping?",)),
]


def test_the_entry_whose_answer_holds_the_customers_words_scores_highest() -> None:
    wording = EntryWording(ENTRIES)
    policy, engraved = wording.scores("my wallet was engraved", ["return-policy", "non-returnable-items"])
    assert engraved > 0 == policy  # "engraved" is in that entry's answer alone


def test_plurals_are_folded_on_both_sides_and_unknown_entries_score_zero() -> None:
    wording = EntryWording(ENTRIES)
    weekend, policy, unknown = wording.scores("drivers saturdays", ["weekend-delivery", "return-policy",
                                                                     "no-such-entry"])
    assert weekend > 0 and policy == 0.0 and unknown == 0.0  # "saturdays" is the answer's "Saturday"
    assert wording.scores("anything", []) == []
    assert wording_terms("Deliveries STATUS boxes us") == ["delivery", "status", "boxe", "us"]
