from __future__ import annotations

import pytest

from bot.core.policy import IntentGuess, Thresholds, decide
from bot.core.routing import SEARCH, Route, RoutingError, parse_routing
from knowledge.faq.index import Hit

T = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5)
FAQ = IntentGuess("faq", 0.9, True)


def hits(*scores: float) -> list[Hit]:
    return [Hit(f"faq-{i}", score, f"question {i}") for i, score in enumerate(scores)]


def test_confident_handler_intent_runs_its_handler() -> None:
    decision = decide(IntentGuess("greeting", 0.8, True), hits(0.9), Route("handler", "greeting"), T)
    assert decision.action == "handler" and decision.handler == "greeting"


def test_unsure_handler_intent_goes_to_search() -> None:
    decision = decide(IntentGuess("greeting", 0.4, True), hits(0.9, 0.2), Route("handler", "greeting"), T)
    assert decision.action == "answer" and decision.faq_id == "faq-0"


def test_out_of_scope_handler_intent_does_not_run() -> None:
    decision = decide(IntentGuess("greeting", 0.95, False), hits(0.1), Route("handler", "greeting"), T)
    assert decision.action == "fallback"


def test_a_handler_intent_read_as_out_of_scope_runs_from_its_own_threshold_unless_the_faq_answers() -> None:
    """ "Transfer me to an agent." after a long story: the model's energy says unlike its training
    examples, but its best reading, a request for a person at 0.48, is right."""
    lenient = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.4, oos_handler=0.45)
    handoff, person = IntentGuess("human_handoff", 0.48, False), Route("handler", "human_handoff")
    ran = decide(handoff, hits(0.4, 0.38), person, lenient)
    assert ran.action == "handler" and ran.handler == "human_handoff" and "out of scope" in ran.reason
    assert decide(handoff, hits(0.4, 0.38), person, T).action == "fallback"  # the default: never
    assert decide(IntentGuess("human_handoff", 0.44, False), hits(0.4), person, lenient).action == "fallback"
    # A clear answer at the out-of-scope bar (0.6 + 0.1) wins: "do you have a phone number i can ring"
    assert decide(handoff, hits(0.75, 0.3), person, lenient).faq_id == "faq-0"
    assert decide(handoff, hits(0.65, 0.3), person, lenient).action == "handler"
    # A word or two is read poorly by the model: "returns" as goodbye is no goodbye
    short = decide(IntentGuess("goodbye", 0.5, False), hits(0.65, 0.64), Route("handler", "goodbye"), lenient,
                   short=True)
    assert short.action == "clarify"
    # only a handler that acts: "tell me a joke pls" read out of scope as a complaint is no complaint
    joke = decide(IntentGuess("complaint", 0.6, False), hits(0.2), Route("handler", "complaint"), lenient, acts=False)
    assert joke.action == "fallback"
    assert decide(IntentGuess("complaint", 0.6, False), hits(0.2), Route("handler", "complaint"), lenient).action == \
        "handler", "(the same reading with a handler that acts)"
    # never easier than an in-scope reading: a handler threshold above it is the bar
    stricter = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5, oos_handler=0.4)
    assert decide(IntentGuess("human_handoff", 0.45, False), hits(0.4), person, stricter).action == "fallback"


def test_straight_after_its_reply_an_out_of_scope_handler_reading_gives_way_to_the_faq() -> None:
    """ "that one says delivered but it's not in the locker" right after the order's status: read
    out of scope as order_status at 0.41, it says what is wrong, which the FAQ answers."""
    lenient = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.4, oos_handler=0.4)
    status, order = IntentGuess("order_status", 0.41, False), Route("handler", "order_status")
    assert decide(status, hits(0.65, 0.3), order, lenient).action == "handler"  # below the out-of-scope bar
    answered = decide(status, hits(0.65, 0.3), order, lenient, again=True)
    assert answered.action == "answer" and answered.faq_id == "faq-0" and "again straight after" in answered.reason
    offered = decide(status, hits(0.65, 0.64, 0.2), order, lenient, again=True)
    assert offered.action == "clarify" and [h.faq_id for h in offered.choices] == ["faq-0", "faq-1"]
    # nothing in the FAQ: the handler runs as before; an in-scope reading is not affected
    assert decide(status, hits(0.3), order, lenient, again=True).action == "handler"
    assert decide(IntentGuess("order_status", 0.9, True), hits(0.65, 0.3), order, lenient, again=True).action == \
        "handler"


