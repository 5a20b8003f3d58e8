"""The conversation core's rules, one at a time: the fallback streak and when it calls in a
person, what a reply changes in a conversation (and that composing one changes nothing), and
``explain`` handing back the policy's decision."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.actions import Action
from bot.core.handlers import FALLBACK_TEXT
from bot.core.phrases import DEFAULT_PHRASES, load_phrases, parse_phrases
from bot.core.replies import STILL_FALLBACK_TEXT, Basis, Button, Reply, compose, fallback
from bot.core.responder import MAX_SENTENCES, Responder
from bot.core.sessions import Context, Pending, dump, load, remember
from bot.core.streak import ESCALATE_AFTER, Streak
from bot.core.text import sentences
from bot.keys import CONVERSATIONS, KEEPER, RESPONDER
from knowledge.conversations.dialogue import Stored
from knowledge.conversations.log import ACTIONS
from tests.bot.service import demo_settings
from tests.bot.test_chat_api import say
from tests.fakes import KeywordModel

UNANSWERABLE = "what's the weather like in Lisbon tomorrow"


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))


def responder_of(client: TestClient) -> Responder:
    return client.server.app[RESPONDER]


def test_actions_are_the_strings_the_turn_log_stores() -> None:
    assert {a.value for a in Action} == set(ACTIONS)
    assert Action.FALLBACK == "fallback" and f"{Action.HANDOFF}" == "handoff"


NEW = Streak()  # a conversation the bot has not failed yet


def run(*actions: Action, start: Streak = NEW) -> Streak:
    streak = start
    for action in actions:
        streak = streak.after(action, escalated=action == Action.FALLBACK and streak.escalates)
    return streak


def test_fallbacks_in_a_row_escalate_on_the_third_and_start_again() -> None:
    assert ESCALATE_AFTER == 3
    assert [run(*[Action.FALLBACK] * n).escalates for n in range(4)] == [False, False, True, False]
    assert run(Action.FALLBACK, Action.FALLBACK, Action.FALLBACK) == Streak(0, True), "a fourth says 'still'"


@pytest.mark.parametrize("between", [Action.CLARIFY, Action.REJECTED])
def test_a_clarification_or_refusal_ends_the_run_but_not_the_still(between: Action) -> None:
    streak = run(Action.FALLBACK, Action.FALLBACK, between)
    assert streak == Streak(0, True)
    assert not run(Action.FALLBACK, start=streak).escalates


@pytest.mark.parametrize("helped", [Action.ANSWER, Action.HANDLER])
def test_an_answer_or_a_handler_starts_everything_again(helped: Action) -> None:
    assert run(Action.FALLBACK, Action.FALLBACK, helped) == Streak()


def test_a_handoff_starts_the_count_again_for_when_the_bot_has_the_conversation_back() -> None:
    assert run(Action.FALLBACK, Action.FALLBACK, Action.HANDOFF) == Streak()


def test_remember_applies_what_a_reply_changes() -> None:
    context = Context(handler="order_status", handler_state={"asked": "1"})
    clarify = Reply("Did you mean?", Action.CLARIFY, (Button("Returns", "faq:returns"), Button("None", "none")))
    remember(context, clarify, text="return")
    assert context.choices == ("returns",) and context.handler == "order_status", "FAQ replies leave a question"
    assert context.clarified == "return", "the message the choices answer"
    remember(context, Reply("", Action.REJECTED), text="x" * 5000)
    assert context.choices == ("returns",) and context.clarified == "return", \
        "a refused message changes nothing but the streak"
    remember(context, clarify, text="return")
    related = (Button("When will I get my refund?", "faq:refund-timing"),)  # "People also ask", not choices
    remember(context, Reply("3-5 days", Action.ANSWER, related, faq_id="shipping-times"),
             text="how long does delivery take")
    assert context.last_faq == "shipping-times" and context.clarified == ""
    remember(context, Reply("3-5 days", Action.ANSWER, faq_id="shipping-times"), text="how long does delivery take")
    assert context.choices == () and context.clarified == ""
    remember(context, Reply("Which order?", Action.HANDLER), Pending("order_status", {"asked": "2"}))
    assert context.handler == "order_status" and context.handler_state == {"asked": "2"}
    remember(context, Reply("Shipped.", Action.HANDLER, handler="order_status"))
    assert context.handler is None and context.handler_state == {}
    assert context.last_handler == "order_status", "which handler wrote the last reply"
    assert load(Stored(dump(context), 7)).last_handler == "order_status"
    remember(context, Reply("3-5 days", Action.ANSWER, faq_id="shipping-times"))
    assert context.last_handler is None and load(Stored(dump(context), 8)).last_handler is None
    stored_before = json.loads(dump(context))
    del stored_before["last_handler"]  # a memory stored before it was kept
    assert load(Stored(json.dumps(stored_before), 9)).last_handler is None


async def test_composing_a_reply_changes_no_session(client: TestClient) -> None:
    responder = responder_of(client)
    for _ in range(2):
        await responder.respond("web:composing", "web", UNANSWERABLE)
    context = await responder.sessions.read("web:composing")
    before = copy.deepcopy(context)
    explanation = await responder.explain(UNANSWERABLE)
    assert explanation.decision is not None
    reply = compose(client.server.app[KEEPER].current, explanation.decision, Basis("test"), context.streak)
    assert context == before
    assert reply.text == STILL_FALLBACK_TEXT and reply.escalate, "composing read the streak it was given"
    assert explanation.reply.text == FALLBACK_TEXT and not explanation.reply.escalate, "explain: a new conversation"


async def test_explain_returns_the_decision_and_the_reply_it_would_give(client: TestClient) -> None:
    responder = responder_of(client)
    greeting = await responder.explain("hello there")
    assert greeting.decision is not None and greeting.decision.action == Action.HANDLER
    assert greeting.decision.handler == "greeting" and greeting.reply.action == Action.HANDLER
    answer = await responder.explain("How long does delivery take?")
    assert answer.decision is not None and answer.decision.faq_id == answer.reply.faq_id == "shipping-times"
    assert answer.decision.reason == answer.reply.reason
    empty = await responder.explain("   ")
    assert empty.decision is None and empty.reply.action == Action.REJECTED


async def test_explain_gives_the_reply_a_new_conversation_gets_whichever_rule_decides(client: TestClient) -> None:
    """Try it and the inbox's suggestions read a message as a customer's first message is read:
    a greeting that goes on, a named order, another company and a request for a person included."""
    responder = responder_of(client)
    messages = ("Hello! where is my order?", "sorry, I meant NW-100003", "how do i reset my netflix password",
                "hello there", "How long does delivery take?", "I want a person about NW-100002", UNANSWERABLE)
    for number, text in enumerate(messages):
        explained = await responder.explain(text)
        said = await responder.respond(f"web:explained-{number}", "web", text)
        assert explained.decision is not None, text
        assert (explained.reply.action, explained.reply.handler, explained.reply.faq_id) == \
            (said.action, said.handler, said.faq_id), text
        assert explained.decision.handler == said.handler and explained.decision.faq_id == said.faq_id, text
        assert explained.reply.hits and explained.intent is not None, f"{text}: the reading is shown"
    named = await responder.explain("sorry, I meant NW-100003")
    assert named.decision is not None and "names what handler order_status looks after" in named.decision.reason
    assert "delivered" in named.reply.text


async def test_a_message_that_would_fall_back_is_read_sentence_by_sentence(client: TestClient) -> None:
    """A long message read whole as out of scope may ask an answerable question in one sentence."""
    responder = responder_of(client)
    story = f"{UNANSWERABLE}? no idea, my sister asked. How long does delivery take?"
    whole = responder._decide(await responder.inference.submit(story), story)
    assert whole.action == Action.FALLBACK, "the test needs a message that falls back when read whole"
    answered = await responder.respond("web:sentences-1", "web", story)
    assert answered.action == Action.ANSWER and answered.faq_id == "shipping-times"
    assert "in the sentence 'How long does delivery take?'" in answered.reason and answered.in_scope
    # an emoji between them ends a sentence as a full stop does
    emoji = f"{UNANSWERABLE} 🤦\u200d♀️ how long does delivery take"
    assert (await responder.respond("web:sentences-emoji", "web", emoji)).faq_id == "shipping-times"
    explained = await responder.explain(story)
    assert explained.reply.faq_id == "shipping-times" and explained.decision is not None
    assert "the whole message would fall back" in explained.decision.reason
    # every sentence out of scope, or a message of one sentence: the fallback stands
    for number, text in enumerate((f"{UNANSWERABLE}. Who won the football last night?", UNANSWERABLE)):
        reply = await responder.respond(f"web:sentences-{2 + number}", "web", text)
        assert reply.action == Action.FALLBACK and "in the sentence" not in reply.reason, text


async def test_a_sentence_that_asks_for_a_person_reaches_one_whatever_the_whole_message_reads(
        client: TestClient) -> None:
    responder = responder_of(client)
    text = "Thank you for the answer about delivery. Now I want a person."
    whole = responder._decide(await responder.inference.submit(text), text)
    assert whole.handler == "thanks", "the test needs a message read whole as something else"
    reply = await responder.respond("web:sentences-person", "web", text)
    assert reply.action == Action.HANDOFF and reply.handler == "human_handoff"
    explained = await responder.explain(text)
    assert explained.decision is not None and "in the sentence 'Now I want a person.'" in explained.decision.reason
    assert "would go to handler thanks" in explained.decision.reason
    for number, text in enumerate(("Did the refund for the vase arrive? No. operator.", "Not again. No. operator.")):
        assert (await responder.respond(f"web:sentences-no-{number}", "web", text)).handler == "human_handoff", text
    short = "Thanks for nothing. operator. now."  # a sentence of a word, but one of the phrases for a person
    assert responder._decide(await responder.inference.submit(short), short).handler == "thanks"
    assert (await responder.respond("web:sentences-short", "web", short)).handler == "human_handoff"
    # only a request for a person overrules what the whole message reads
    answered = await responder.respond("web:sentences-own", "web", "Thank you. How long does delivery take?")
    assert answered.handler == "thanks", "an answerable sentence does not overrule a reading that decided"


@pytest.fixture()
async def worded(tmp_path: Path, aiohttp_client) -> TestClient:
    """The demo with two more phrases, so that one sentence of a message is read as a complaint
    or a request for a person while the whole message is not."""
    listed = {intent: list(said) for intent, said in load_phrases(DEFAULT_PHRASES).listed.items()}
    listed.setdefault("complaint", []).append("This is unacceptable and outrageous")
    listed.setdefault("human_handoff", []).append("Get me someone from your team")  # no words of person_words
    return await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                           phrases=parse_phrases(listed)))


async def test_a_person_asked_for_in_one_sentence_is_reviewed_by_what_the_whole_message_is_about(
        worded: TestClient) -> None:
    """The inbox suggests entries for the refund, not for "Get me someone from your team"."""
    responder = responder_of(worded)
    text = "The refund for my returned blender never came through. It has been three weeks. Get me someone from your team."
    whole = await responder.inference.submit(text)
    assert responder._decide(whole, text).handler != "human_handoff", "the test needs a message read otherwise whole"
    explained = await responder.explain(text)
    assert explained.decision is not None and explained.decision.handler == "human_handoff"
    assert "in the sentence 'Get me someone from your team.'" in explained.decision.reason
    assert [hit.faq_id for hit in explained.reply.hits] == [hit.faq_id for hit in whole.hits]
    assert explained.reply.hits[0].faq_id == "refund-timing"
    # ... but labelled by what decided: the review queue offers human_handoff as its intent
    assert explained.intent is not None and explained.intent.label == "human_handoff"
    stored = await responder.respond("web:person-sentence", "web", text)
    assert stored.intent == "human_handoff" and stored.hits[0].faq_id == "refund-timing"


async def test_a_sentence_answers_nothing_while_a_handler_waits_for_its_answer(client: TestClient) -> None:
    responder = responder_of(client)
    text = "I tried the website yesterday and the day before, it was slow and weird and broken and odd. " \
        "How long does delivery take?"
    alone = await responder.respond("web:waiting-1", "web", text)
    assert alone.faq_id == "shipping-times" and "in the sentence" in alone.reason, "the test needs a sentence answer"
    assert (await responder.respond("web:waiting-2", "web", "where is my order")).handler == "order_status"
    waited = await responder.respond("web:waiting-2", "web", text)
    assert waited.handler == "order_status" and waited.action == Action.HANDLER, waited.reason


async def test_a_complaint_in_one_sentence_does_not_outrank_the_order_the_message_names(worded: TestClient) -> None:
    responder = responder_of(worded)
    assert (await responder.respond("web:complaint-1", "web", "This is unacceptable and outrageous!")).handler == "complaint"
    text = "This is unacceptable and outrageous. The kettle (NW-100002) is missing a lid."
    whole = responder._decide(await responder.inference.submit(text), text)
    assert whole.handler != "order_status", "the test needs a message whose whole reading is not the order's"
    reply = await responder.respond("web:complaint-2", "web", text)
    assert reply.handler == "order_status" and "NW-100002" in reply.text, reply.reason


async def test_a_greeting_that_goes_on_in_sentences_is_answered_by_them(client: TestClient) -> None:
    responder = responder_of(client)
    reply = await responder.respond("web:greeted", "web", "hello there! hi again friend! How long does delivery take?")
    assert reply.action == Action.ANSWER and reply.faq_id == "shipping-times", reply.reason
    assert "the whole message would go to handler greeting" in reply.reason


async def test_an_answer_found_in_one_sentence_is_queued_for_review_as_possibly_wrong(client: TestClient) -> None:
    responder = responder_of(client)
    text = "I tried the website yesterday and the day before, it was slow and weird and broken and odd. " \
        "How long does delivery take?"
    by_sentence = await responder.respond("web:doubtful", "web", text)
    whole = await responder.respond("web:doubtful", "web", "How long does delivery take?")
    assert "in the sentence" in by_sentence.reason and "in the sentence" not in whole.reason
    reviews = {turn.id: turn.review for turn in client.server.app[CONVERSATIONS].turns("web:doubtful")}
    assert reviews[by_sentence.turn_id] == "possibly_wrong"


async def test_a_long_message_is_read_by_its_first_and_last_sentences_only(tmp_path: Path, aiohttp_client) -> None:
    model = KeywordModel()
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: model))
    responder = responder_of(client)
    story = " ".join(f"On day {n} nothing at all happened here." for n in range(40))
    text = f"{UNANSWERABLE}. {story} How long does delivery take?"
    model.calls.clear()
    reply = await responder.respond("web:long", "web", text)
    assert reply.faq_id == "shipping-times", "the last sentence is read"
    assert sum(model.calls) == 1 + MAX_SENTENCES, model.calls


async def test_only_a_handler_that_acts_runs_from_an_out_of_scope_reading(client: TestClient) -> None:
    """A goodbye read as out of scope is out of scope; a request for a person or an order still
    runs, and so does a greeting or a thanks, whose reply helps even when the reading is wrong."""
    responder = responder_of(client)
    joke = await responder.respond("web:oos-small-talk", "web", "bye then, first tell me a joke about cats")
    assert joke.action == Action.FALLBACK and joke.intent == "goodbye" and joke.in_scope is False, joke.reason
    thanks = await responder.respond("web:oos-thanks", "web", "thanks, no more joke answers please")
    assert thanks.handler == "thanks" and "out of scope" in thanks.reason, thanks.reason
    person = await responder.respond("web:oos-person", "web", "get me a person, no more joke answers please")
    assert person.action == Action.HANDOFF and "out of scope" in person.reason, person.reason


async def test_straight_after_an_orders_status_what_is_wrong_with_it_is_answered(client: TestClient) -> None:
    """Read out of scope as order_status again, a message right after the status says what is wrong
    with it: the FAQ answers that (policy rule 2, ``again``), not the status a second time."""
    responder = responder_of(client)
    text = "order status says delivered, my parcel is lost, what can I do, no joke"
    alone = await responder.respond("web:again-1", "web", text)
    assert alone.handler == "order_status" and "out of scope" in alone.reason, alone.reason
    await responder.respond("web:again-2", "web", "where is my order NW-100001")
    after = await responder.respond("web:again-2", "web", text)
    assert after.action == Action.ANSWER and after.faq_id == "lost-parcel", after.reason
    assert "does not run handler order_status again" in after.reason
    # while the handler waits for its answer ("What's your order number?"), the message is for it
    await responder.respond("web:again-3", "web", "where is my order")
    waited = await responder.respond("web:again-3", "web", text)
    assert waited.handler == "order_status" and "asked a question" in waited.reason, waited.reason


async def test_a_message_that_asks_nothing_and_closes_with_thanks_is_thanked(client: TestClient) -> None:
    """Nothing the FAQ answers, no question, and the last words are thanks: "You're welcome"."""
    responder = responder_of(client)
    told = "the weather in Lisbon was lovely"
    closing = await responder.respond("web:closing-1", "web", f"{told}, thx!!")
    assert closing.handler == "thanks" and "closes with thanks" in closing.reason, closing.reason
    # a question, thanks in the middle, or an FAQ answer: read as before
    for number, text in enumerate((f"{told}, was it? thx", f"{told}, thx, it was sunny",
                                   "How long does delivery take, thx")):
        reply = await responder.respond(f"web:closing-{2 + number}", "web", text)
        assert reply.handler != "thanks", (text, reply.reason)


class ReadsCommasOutOfScope(KeywordModel):
    """Reads a message with a comma in it as out of scope, as the demo's models read a long
    message ("ok thats all i needed, have a nice day": goodbye 0.38, out of scope), and its
    clauses as ``KeywordModel`` does."""

    def infer(self, texts: list[str]):  # type: ignore[no-untyped-def]
        inference = super().infer(texts)
        for row, text in enumerate(texts):
            if "," in text:
                inference.intents.in_scope[row] = False
        return inference


async def test_a_message_that_asks_nothing_and_closes_with_a_goodbye_is_said_goodbye(tmp_path: Path,
                                                                                   aiohttp_client) -> None:
    """Last words the intent model reads alone as a goodbye close the conversation as a goodbye
    does; a message that resembles an FAQ entry tells a problem, whatever its last words."""
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: ReadsCommasOutOfScope()))
    responder = responder_of(client)
    closing = await responder.respond("web:bye-1", "web", "ok that is all i needed, goodbye now")
    assert closing.handler == "goodbye" and "closes with goodbye" in closing.reason, closing.reason
    problem = "my item arrived damaged, goodbye now"  # read out of scope: the FAQ answer falls short of its bar
    assert (await responder.explain(problem)).reply.hits[0].score >= 0.6, "resembles the damaged-item entry"
    long_goodbye = "ok that is all i needed, well goodbye to you all then"  # last words too many to read alone
    for number, text in enumerate(("ok that is all i needed, goodbye now?", problem, long_goodbye)):
        reply = await responder.respond(f"web:bye-{2 + number}", "web", text)
        assert reply.handler != "goodbye", (text, reply.reason)
    # while the order handler waits for its number, the message is for it
    assert (await responder.respond("web:bye-wait", "web", "where is my order")).handler == "order_status"
    waited = await responder.respond("web:bye-wait", "web", "ok that is all i needed, goodbye now")
    assert waited.handler == "order_status" and "asked a question" in waited.reason, waited.reason


async def test_a_no_to_a_person_that_goes_on_is_answered_for_what_follows(tmp_path: Path, aiohttp_client) -> None:
    """Offered a person, "no, just tell me how long delivery takes": the "no" answers the offer,
    the rest is the question. Without the offer, the "no" answers nothing and the message is read
    whole."""
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: ReadsCommasOutOfScope()))
    responder = responder_of(client)
    text = "no, just tell me how long delivery takes"
    assert (await responder.explain(text)).reply.action == Action.FALLBACK, "read whole, out of scope"
    offered = await responder.respond("web:no-1", "web", UNANSWERABLE)
    assert offered.action == Action.FALLBACK and "human" in [button.payload for button in offered.buttons]
    declined = await responder.respond("web:no-1", "web", text)
    assert declined.action == Action.ANSWER and declined.faq_id == "shipping-times", declined.reason
    assert "follows the 'no'" in declined.reason
    await responder.respond("web:no-2", "web", "How do I return an item?")  # an answer offers nobody
    assert (await responder.respond("web:no-2", "web", text)).action == Action.FALLBACK


def test_sentences_are_split_where_they_end_and_the_ones_that_say_nothing_left_out() -> None:
    assert sentences("hola! do you ship a España? quiero comprar unas sartenes. ok") == \
        ["do you ship a España?", "quiero comprar unas sartenes."]
    assert sentences("is 12.5 cm the size of the pan?") == []  # one sentence: nothing to read apart
    assert sentences("Hi! Thanks. Bye now.") == []  # none says anything by itself
    assert sentences("yes. a human. now.", said=lambda part: part == "a human.") == ["a human."]
    assert sentences("Did it arrive? No. Agent.", said=lambda part: part == "Agent.") == ["Did it arrive?", "Agent."]
    assert sentences("It was order no. 100002 from May. It broke in two.") == \
        ["It was order no. 100002 from May.", "It broke in two."]
    assert sentences("picked the double 🤦\u200d♀️ can i swap it for a king? 👍🏽 thanks") == \
        ["picked the double 🤦\u200d♀️", "can i swap it for a king?"]
    assert sentences("tell me a joke pls 😂") == sentences("thanks 🙏 so much") == []
    assert sentences("where is my order ⭐ it was due on monday") == ["where is my order ⭐", "it was due on monday"]
    assert sentences("do you have the sheet music in C♯ minor for the piano") == []  # a symbol used as text
    assert sentences("✔ order placed ✔ paid ✔ still nothing arrived") == []
    assert sentences("你好!我的订单在哪里?") == ["我的订单在哪里?"]
    assert sentences("谢谢。请问可以货到付款吗") == ["请问可以货到付款吗"]
    assert sentences("I asked Mr. Smith in the shop, e.g. about the vase… he had no idea at all") == \
        ["I asked Mr. Smith in the shop, e.g. about the vase…", "he had no idea at all"]


async def test_the_third_fallback_in_a_row_calls_a_person_in_every_channel(client: TestClient) -> None:
    responder = responder_of(client)
    replies = [await responder.respond("web:escalating", "web", UNANSWERABLE) for _ in range(4)]
    assert [r.action for r in replies] == [Action.FALLBACK, Action.FALLBACK, Action.HANDOFF, Action.RELAYED]
    assert [r.text for r in replies[:2]] == [FALLBACK_TEXT, STILL_FALLBACK_TEXT]
    assert replies[2].handoff and replies[2].handoff_state == "waiting" and not replies[2].buttons
    assert replies[3].handoff_id == replies[2].handoff_id, "the fourth message is for the person"

    over_http = [await say(client, UNANSWERABLE) for _ in range(3)]
    assert all(set(r) == {"reply", "action", "buttons", "intent", "confidence", "faq_id", "faq_score",
                          "turn_id", "feedback", "handler", "handoff", "handoff_state", "bundle_version"} for r in over_http)
    assert [r["action"] for r in over_http] == ["fallback", "fallback", "handoff"]
    assert all({"label": "Talk to a person", "payload": "human", "kind": "choice"} in r["buttons"] for r in over_http[:2])


async def test_a_new_topic_drops_a_pending_question(client: TestClient) -> None:
    responder = responder_of(client)
    session = "web:topic-change"
    asked = await responder.respond(session, "web", "where is my order")
    assert asked.handler == "order_status" and "order number" in asked.text
    other = await responder.respond(session, "web", "How long does delivery take?")
    assert other.action == Action.ANSWER and other.faq_id == "shipping-times"
    again = await responder.respond(session, "web", "where is my order")
    assert again.text == asked.text, "asked afresh, not 'That doesn't look like an order number'"
    known = await responder.respond(session, "web", "NW-100002")
    assert "shipped" in known.text


async def test_yes_after_an_offered_person_hands_over_and_no_does_not() -> None:
    from bot.core.handlers import HandlerTurn, affirm, bot_identity, complaint, deny

    accepted = await affirm(HandlerTurn("yes", "web:x", asked_person=True))
    assert accepted.handoff
    assert not (await affirm(HandlerTurn("ok", "web:x"))).handoff
    for words in ("Got it!", "lol, fair enough", "makes sense"):  # taking an answer in, not accepting the offer
        assert not (await affirm(HandlerTurn(words, "web:x", asked_person=True))).handoff, words
    declined = await deny(HandlerTurn("no", "web:x", asked_person=True))
    assert not declined.handoff and "other words" in declined.text
    context = Context()
    remember(context, fallback(Basis("no hit"), Streak()))
    assert context.offered_person and context.asked_person
    remember(context, Reply("Hello!", Action.HANDLER))
    assert not context.offered_person and not context.asked_person
    # "Are you a bot?" mentions a person beside its answer: the button is there, but "ok fine"
    # acknowledges the answer; a complaint asks, and "yes" takes the person.
    identity, sorry = await bot_identity(HandlerTurn("are you human?", "web:x")), await complaint(HandlerTurn("", ""))
    assert identity.offer_person and not identity.asks_person
    assert sorry.asks_person


def test_a_follow_up_leans_on_the_message_before() -> None:
    from bot.core.responder import follows_up

    for text in ("and what about paypal", "do i have to pay the postage for that", "What about express?",
                 "ok and which currency", "also gift cards?", "ok what about the uk then", "alright, how about klarna"):
        assert follows_up(text), text
    for text in ("How long does delivery take?", "hello", "",
                 "and I would like to know a great many things about your whole returns process please"):
        assert not follows_up(text), text


async def test_a_follow_up_is_read_with_the_question_just_answered(client: TestClient) -> None:
    responder = responder_of(client)
    first = await responder.respond("web:follow-up", "web", "How do I return an item?")
    assert first.faq_id == "how-to-return"
    alone = await responder.explain("and who pays the shipping for it")
    assert alone.reply.action != Action.ANSWER, "on its own it is not clear"
    follow = await responder.respond("web:follow-up", "web", "and who pays the shipping for it")
    assert follow.faq_id == "return-shipping-cost" and "follow-up" in follow.reason
    # One that says nothing of its own does not get the answer just given again: the customer has it.
    await responder.respond("web:repeat", "web", "Which payment methods do you accept?")
    again = await responder.respond("web:repeat", "web", "and what about those")
    assert again.faq_id != "payment-methods" and again.action == (await responder.explain("and what about those")).reply.action


class Resembling(KeywordModel):
    """Reads the given messages as resembling the given FAQ entries alike (the mean of their
    questions' vectors), and everything else as ``KeywordModel`` does."""

    def __init__(self, readings: dict[str, tuple[str, ...]]) -> None:
        super().__init__()
        self.readings = readings
        self.questions: dict[str, str] = {}  # faq id -> question, filled in once the FAQ is loaded

    def infer(self, texts: list[str]):  # type: ignore[no-untyped-def]
        inference = super().infer(texts)
        for row, text in enumerate(texts):
            if text in self.readings:
                vector = self.encoder.encode([self.questions[f] for f in self.readings[text]]).mean(axis=0)
                inference.embeddings[row] = vector / np.linalg.norm(vector)
        return inference


TOASTER = "for the toaster from last week"


async def test_a_part_of_a_sentence_after_a_vague_message_answered_says_which_question_it_meant(
        tmp_path: Path, aiohttp_client) -> None:
    """ "refund??" is answered (refund timing); "for the toaster from last week" resembles the
    returns entries alike, so alone it gets choices. After "refund??" it says which question the
    customer meant: read together, the refund answer. A sentence of its own, a question, or the
    same words after a full question are read alone."""
    model = Resembling({"refund??": ("refund-timing",),
                        TOASTER: ("return-policy", "how-to-return"),
                        "the dog next door is so loud": ("return-policy", "how-to-return"),
                        "can i send back a toaster": ("return-policy", "how-to-return"),
                        f"refund?? {TOASTER}": ("refund-timing",),
                        "refund?? the dog next door is so loud": ("refund-timing",),
                        "refund?? can i send back a toaster": ("refund-timing",),
                        f"When will I get my refund? {TOASTER}": ("refund-timing",),
                        "the toaster one": ("return-policy", "how-to-return"),
                        "refund?? the toaster one": ("refund-timing",),
                        "refund?? the blue one": ("refund-timing",)})
    settings = demo_settings(tmp_path, tie_lead=2.0)  # a near tie stays one (no entry's wording breaks it)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: model))
    responder = responder_of(client)
    model.questions = {faq_id: entry.question for faq_id, entry in client.server.app[KEEPER].current.entries.items()}
    alone = await responder.explain(TOASTER)
    assert alone.reply.action == Action.CLARIFY, alone.reply.reason
    assert (await responder.explain("the blue one")).reply.hits[0].score < 0.6, "resembles no entry"
    for session, first, then, narrowed in (("web:vague", "refund??", TOASTER, True),
                                          ("web:words", "refund??", "the toaster one", True),
                                          ("web:nothing", "refund??", "the blue one", False),
                                          ("web:statement", "refund??", "the dog next door is so loud", False),
                                          ("web:question", "refund??", "can i send back a toaster", False),
                                          ("web:full", "When will I get my refund?", TOASTER, False)):
        assert (await responder.respond(session, "web", first)).faq_id == "refund-timing"
        reply = await responder.respond(session, "web", then)
        if narrowed:
            assert reply.action == Action.ANSWER and reply.faq_id == "refund-timing" and "vague message" in reply.reason
        else:
            assert reply.action == (await responder.explain(then)).reply.action != Action.ANSWER, (first, then)


def test_a_follow_up_may_ask_the_same_question_about_something_else() -> None:
    from bot.core.responder import swaps_subject

    for text in ("ok what about the uk then", "and how about PayPal?", "so what about express", "What about Norway"):
        assert swaps_subject(text), text
    for text in ("and what about those", "what about it?", "and do i pay the postage for that", "how long", ""):
        assert not swaps_subject(text), text


async def test_the_same_question_about_something_else_gets_the_answer_just_given_again(client: TestClient) -> None:
    """ "Which countries do you ship to?" then "ok what about the united kingdom then": alone, the
    second is no question the bot can answer; it asks the first one about the UK, whose answer is
    the one just given."""
    responder = responder_of(client)
    alone = await responder.explain("ok what about the united kingdom then")
    assert alone.reply.action == Action.FALLBACK
    assert (await responder.respond("web:swap", "web", "Which countries do you ship to?")).faq_id == "shipping-countries"
    again = await responder.respond("web:swap", "web", "ok what about the united kingdom then")
    assert again.action == Action.ANSWER and again.faq_id == "shipping-countries" and "follow-up" in again.reason


async def test_asking_the_bot_to_wait_keeps_the_choices_offered(client: TestClient) -> None:
    responder = responder_of(client)
    offered = await responder.respond("web:wait", "web", "return")
    assert offered.action == Action.CLARIFY
    held = await responder.respond("web:wait", "web", "one sec")
    assert held.handler == "hold_on"
    picked = await responder.respond("web:wait", "web", "1")
    assert picked.action == Action.ANSWER and picked.faq_id == offered.choices[0]


async def test_a_follow_up_asks_something_further_than_the_answer_just_given(client: TestClient) -> None:
    """Read together with "How do I return an item?", "and do i have to pay the postage for that"
    matches the returns answer best again; the customer has that, the return postage is new."""
    responder = responder_of(client)
    assert (await responder.respond("web:further", "web", "How do I return an item?")).faq_id == "how-to-return"
    follow = await responder.respond("web:further", "web", "and do i have to pay the postage for that")
    assert follow.faq_id == "return-shipping-cost" and "follow-up" in follow.reason
    # An answer picked by its number is what a follow-up is read with as its entry's question, not "1".
    await responder.respond("web:number", "web", "return")
    picked = await responder.respond("web:number", "web", "1")
    assert picked.action == Action.ANSWER and picked.faq_id
    remembered = (await responder.sessions.read("web:number")).last_answer
    assert remembered is not None and remembered[1] == responder.keeper.current.entries[picked.faq_id].question
    # The same question in other words keeps the same answer.
    await responder.respond("web:again", "web", "How do I return an item?")
    again = await responder.respond("web:again", "web", "and how do i send something back for that")
    assert again.faq_id == "how-to-return"


async def test_a_follow_up_that_points_back_is_answered_as_read_with_the_question_before(client: TestClient) -> None:
    """Alone, "and card not accepted at checkout for that" is about a declined card; after a
    question about discount codes, "that" is the code, an entry it also resembles. Without a
    word pointing back, the message's own answer stands."""
    responder = responder_of(client)
    alone = await responder.explain("and card not accepted at checkout for that")
    assert alone.reply.faq_id == "card-declined"
    assert "discount-code-not-working" in [hit.faq_id for hit in alone.reply.hits[:3]]
    await responder.respond("web:back", "web", "Can I use more than one discount code on an order?")
    follow = await responder.respond("web:back", "web", "and card not accepted at checkout for that")
    assert follow.faq_id == "discount-code-not-working" and "follow-up" in follow.reason
    await responder.respond("web:own", "web", "Can I use more than one discount code on an order?")
    own = await responder.respond("web:own", "web", "and card not accepted at checkout")
    assert own.faq_id == (await responder.explain("and card not accepted at checkout")).reply.faq_id == "card-declined"


async def test_the_message_after_choices_is_read_with_the_vague_one_that_got_them(client: TestClient) -> None:
    """ "return" gets choices; "how long do i have to send it" alone would get others, but with
    "return" it answers one of those offered. A new topic is still read on its own."""
    responder = responder_of(client)
    alone = await responder.explain("how long do i have to send it")
    assert alone.reply.faq_id != "return-policy"
    vague = await responder.respond("web:narrow", "web", "return")
    assert vague.action == Action.CLARIFY and "return-policy" in vague.choices
    narrowed = await responder.respond("web:narrow", "web", "how long do i have to send it")
    assert narrowed.action == Action.ANSWER and narrowed.faq_id == "return-policy" and "follow-up" in narrowed.reason
    await responder.respond("web:new-topic", "web", "return")
    other = await responder.respond("web:new-topic", "web", "which payment methods do you accept")
    assert other.faq_id == "payment-methods" and "follow-up" not in other.reason


async def test_a_returning_customer_is_asked_about_the_order_they_asked_about_before(client: TestClient) -> None:
    responder = responder_of(client)
    session = "web:returning-1"
    first = await responder.respond(session, "web", "where is my order NW-100002")
    assert "shipped" in first.text
    await responder.respond(session, "web", "How long does delivery take?")
    asked = await responder.respond(session, "web", "where is my order")
    assert asked.text.startswith("Is this about order NW-100002 again?")
    assert "shipped" in (await responder.respond(session, "web", "yes")).text
    await responder.respond(session, "web", "where is my order")
    other = await responder.respond(session, "web", "no")
    assert "What's the order number?" in other.text
    assert "delivered" in (await responder.respond(session, "web", "NW-100003")).text
    stranger = await responder.respond("web:first-visit", "web", "where is my order")
    assert stranger.text.startswith("What's your order number?"), "nothing remembered for someone else"


async def test_a_message_that_names_an_order_is_about_that_order(client: TestClient) -> None:
    responder = responder_of(client)
    first = await responder.respond("web:named", "web", "where is my order NW-100001")
    assert "processing" in first.text
    corrected = await responder.respond("web:named", "web", "sorry, I meant NW-100003")
    assert corrected.handler == "order_status" and "delivered" in corrected.text
    person = await responder.respond("web:named-2", "web", "I want a person about NW-100002")
    assert person.action == Action.HANDOFF, "asking for a person is not outranked by a named order"


async def test_a_named_order_answers_the_pending_question_even_when_the_faq_looks_clear(client: TestClient) -> None:
    responder = responder_of(client)
    asked = await responder.respond("web:named-3", "web", "where is my order")
    assert asked.handler == "order_status"
    found = await responder.respond("web:named-3", "web", "How long does delivery take? it's NW-100001")
    assert found.handler == "order_status" and "processing" in found.text
