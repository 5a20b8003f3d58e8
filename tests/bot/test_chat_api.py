from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.bot.service import admin_headers, demo_settings
from tests.fakes import KeywordModel

SESSION = "session-0001"


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    settings = demo_settings(tmp_path)
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


async def say(client: TestClient, text: str | None = None, session: str = SESSION, **extra: object) -> dict:
    body = {"session_id": session, **({"text": text} if text is not None else {}), **extra}
    response = await client.post("/api/chat", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_faq_question_is_answered_and_logged(client: TestClient, tmp_path: Path) -> None:
    reply = await say(client, "How long does delivery take?")
    assert reply["action"] == "answer" and reply["faq_id"] == "shipping-times"
    assert reply["feedback"] is True and reply["turn_id"] >= 1
    assert "3-5 business days" in reply["reply"]
    log = ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))
    (turn,) = log.turns(f"web:{SESSION}")
    assert turn.id == reply["turn_id"] and turn.record.faq_id == "shipping-times"
    assert turn.record.bundle_version == "fake-1" and turn.record.latency_ms > 0


async def test_greeting_runs_the_handler(client: TestClient) -> None:
    reply = await say(client, "hello there")
    assert reply["action"] == "handler" and reply["intent"] == "greeting" and "Hello" in reply["reply"]


async def test_order_status_asks_for_the_number_then_answers(client: TestClient) -> None:
    first = await say(client, "what is my order status")
    assert first["action"] == "handler" and "order number" in first["reply"]
    second = await say(client, "it's NW-100002")
    assert "NW-100002 is shipped" in second["reply"]
    third = await say(client, "NW-999999")
    assert third["action"] != "handler" or "couldn't find" in third["reply"] or "order number" in third["reply"]


async def test_unknown_question_falls_back_and_offers_a_person(client: TestClient) -> None:
    reply = await say(client, "what's the weather like in Lisbon tomorrow")
    assert reply["action"] == "fallback"
    assert {"label": "Talk to a person", "payload": "human", "kind": "choice"} in reply["buttons"]
    handoff = await say(client, choice="human")
    assert handoff["action"] == "handoff" and handoff["handoff"] is True


async def test_clarification_buttons_answer_the_picked_entry(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    reply = await say(client, "refund for my return")
    assert reply["action"] == "clarify"
    faq_buttons = [b for b in reply["buttons"] if b["payload"].startswith("faq:")]
    assert 1 <= len(faq_buttons) <= 3
    picked = await say(client, choice=faq_buttons[0]["payload"])
    assert picked["action"] == "answer" and picked["faq_id"] == faq_buttons[0]["payload"][4:]
    again = await say(client, "refund for my return")
    by_number = await say(client, "2")
    assert by_number["faq_id"] == [b for b in again["buttons"] if b["payload"].startswith("faq:")][1]["payload"][4:]


def turns(tmp_path: Path) -> list:
    return ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}")).turns()


@pytest.mark.parametrize("choice", ["nonsense-payload", "faq:", "faq:../etc", "faq:has space", "HUMAN", "human ",
                                    "p:human", "none-of-these", "faq:" + "x" * 65])
async def test_a_choice_no_button_of_the_bot_carries_is_a_400_and_nothing_is_stored(
        client: TestClient, tmp_path: Path, choice: str) -> None:
    response = await client.post("/api/chat", json={"session_id": SESSION, "choice": choice})
    assert response.status == 400
    assert (await response.json())["error"] == \
        'choice must be the payload of a button the bot offered: "human", "none" or "faq:<FAQ id>"'
    assert turns(tmp_path) == [], "not stored, so not queued for review either"


async def test_text_beside_a_choice_is_not_taken_for_the_customers_words(client: TestClient,
                                                                          tmp_path: Path) -> None:
    """Chat pages loaded before they sent the choice alone send the button's label with it: the
    choice is taken, and the log records the button's label as the bot has it, never the text
    sent beside it."""
    reply = await say(client, "where is my parcel?", choice="human")
    assert reply["action"] == "handoff"
    assert [t.record.text for t in turns(tmp_path)] == ["Talk to a person"]