def test_intent_routed_to_one_faq() -> None:
    decision = decide(IntentGuess("opening_hours", 0.9, True), hits(0.1), Route("faq", "hours"), T)
    assert decision.action == "answer" and decision.faq_id == "hours"


def test_clear_winner_is_answered() -> None:
    decision = decide(FAQ, hits(0.75, 0.5), SEARCH, T)
    assert decision.action == "answer" and "leads by 0.25" in decision.reason


@pytest.mark.parametrize("scores", [(0.75, 0.73, 0.72, 0.2), (0.55, 0.3)])
def test_close_or_slightly_low_scores_offer_choices(scores: tuple[float, ...]) -> None:
    decision = decide(FAQ, hits(*scores), SEARCH, T)
    assert decision.action == "clarify"
    assert [h.score for h in decision.choices] == [s for s in scores if s >= scores[0] - 0.12][:3]


def test_low_score_falls_back() -> None:
    decision = decide(FAQ, hits(0.3, 0.1), SEARCH, T)
    assert decision.action == "fallback"


def test_out_of_scope_is_not_offered_near_misses() -> None:
    decision = decide(IntentGuess("faq", 0.9, False), hits(0.55, 0.3), SEARCH, T)
    assert decision.action == "fallback" and "out of scope" in decision.reason


def test_out_of_scope_but_strong_faq_match_is_answered() -> None:
    decision = decide(IntentGuess("faq", 0.9, False), hits(0.9, 0.3), SEARCH, T)
    assert decision.action == "answer"


def test_empty_faq_falls_back() -> None:
    assert decide(FAQ, [], SEARCH, T).action == "fallback"


def test_routing_table_is_checked() -> None:
    table = parse_routing({"greeting": {"handler": "greeting"}, "hours": {"faq": "hours"},
                           "faq": {"search": True}}, {"greeting"})
    assert table.route_for("greeting") == Route("handler", "greeting")
    assert table.route_for("unlisted") == SEARCH
    with pytest.raises(RoutingError, match="unknown handler 'nope'"):
        parse_routing({"x": {"handler": "nope"}}, {"greeting"})
    with pytest.raises(RoutingError, match="intent 'x'"):
        parse_routing({"x": {"handler": "greeting", "faq": "y"}}, {"greeting"})


def test_clear_faq_answer_beats_a_hesitant_handler_intent() -> None:
    """ "how long does delivery take?" is a FAQ question even when the model leans to order status."""
    decision = decide(IntentGuess("order_status", 0.73, True), hits(0.8, 0.5), Route("handler", "order_status"), T)
    assert decision.action == "answer" and decision.faq_id == "faq-0"
    assert "0.73 < 0.80" in decision.reason and "order_status" in decision.reason


def test_sure_handler_intent_runs_despite_a_clear_faq_answer() -> None:
    decision = decide(IntentGuess("order_status", 0.92, True), hits(0.8, 0.5), Route("handler", "order_status"), T)
    assert decision.action == "handler" and decision.handler == "order_status"


@pytest.mark.parametrize("scores", [(0.55, 0.2), (0.8, 0.78)])  # below the answer threshold; no clear lead
def test_hesitant_handler_intent_runs_when_the_faq_is_not_clear(scores: tuple[float, ...]) -> None:
    decision = decide(IntentGuess("order_status", 0.6, True), hits(*scores), Route("handler", "order_status"), T)
    assert decision.action == "handler"


