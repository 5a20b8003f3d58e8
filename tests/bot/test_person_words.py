"""A request for a person in so many words, whatever the intent model reads."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.actions import Action
from bot.core.person_words import asks_for_person
from bot.keys import RESPONDER
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel


@pytest.mark.parametrize("text", [
    "I'd like to speak to someone about my refund", "can a member of staff call me back",
    "can I talk to a real person about a damaged item please", "put me through to customer service",
    "let me speak to your supervisor", "i would like to chat to a staff member regarding an exchange",
    "Transfer me to an agent.", "could someone please call me", "I need to talk with somebody from your team",
    "ok thanks but I’d rather speak to a human", "my order has not arrived I want to talk to someone",
    "Not happy I want to speak to a manager", "I dont understand this let me talk to a human",
    "why won't you let me speak to a human", "could you call me"])
def test_requests_for_a_person(text: str) -> None:
    assert asks_for_person(text)


@pytest.mark.parametrize("text", [
    "no i dont want a person, just tell me if i can send back a blender", "I don't need to talk to anyone",
    "i do not want to speak to a human, just answer", "the person I spoke to said I'd get a refund",
    "how do I get my money back", "can you tell me the delivery times", "my call with support was cut off",
    "is this a real person?", "talking to you is pointless", "what is the support email",
    "will someone call me before delivery?", "will you call me when it ships", "I don't really want to talk to anyone",
    "I tried to talk to support yesterday and they said 5 days"])
def test_not_requests_for_a_person(text: str) -> None:
    assert not asks_for_person(text)


def test_a_request_looks_back_a_bounded_stretch_for_a_negation() -> None:
    """Each request looked back to the message's start, so a message at the size limit with many
    requests in it took seconds on the event loop; a negation is only read just before a request."""
    from bot.core.person_words import LOOK_BACK
    assert not asks_for_person("i dont want to talk to someone")
    assert asks_for_person("i dont " + "x" * LOOK_BACK + " want to talk to someone")


async def test_a_request_that_names_its_topic_is_handed_to_a_person(tmp_path: Path, aiohttp_client) -> None:
    """ "I'd like to speak to someone about my refund" got the refund-timing answer (every demo
    bundle read it as the refund question)."""
    client: TestClient = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))
    responder = client.server.app[RESPONDER]
    text = "I'd like to speak to someone about my refund"
    reply = await responder.respond("web:someone", "web", text)
    assert reply.action == Action.HANDOFF and "in so many words" in reply.reason
    # the review queue offers human_handoff as its intent, and the inbox the message's own FAQ matches
    whole = await responder.inference.submit(text)
    assert reply.intent == "human_handoff" and [h.faq_id for h in reply.hits] == [h.faq_id for h in whole.hits]
    answered = await responder.respond("web:no-one", "web", "I don't need to talk to anyone, how long does delivery take?")
    assert answered.action == Action.ANSWER and answered.faq_id == "shipping-times"
