"""Handoff to a person in the web chat, against the real app and a real SQLite database.

A customer asks for a person; from then on the bot answers nothing (asserted on the stored
turns), the customer hears staff messages live over server-sent events and finds the whole
conversation again after a reload; staff hand it back and the bot answers again. The state
survives a restart, and three fallbacks in a row call a person in every channel.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import DESK
from bot.settings import Settings
from knowledge.conversations.handoffs import Handoffs
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel

SESSION = "customer-0001"
UNANSWERABLE = "zzz qqq xxyyzz"


async def start(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


async def say(client: TestClient, text: str, session: str = SESSION) -> dict[str, object]:
    response = await client.post("/api/chat", json={"session_id": session, "text": text})
    assert response.status == 200, await response.text()
    body: dict[str, object] = await response.json()
    return body


def stored_actions(settings: Settings, session: str = SESSION) -> list[tuple[str, str]]:
    database = Database.open(settings.database_url)
    try:
        return [(t.record.action, t.record.reply) for t in ConversationLog(database).turns(f"web:{session}")]
    finally:
        database.close()


async def next_event(stream, timeout: float = 10.0) -> dict[str, object]:
    """The next ``data:`` payload of a server-sent event stream."""
    async def read() -> dict[str, object]:
        while True:
            line = (await stream.content.readline()).decode()
            if line.startswith("data: "):
                event: dict[str, object] = json.loads(line[6:])
                return event
    return await asyncio.wait_for(read(), timeout)


async def test_a_person_takes_over_the_web_chat_and_the_bot_stays_quiet(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    client = await start(aiohttp_client, settings)
    asked = await say(client, "can I talk to a person?")
    assert asked["action"] == "handoff" and asked["handoff"] is True and asked["handoff_state"] == "waiting"
    assert "number 1 in the queue" in str(asked["reply"])
    assert asked["buttons"] == [] and asked["feedback"] is False

    first = await say(client, "hello? is anyone there?")  # the greeting intent, but nobody from the bot answers
    assert first["action"] == "relayed" and "passed on to our support team" in str(first["reply"])
    second = await say(client, "how long does delivery take?")  # an FAQ question: still for the person
    assert second["action"] == "relayed" and second["reply"] == "", "acknowledged once, not every message"
    assert [a for a, _ in stored_actions(settings)] == ["handoff", "relayed", "relayed"]

    stream = await client.get("/api/chat/events", params={"session_id": SESSION})
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    desk = client.app[DESK]
    (waiting,) = desk.handoffs.inbox("waiting")
    assert waiting.last_message == "how long does delivery take?"
    await desk.post(waiting.handoff.id, "ana", "Hi, I'm Ana. Delivery takes 2-4 days.", "console")
    joined, message = await next_event(stream), await next_event(stream)
    assert joined["kind"] == "claimed" and joined["author"] == "ana"
    assert message == {**message, "role": "staff", "author": "ana", "text": "Hi, I'm Ana. Delivery takes 2-4 days."}
    assert (await say(client, "thanks Ana"))["reply"] == "", "with staff: no acknowledgement at all"

    history = await (await client.get("/api/chat/history", params={"session_id": SESSION})).json()
    assert history["handoff_state"] == "with_staff"
    assert history["buttons"] == [], "with a person, the bot offers no buttons"
    assert [(m["role"], m["text"]) for m in history["messages"]] == [
        ("customer", "can I talk to a person?"), ("bot", asked["reply"]),
        ("customer", "hello? is anyone there?"), ("bot", first["reply"]),
        ("customer", "how long does delivery take?"),
        ("event", ""), ("staff", "Hi, I'm Ana. Delivery takes 2-4 days."),
        ("customer", "thanks Ana")]
    assert "intent" not in history["messages"][1], "the customer sees no internals"

    await desk.close(waiting.handoff.id, "ana")
    closed = await next_event(stream)
    assert closed["kind"] == "closed"
    stream.close()
    back = await say(client, "hello")
    assert back["action"] == "handler" and back["handoff_state"] is None
    actions = [a for a, _ in stored_actions(settings)]
    assert actions == ["handoff", "relayed", "relayed", "relayed", "handler"]


async def test_an_open_handoff_and_its_transcript_survive_a_restart(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    client = await start(aiohttp_client, settings)
    await say(client, "I want to talk to a human")
    await say(client, "my parcel arrived broken")
    await client.close()

    restarted = await start(aiohttp_client, settings)
    assert (await say(restarted, "are you still there?"))["action"] == "relayed"
    history = await (await restarted.get("/api/chat/history", params={"session_id": SESSION})).json()
    assert history["handoff_state"] == "waiting"
    assert [m["text"] for m in history["messages"] if m["role"] == "customer"] == [
        "I want to talk to a human", "my parcel arrived broken", "are you still there?"]


async def test_three_fallbacks_in_a_row_call_a_person_in_the_web_chat(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    client = await start(aiohttp_client, settings)
    replies = [await say(client, UNANSWERABLE) for _ in range(4)]
    assert [r["action"] for r in replies] == ["fallback", "fallback", "handoff", "relayed"]
    assert str(replies[2]["reply"]).startswith("Sorry, I still can't find an answer to that. I've asked")
    database = Database.open(settings.database_url)
    try:
        (item,) = Handoffs(database).inbox()
    finally:
        database.close()
    assert item.handoff.reason == "the bot could not answer 3 messages in a row"


async def test_after_a_handoff_the_bot_counts_fallbacks_afresh(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    client = await start(aiohttp_client, settings)
    for _ in range(3):
        await say(client, UNANSWERABLE)
    desk = client.app[DESK]
    (item,) = desk.handoffs.inbox()
    await desk.close(item.handoff.id, "ana")
    assert [(await say(client, UNANSWERABLE))["action"] for _ in range(3)] == ["fallback", "fallback", "handoff"]


async def test_history_and_events_refuse_bad_requests(tmp_path: Path, aiohttp_client) -> None:
    client = await start(aiohttp_client, demo_settings(tmp_path))
    for path in ("/api/chat/history", "/api/chat/events"):
        for params in ({}, {"session_id": "short"}, {"session_id": "x" * 101}, {"session_id": "has space 123"}):
            response = await client.get(path, params=params)
            assert response.status == 400, (path, params)
            assert "session_id" in (await response.json())["error"]
    bad = await client.get("/api/chat/events", params={"session_id": SESSION, "after": "12;drop"})
    assert bad.status == 400
    empty = await (await client.get("/api/chat/history", params={"session_id": "never-seen-1"})).json()
    assert empty == {"messages": [], "cursor": "0-0", "handoff_state": None, "buttons": []}


async def test_event_streams_resume_after_a_reconnect_and_are_limited_per_address(tmp_path: Path,
                                                                                aiohttp_client) -> None:
    client = await start(aiohttp_client, demo_settings(tmp_path))
    await say(client, "can I talk to a person?")
    desk = client.app[DESK]
    (item,) = desk.handoffs.inbox()
    await desk.post(item.handoff.id, "ana", "first", "console")
    history = await (await client.get("/api/chat/history", params={"session_id": SESSION})).json()
    seen = history["messages"][-1]["cursor"]
    await desk.post(item.handoff.id, "ana", "second, while the page was away", "console")
    resumed = await client.get("/api/chat/events", params={"session_id": SESSION},
                               headers={"Last-Event-ID": seen})
    assert (await next_event(resumed))["text"] == "second, while the page was away"
    streams = [resumed] + [await client.get("/api/chat/events", params={"session_id": SESSION}) for _ in range(7)]
    assert all(s.status == 200 for s in streams)
    over = await client.get("/api/chat/events", params={"session_id": SESSION})
    assert over.status == 429
    for stream in streams:
        stream.close()


def closed_all_day_today() -> str:
    """Staffed hours that exclude the whole of today, in any time zone: only the day after
    tomorrow (UTC) is staffed."""
    from datetime import UTC, datetime, timedelta

    day = (datetime.now(UTC) + timedelta(days=2)).strftime("%a")
    return f"{day} 10:00-11:00"


async def test_outside_staffed_hours_the_customer_can_leave_a_message_for_the_inbox(
        tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, staffed_hours=closed_all_day_today(), timezone="UTC")
    client = await start(aiohttp_client, settings)
    asked = await say(client, "I need a person")
    assert asked["action"] == "handoff" and asked["handoff_state"] == "waiting"
    assert str(asked["reply"]).startswith("Our support team is away right now. A person will be back on ")
    assert "Leave your message here" in str(asked["reply"])
    left = await say(client, "Please call me back about my refund, order NW-100002.")
    assert left["action"] == "relayed" and "when they're back" in str(left["reply"])
    (item,) = client.app[DESK].handoffs.inbox("waiting")
    assert item.last_message == "Please call me back about my refund, order NW-100002."


async def test_a_new_handoff_calls_the_helpdesk_webhook_signed(tmp_path: Path, aiohttp_client, aiohttp_server) -> None:
    from aiohttp import web

    from bot.core.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

    secret, received = "helpdesk-secret-0123456789", asyncio.Queue()

    async def helpdesk(request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify(secret, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER])
        await received.put((ok, json.loads(body)))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/tickets", helpdesk)
    server = await aiohttp_server(receiver)
    settings = demo_settings(tmp_path, handoff_webhook_url=str(server.make_url("/tickets")),
                             handoff_webhook_secret=secret)
    client = await start(aiohttp_client, settings)
    await say(client, "where is my parcel?")
    await say(client, "let me talk to an agent")
    ok, payload = await asyncio.wait_for(received.get(), 10)
    assert ok, "the signature verifies with the shared secret"
    assert payload["event"] == "handoff.waiting" and payload["position"] == 1
    assert payload["handoff"]["session_id"] == f"web:{SESSION}" and payload["handoff"]["state"] == "waiting"
    assert payload["transcript"][0] == {**payload["transcript"][0], "role": "customer", "text": "where is my parcel?"}
    await say(client, "hello?")  # no second ticket for the same handoff
    await asyncio.sleep(0.2)
    assert received.empty()