def test_only_a_strong_faq_answer_beats_a_confident_handler_intent() -> None:
    """ "ok and where is my order": order_status at 0.65 against a clear but weak resemblance to
    the shipping countries (0.41, threshold 0.33) runs the handler; "how long does delivery take?"
    at 0.61 against 0.78 for the delivery times gets the answer."""
    strict = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5, overrule_extra=0.15)
    order = Route("handler", "order_status")
    weak = decide(IntentGuess("order_status", 0.65, True), hits(0.7, 0.5), order, strict)
    assert weak.action == "handler" and weak.handler == "order_status"
    strong = decide(IntentGuess("order_status", 0.65, True), hits(0.8, 0.5), order, strict)
    assert strong.action == "answer" and strong.faq_id == "faq-0" and "does not run handler" in strong.reason
    assert decide(IntentGuess("order_status", 0.65, True), hits(0.7, 0.5), order, T).action == "answer"


def test_a_request_for_a_person_is_never_answered_by_the_faq_instead() -> None:
    decision = decide(IntentGuess("human_handoff", 0.6, True), hits(0.9, 0.3), Route("handler", "human_handoff"), T)
    assert decision.action == "handler" and decision.handler == "human_handoff"
    assert "never answered from the FAQ" in decision.reason
    word_for_word = decide(IntentGuess("human_handoff", 0.9, True), hits(1.0, 0.3), Route("handler", "human_handoff"), T)
    assert word_for_word.action == "handler" and word_for_word.handler == "human_handoff"


def test_an_entrys_own_phrasing_is_answered_even_when_a_handler_intent_is_sure() -> None:
    """ "How long does delivery take?", the delivery-times entry's question word for word (1.00),
    read as order_status at 0.71 against its route's sure 0.7: the customer gets the answer staff
    wrote for those words. A near match below ``faq_sure`` still leaves a sure handler to run, and
    the reason says why."""
    order, intent = Route("handler", "order_status", sure=0.7), IntentGuess("order_status", 0.71, True)
    own = decide(intent, hits(1.0, 0.38), order, T)
    assert own.action == "answer" and own.faq_id == "faq-0" and not own.by_intent
    assert "own phrasing (1.00 >= 0.95)" in own.reason and "does not run handler order_status" in own.reason
    near = decide(intent, hits(0.9, 0.38), order, T)
    assert near.action == "handler" and near.handler == "order_status"
    assert "it is sure (0.71 >= 0.70), so the top FAQ score 0.90 (< 0.95) does not answer" in near.reason
    never = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5, faq_sure=1.01)
    assert decide(intent, hits(1.0, 0.38), order, never).action == "handler"


def test_a_weak_clear_answer_names_the_score_a_handler_needs_to_lose() -> None:
    strict = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5, overrule_extra=0.15)
    decision = decide(IntentGuess("order_status", 0.65, True), hits(0.7, 0.5), Route("handler", "order_status"), strict)
    assert decision.action == "handler" and "the top FAQ score 0.70 < 0.75 does not overrule a handler" in decision.reason


@pytest.mark.parametrize("intent", [IntentGuess("faq", 0.9, False), IntentGuess("goodbye", 0.45, True)])
def test_close_scores_are_not_offered_to_out_of_scope_or_unsure_small_talk(intent: IntentGuess) -> None:
    """ "what's the weather in Paris?" or "qwzx": an honest fallback, not unrelated choices, even
    when the top entries are close (here both above the answer threshold)."""
    route = SEARCH if intent.label == "faq" else Route("handler", intent.label)
    decision = decide(intent, hits(0.62, 0.61), route, T)
    assert decision.action == "fallback"
    # the reason staff see says why, and claims no comparison that is false
    near = decide(intent, hits(0.55, 0.3), route, T)
    reading = "says out of scope" if not intent.in_scope else "reads goodbye (0.45)"
    assert near.action == "fallback" and near.reason == (
        f"top FAQ score 0.55 is below 0.60, and no choices are offered: the intent model {reading}"
        + ("" if not intent.in_scope else ", not a question for the FAQ"))
    assert "too close to the next entry" in decision.reason
    assert decide(intent, hits(0.3, 0.1), route, T).reason.startswith("top FAQ score 0.30 < 0.48")