async def test_a_choice_of_an_entry_removed_since_it_was_offered_gets_a_polite_reply(
        tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    offered = await say(client, "refund for my return")
    payload = next(b["payload"] for b in offered["buttons"] if b["payload"].startswith("faq:"))
    faq_id = payload.removeprefix("faq:")
    removed = await client.delete(f"/admin/faq/{faq_id}", headers=admin_headers())
    assert removed.status == 200, await removed.text()
    question = next(b["label"] for b in offered["buttons"] if b["payload"] == payload)
    old_page = await say(client, question, choice=payload)  # a page that sends the label beside the choice
    assert old_page["action"] == "rejected" and old_page["faq_id"] is None
    picked = await say(client, choice=payload)  # the page still shows the button
    assert picked["action"] == "rejected" and picked["faq_id"] is None
    assert picked["reply"] == ("Sorry, that question is no longer in our help pages. Could you ask it in "
                               "your own words? If you'd rather talk to a person, just say so.")
    stale = turns(tmp_path)[-1]
    assert stale.record.text == payload and stale.review is None, "nothing for staff to review"
    # The choices are still the conversation's: picked by number, the removed one is told so too.
    number = [b["payload"] for b in offered["buttons"]].index(payload) + 1
    by_number = await say(client, str(number))
    assert by_number["action"] == "rejected" and by_number["reply"] == picked["reply"]


async def test_none_of_these_asks_for_more_and_still_offers_a_person(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    offered = await say(client, "refund for my return")
    assert offered["buttons"][-1] == {"label": "None of these", "payload": "none", "kind": "choice"}
    for _ in range(2):  # the second time too: the customer is not told "still" for saying no
        none = await say(client, choice="none")
        assert none["action"] == "fallback"
        assert none["reply"] == ("OK, none of those. Could you tell me a bit more about what you need? "
                                 "Or talk to a person.")
        assert none["buttons"] == [{"label": "Talk to a person", "payload": "human", "kind": "choice"}]
    stored = turns(tmp_path)[-1]
    assert stored.record.text == "None of these" and stored.review == "pending", "queued for review as before"


async def keyed(client: TestClient, key: str, text: str | None = None, **extra: object) -> dict:
    body = {"session_id": SESSION, **({"text": text} if text is not None else {}), **extra}
    response = await client.post("/api/chat", json=body, headers={"Idempotency-Key": key})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_message_sent_again_under_its_key_is_stored_once(client: TestClient, tmp_path: Path) -> None:
    asked = await keyed(client, "m1", "what is my order status")
    assert "order number" in asked["reply"]
    # The reply was lost and the page (or the proxy) sends the message again: the stored turn
    # answers, and the question is still the pending one, not asked or consumed twice.
    replayed = await keyed(client, "m1", "what is my order status")
    assert {**replayed, "handler": "order_status"} == asked  # the handler's name is not in the turn log
    answered = await keyed(client, "m2", "it's NW-100002")
    assert "NW-100002 is shipped" in answered["reply"]
    again = await keyed(client, "m2", "it's NW-100002")
    assert again["turn_id"] == answered["turn_id"] and again["reply"] == answered["reply"]
    log = ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))
    assert [t.record.message_id for t in log.turns(f"web:{SESSION}")] == ["m1", "m2"]
    metrics = await (await client.get("/metrics")).text()
    assert "supportbot_replayed_messages_total 2.0" in metrics
    # Another conversation may use the same key; a message without a key is never matched.
    other = await client.post("/api/chat", json={"session_id": "another-session", "text": "hello"},
                              headers={"Idempotency-Key": "m1"})
    assert (await other.json())["action"] == "handler"
    assert (await say(client, "hello"))["turn_id"] != (await say(client, "hello"))["turn_id"]


async def test_a_clarification_sent_again_offers_the_same_choices(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    first = await keyed(client, "k-1", "refund for my return")
    again = await keyed(client, "k-1", "refund for my return")
    assert first["action"] == again["action"] == "clarify" and again["turn_id"] == first["turn_id"]
    choices = [b for b in first["buttons"] if b["payload"].startswith("faq:")]
    assert [b for b in again["buttons"] if b["payload"].startswith("faq:")] == choices


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "semi;colon", "caf\u00e9"])
async def test_a_bad_idempotency_key_is_400(client: TestClient, key: str) -> None:
    response = await client.post("/api/chat", json={"session_id": SESSION, "text": "hi"},
                                 headers={"Idempotency-Key": key})
    assert response.status == 400 and "Idempotency-Key" in (await response.json())["error"]


