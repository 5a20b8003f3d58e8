"""The admin API's handoff routes: for teams that answer customers from their own helpdesk.

``GET /admin/handoffs?state=waiting|with_staff|closed`` lists handoffs (default: all open ones,
waiting first); ``GET /admin/handoffs/{id}`` returns one with its transcript;
``POST /admin/handoffs/{id}/messages`` ``{"text": "...", "author": "Ana"}`` sends a message to
the customer (claiming a waiting conversation for ``author``; 409 if someone else has it,
unless ``"take_over": true``); ``POST /admin/handoffs/{id}/claim`` and ``.../close`` change its
state. ``author`` is the name the customer sees ("Support team" when left out).

Example::

    curl -H "Authorization: Bearer $SUPPORTBOT_ADMIN_TOKEN" localhost:8080/admin/handoffs?state=waiting
    curl -H "Authorization: Bearer $SUPPORTBOT_ADMIN_TOKEN" -X POST localhost:8080/admin/handoffs/7/messages \\
         -d '{"text": "Hi, I am Ana from support. Let me check.", "author": "Ana"}'
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from bot.core.handoff import handoff_json
from bot.http import bad_request, error_json, parse_number, read_json
from bot.keys import DESK
from knowledge.conversations.handoffs import OPEN_STATES, STATES, HandoffConflict, InboxItem
from knowledge.errors import EntryNotFound

routes = web.RouteTableDef()
DEFAULT_AUTHOR = "Support team"
MAX_AUTHOR = 64
T = TypeVar("T")


@routes.get("/admin/handoffs")
async def list_handoffs(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise bad_request(f"state must be one of {', '.join(STATES)}")
    items = await asyncio.to_thread(request.app[DESK].handoffs.inbox, state)
    return web.json_response({"handoffs": [item_json(item) for item in items]})


@routes.get("/admin/handoffs/{handoff_id}")
async def show_handoff(request: web.Request) -> web.Response:
    handoffs = request.app[DESK].handoffs
    handoff = await _guard(asyncio.to_thread(handoffs.get, _id(request)))
    lines = await asyncio.to_thread(handoffs.transcript, handoff.session_id)
    return web.json_response({"handoff": handoff_json(handoff), "transcript": [line.as_json() for line in lines]})


@routes.post("/admin/handoffs/{handoff_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    body = await read_json(request)
    text, take_over = body.get("text"), body.get("take_over", False)
    if not isinstance(text, str) or not text.strip():
        raise bad_request("text must be the message for the customer (a non-empty string)")
    if not isinstance(take_over, bool):
        raise bad_request("take_over must be true or false")
    try:
        posted = await _guard(request.app[DESK].post(_id(request), _author(body), text, "api", take_over))
    except ValueError as error:
        raise bad_request(str(error)) from None
    return web.json_response({"message": posted.line.as_json(), "handoff": handoff_json(posted.handoff),
                              "delivered": posted.delivered, "problem": posted.problem}, status=201)


@routes.post("/admin/handoffs/{handoff_id}/claim")
async def claim(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    take_over = body.get("take_over", False)
    if not isinstance(take_over, bool):
        raise bad_request("take_over must be true or false")
    handoff = await _guard(request.app[DESK].claim(_id(request), _author(body), take_over))
    return web.json_response({"handoff": handoff_json(handoff)})


@routes.post("/admin/handoffs/{handoff_id}/close")
async def close(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    # A helpdesk's author is often the shared "Support team": it closes what it sees, as before.
    handoff = await _guard(request.app[DESK].close(_id(request), _author(body), "api", take_over=True))
    return web.json_response({"handoff": handoff_json(handoff)})


def item_json(item: InboxItem) -> dict[str, object]:
    return {**handoff_json(item.handoff), "last_message": item.last_message,
            "last_message_at": item.last_message_at, "open": item.handoff.state in OPEN_STATES}


async def _guard(change: Awaitable[T]) -> T:
    """Await ``change``; an unknown handoff is a 404, a state conflict a 409 naming who has it."""
    try:
        return await change
    except EntryNotFound as error:
        raise web.HTTPNotFound(text=error_json(str(error)), content_type="application/json") from None
    except HandoffConflict as error:
        raise web.HTTPConflict(text=json.dumps({"error": str(error), "claimed_by": error.claimed_by}),
                               content_type="application/json") from None


def _id(request: web.Request) -> int:
    number = parse_number(request.match_info["handoff_id"])
    if number is None:
        raise web.HTTPNotFound(text=error_json("no such handoff"), content_type="application/json")
    return number


def _author(body: dict[str, object]) -> str:
    author = body.get("author", DEFAULT_AUTHOR)
    if not isinstance(author, str) or not author.strip() or len(author) > MAX_AUTHOR \
            or not author.isprintable():
        raise bad_request(f"author must be the name the customer sees: 1-{MAX_AUTHOR} printable characters")
    return author.strip()