def test_a_route_can_say_how_sure_its_intent_must_be_to_beat_a_clear_answer() -> None:
    """ "thanks, bye" at 0.6 goodbye with a weak but clear FAQ hit: small talk may win sooner."""
    goodbye = IntentGuess("goodbye", 0.6, True)
    assert decide(goodbye, hits(0.7, 0.2), Route("handler", "goodbye"), T).action == "answer"
    decision = decide(goodbye, hits(0.7, 0.2), Route("handler", "goodbye", sure=0.55), T)
    assert decision.action == "handler" and decision.by_intent
    table = parse_routing({"goodbye": {"handler": "goodbye", "sure": 0.55}}, {"goodbye"})
    assert table.route_for("goodbye") == Route("handler", "goodbye", 0.55)
    for bad in ({"handler": "goodbye", "sure": 2}, {"handler": "goodbye", "sure": "high"},
                {"faq": "hours", "sure": 0.5}, {"handler": "goodbye", "sure": True}):
        with pytest.raises(RoutingError, match="intent 'goodbye'"):
            parse_routing({"goodbye": bad}, {"goodbye"})


def test_an_out_of_scope_reading_needs_a_clearer_answer() -> None:
    """ "what's the capital of Australia?" resembling "Which countries do you ship to?" a little."""
    outside = IntentGuess("faq", 0.9, False)
    weak = decide(outside, hits(0.65, 0.3), SEARCH, T)  # clear for an in-scope question (0.6, lead 0.35)
    assert weak.action == "fallback" and "out of scope" in weak.reason
    assert decide(outside, hits(0.75, 0.3), SEARCH, T).action == "answer", "0.75 >= 0.6 + oos_extra 0.1"
    assert decide(FAQ, hits(0.65, 0.3), SEARCH, T).action == "answer"


def test_a_message_of_a_word_or_two_is_offered_choices_from_further_below() -> None:
    """ "discount", "my account": vague by nature, so the nearest entries are offered."""
    assert decide(FAQ, hits(0.4, 0.38), SEARCH, T).action == "fallback"  # below 0.6 - 0.12
    short = decide(FAQ, hits(0.4, 0.38), SEARCH, T, short=True)
    assert short.action == "clarify" and len(short.choices) == 2  # from 0.6 - 0.25 = 0.35
    assert decide(IntentGuess("faq", 0.9, False), hits(0.4, 0.38), SEARCH, T, short=True).action == "fallback"


def test_a_word_or_two_matched_as_well_as_a_question_is_offered_choices_whatever_the_intent_reading() -> None:
    """ "gift" read as out of scope, "my account" as a greeting at 0.37, "payment??" as out of
    scope with one entry ahead on a word's resemblance: choices, neither a fallback nor an answer."""
    outside, unsure_greeting = IntentGuess("faq", 0.9, False), IntentGuess("greeting", 0.37, True)
    greeting = Route("handler", "greeting")
    tie = decide(outside, hits(0.65, 0.64, 0.3), SEARCH, T, short=True)
    assert tie.action == "clarify" and [h.faq_id for h in tie.choices] == ["faq-0", "faq-1"]
    assert decide(unsure_greeting, hits(0.65, 0.64), greeting, T, short=True).action == "clarify"
    ahead = decide(outside, hits(0.8, 0.7), SEARCH, T, short=True)  # 0.1 apart: within the window
    assert ahead.action == "clarify" and len(ahead.choices) == 2
    # One entry far ahead is judged as before: answered when clear enough for the reading, ...
    assert decide(outside, hits(0.95, 0.3), SEARCH, T, short=True).action == "answer"
    assert decide(unsure_greeting, hits(0.9, 0.2), greeting, T, short=True).action == "answer"
    # ... and a possible request for a person falls back (offering one), FAQ ties or not.
    assert decide(IntentGuess("human_handoff", 0.4, True), hits(0.65, 0.64), Route("handler", "human_handoff"), T,
                  short=True).action == "fallback"
    # A whole question is still judged by the intent model's reading, ...
    assert decide(outside, hits(0.65, 0.64), SEARCH, T).action == "fallback"
    assert decide(outside, hits(0.8, 0.7), SEARCH, T).action == "answer"
    # ... a word matched worse than an answerable question still falls back ("cya", "obrigado"), ...
    assert decide(outside, hits(0.55, 0.2), SEARCH, T, short=True).action == "fallback"
    # ... and a confident reading of a word still decides ("bye", "refund" routed to its entry).
    assert decide(IntentGuess("goodbye", 0.95, True), hits(0.65, 0.64), Route("handler", "goodbye"), T,
                  short=True).action == "handler"
    assert decide(FAQ, hits(0.8, 0.5), SEARCH, T, short=True).action == "answer"