async def test_feedback_attaches_to_the_turn(client: TestClient, tmp_path: Path) -> None:
    reply = await say(client, "How long does delivery take?")
    response = await client.post("/api/feedback", json={"session_id": SESSION, "turn_id": reply["turn_id"],
                                                        "value": "down"})
    assert response.status == 200
    again = await client.post("/api/feedback", json={"session_id": SESSION, "turn_id": reply["turn_id"],
                                                     "value": "up"})
    assert again.status == 409
    other = await client.post("/api/feedback", json={"session_id": "someone-else", "turn_id": reply["turn_id"],
                                                     "value": "up"})
    assert other.status == 404
    log = ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))
    (turn,) = log.turns(f"web:{SESSION}")
    assert turn.feedback == -1 and turn.review == "pending"


@pytest.mark.parametrize("text,problem", [("", "didn't catch"), ("   \n\t ", "didn't catch"),
                                          ("x" * 5000, "too long"), ("\x00\x01\x02", "didn't catch")])
async def test_bad_text_gets_a_clear_reply(client: TestClient, text: str, problem: str) -> None:
    reply = await say(client, text)
    assert reply["action"] == "rejected" and problem in reply["reply"]


@pytest.mark.parametrize("body,reason", [
    (b"not json", "not valid JSON"), (b"[1,2]", "JSON object"), (b'{"text": "hi"}', "session_id"),
    (b'{"session_id": "bad id!", "text": "hi"}', "session_id"),
    (b'{"session_id": "session-0001", "text": 42}', "text must be a string"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
])
async def test_bad_requests_are_400_with_a_reason(client: TestClient, body: bytes, reason: str) -> None:
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert reason in (await response.json())["error"]


async def test_oversized_body_is_413(client: TestClient) -> None:
    response = await client.post("/api/chat", data=b"{" + b" " * 200_000 + b"}")
    assert response.status == 413


async def test_rate_limit_replies_politely(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, rate_limit_per_minute=3)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    replies = [await say(client, "hello") for _ in range(4)]
    assert [r["action"] for r in replies] == ["handler", "handler", "handler", "rejected"]
    assert "faster than I can answer" in replies[-1]["reply"]
    assert (await say(client, "hello", session="another-session"))["action"] == "handler"


async def test_page_health_and_metrics(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and "chat.js" in await page.text()
    script = await client.get("/static/chat.js")
    assert script.status == 200 and "textContent" in await script.text()
    health = await (await client.get("/healthz")).json()
    assert health["bundle_version"] == "fake-1" and health["faq_entries"] >= 40
    await say(client, "How long does delivery take?")
    metrics = await (await client.get("/metrics")).text()
    assert 'supportbot_messages_total{action="answer",channel="web"} 1.0' in metrics
    assert 'supportbot_bundle_info{version="fake-1"} 1.0' in metrics


async def test_concurrent_messages_share_model_calls(tmp_path: Path, aiohttp_client) -> None:
    import asyncio

    model = KeywordModel()
    settings = demo_settings(tmp_path, max_wait_ms=20.0)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: model))
    model.calls.clear()
    replies = await asyncio.gather(*(say(client, "How long does delivery take?", session=f"session-{i:04d}")
                                     for i in range(16)))
    assert all(r["action"] == "answer" for r in replies)
    assert sum(model.calls) == 16 and len(model.calls) < 16


async def test_explain_describes_handlers_without_running_them(client: TestClient) -> None:
    from bot.keys import RESPONDER

    responder = client.server.app[RESPONDER]
    greeting = (await responder.explain("hello there")).reply
    assert greeting.action == "handler" and "greeting" in greeting.reason and greeting.turn_id is None
    answer = (await responder.explain("How long does delivery take?")).reply
    assert answer.action == "answer" and answer.faq_id == "shipping-times" and answer.hits
