"""The admin API's handoff routes, end to end: a helpdesk answers a web-chat customer."""
from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import create_app
from tests.bot.service import ADMIN_TOKEN, demo_settings
from tests.bot.test_handoff import SESSION, next_event, say, stored_actions
from tests.fakes import KeywordModel

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_helpdesk_lists_answers_and_closes_a_handoff(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    await say(client, "I'd like to speak to a person")
    await say(client, "my order NW-100002 never came")

    listed = await (await client.get("/admin/handoffs", params={"state": "waiting"}, headers=AUTH)).json()
    (item,) = listed["handoffs"]
    assert item["state"] == "waiting" and item["channel"] == "web" and item["session_id"] == f"web:{SESSION}"
    assert item["last_message"] == "my order NW-100002 never came" and item["reason"] == "asked for a person"
    handoff_id = item["id"]

    shown = await (await client.get(f"/admin/handoffs/{handoff_id}", headers=AUTH)).json()
    assert [(line["role"], line["kind"]) for line in shown["transcript"]][-2:] == [
        ("customer", None), ("bot", "acknowledgement")]
    assert shown["transcript"][-2]["text"] == "my order NW-100002 never came"
    assert shown["transcript"][1]["role"] == "bot" and shown["transcript"][1]["action"] == "handoff"

    stream = await client.get("/api/chat/events", params={"session_id": SESSION})
    sent = await client.post(f"/admin/handoffs/{handoff_id}/messages", headers=AUTH,
                             json={"text": "Hello, this is Sam from the helpdesk.", "author": "Sam"})
    assert sent.status == 201
    body = await sent.json()
    assert body["handoff"]["state"] == "with_staff" and body["handoff"]["claimed_by"] == "Sam"
    assert body["delivered"] is None, "the web page fetches staff messages itself"
    assert (await next_event(stream))["kind"] == "claimed"
    assert (await next_event(stream))["text"] == "Hello, this is Sam from the helpdesk."

    other = await client.post(f"/admin/handoffs/{handoff_id}/messages", headers=AUTH,
                              json={"text": "Me too", "author": "Kim"})
    assert other.status == 409 and (await other.json())["claimed_by"] == "Sam"
    default = await client.post(f"/admin/handoffs/{handoff_id}/messages", headers=AUTH,
                                json={"text": "Taking over.", "take_over": True})
    assert (await default.json())["handoff"]["claimed_by"] == "Support team"

    closed = await client.post(f"/admin/handoffs/{handoff_id}/close", headers=AUTH, json={"author": "Kim"})
    assert (await closed.json())["handoff"]["closed_by"] == "Kim"
    assert (await next_event(stream))["kind"] == "claimed"  # Support team took over ...
    assert (await next_event(stream))["text"] == "Taking over."
    assert (await next_event(stream))["kind"] == "closed"  # ... and handed back
    stream.close()
    again = await client.post(f"/admin/handoffs/{handoff_id}/close", headers=AUTH)
    assert again.status == 409
    assert (await say(client, "hello"))["action"] == "handler", "the bot answers again"
    assert (await (await client.get("/admin/handoffs", headers=AUTH)).json())["handoffs"] == []
    closed_list = await (await client.get("/admin/handoffs", params={"state": "closed"}, headers=AUTH)).json()
    assert [h["id"] for h in closed_list["handoffs"]] == [handoff_id]
    assert [a for a, _ in stored_actions(settings)] == ["handoff", "relayed", "handler"]


async def test_bad_handoff_requests_get_clear_errors(tmp_path: Path, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))
    assert (await client.get("/admin/handoffs")).status == 401, "the token is required"
    assert (await client.get("/admin/handoffs", params={"state": "lost"}, headers=AUTH)).status == 400
    for path in ("/admin/handoffs/999", "/admin/handoffs/abc", "/admin/handoffs/²"):
        assert (await client.get(path, headers=AUTH)).status == 404, path
    await say(client, "a person please")
    handoff_id = (await (await client.get("/admin/handoffs", headers=AUTH)).json())["handoffs"][0]["id"]
    url = f"/admin/handoffs/{handoff_id}/messages"
    for body in ({}, {"text": ""}, {"text": "   "}, {"text": 5}, {"text": "x" * 4001},
                 {"text": "hi", "author": ""}, {"text": "hi", "author": "x" * 65}, {"text": "hi", "author": "a\nb"},
                 {"text": "hi", "take_over": "yes"}):
        response = await client.post(url, headers=AUTH, json=body)
        assert response.status == 400, body
        assert (await response.json())["error"]
    responses = await asyncio.gather(*[client.post(f"/admin/handoffs/{handoff_id}/claim", headers=AUTH,
                                                   json={"author": name}) for name in ("A", "B", "C")])
    assert sorted(r.status for r in responses) == [200, 409, 409], "one claim wins a race"