def worded(*pairs: tuple[float, float]) -> list[Hit]:
    """Hits with (cosine, share of the message's words) each."""
    return [Hit(f"faq-{i}", score, f"question {i}", words) for i, (score, words) in enumerate(pairs)]


TIES = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5, tie_lead=0.02)


def test_a_near_tie_goes_to_the_entry_that_shares_more_of_the_message_words() -> None:
    decision = decide(FAQ, worded((0.70, 0.05), (0.68, 0.11), (0.40, 0.60)), SEARCH, TIES)
    assert decision.action == "answer" and decision.faq_id == "faq-1" and decision.by_wording
    assert "too close to tell apart by meaning" in decision.reason and "faq-1 shares more" in decision.reason
    # The third entry is no part of the tie (0.30 behind): its words do not count.


@pytest.mark.parametrize("pairs", [
    ((0.70, 0.10), (0.68, 0.11)),  # the words lead by less than tie_lead
    ((0.70, 0.10), (0.68, 0.10)),  # no lead at all
    ((0.55, 0.0), (0.54, 0.3)),  # below the answer threshold: choices, whatever the words
    ((0.62, 0.0), (0.58, 0.3)),  # the entry the words favour is itself below the answer threshold
])
def test_a_near_tie_the_words_do_not_settle_offers_choices(pairs: tuple[tuple[float, float], ...]) -> None:
    assert decide(FAQ, worded(*pairs), SEARCH, TIES).action == "clarify"


def test_words_break_no_tie_in_a_message_of_a_word_or_two_or_for_a_reading_that_offers_no_choices() -> None:
    tie = worded((0.70, 0.0), (0.68, 0.5))
    assert decide(FAQ, tie, SEARCH, TIES, short=True).action == "clarify"  # vague by nature
    assert decide(IntentGuess("faq", 0.9, False), tie, SEARCH, TIES).action == "fallback"  # out of scope
    assert decide(FAQ, [Hit(h.faq_id, h.score, h.matched) for h in tie], SEARCH, TIES).action == "clarify"  # unscored
    never = Thresholds(answer=0.6, margin=0.05, clarify_window=0.12, handler=0.5)  # the default: above 1
    assert decide(FAQ, tie, SEARCH, never).action == "clarify"


def test_a_clear_answer_keeps_its_entry_whatever_the_words() -> None:
    decision = decide(FAQ, worded((0.80, 0.0), (0.60, 0.9)), SEARCH, TIES)
    assert decision.faq_id == "faq-0" and not decision.by_wording


def test_a_phrase_reading_runs_its_handler_and_says_why() -> None:
    decision = decide(IntentGuess("thanks", 1.0, True, phrase=True), hits(0.2), Route("handler", "thanks"), T)
    assert decision.action == "handler" and decision.handler == "thanks"
    assert decision.reason == "the message is one of intent thanks's phrases runs handler thanks"
