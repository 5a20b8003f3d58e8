"""The inbox: conversations waiting for a person, and answering them (``/console/inbox``).

The list shows every open handoff, waiting ones first (longest waiting on top): channel,
how long the customer has waited, their last message, who has it. A conversation's page shows
the whole transcript, the bot's turns with the intent and FAQ entry it used, and lets a staff
member claim it, reply (an FAQ answer can be inserted with one click) and hand it back to the
bot. Both pages update live over server-sent events: no reloading, no polling from the page.
Claiming shows everyone who has a conversation; replying to one someone else has, or handing
it back to the bot, needs "Take over" first, so a customer is never answered twice (or left
mid-answer) by accident.

Example::

    GET  /console/inbox                 the list;  /console/inbox/events: "something changed"
    GET  /console/inbox/7               a conversation;  /console/inbox/7/events: its new lines
    POST /console/inbox/7/claim | /reply (text) | /close      with the CSRF token
"""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from bot.console.pages import problem, render, see_other, signed_in
from bot.core.handoff import INBOX, HandoffDesk
from bot.http import parse_number
from bot.keys import DESK, KEEPER, RESPONDER
from bot.streams import resume_from, stream_events
from knowledge.conversations.handoffs import Cursor, Handoff, HandoffConflict, Line
from knowledge.errors import EntryNotFound

routes = web.RouteTableDef()
SUGGESTIONS = 3  # FAQ entries offered first for inserting, from the customer's last message
INBOX_NOTICES = {"claimed": "It's yours: the customer sees that you joined.",
                 "sent": "Sent.", "closed": "Handed back to the bot. The customer was told."}


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.Response:
    desk = request.config_dict[DESK]
    items = await asyncio.to_thread(desk.handoffs.inbox)
    template = "_inbox_list.html" if request.query.get("part") == "list" else "inbox.html"
    return await render(request, template, items=items, now=datetime.now(UTC), waited=waited, held=held)


@routes.get("/inbox/events")
async def inbox_events(request: web.Request) -> web.StreamResponse:
    """One event whenever the inbox changed: the page then fetches the list again."""
    desk = request.config_dict[DESK]

    async def read(position: str) -> tuple[list[tuple[str, object]], str]:
        signature = await asyncio.to_thread(desk.handoffs.inbox_signature)
        if signature == position:
            return [], position
        waiting = await asyncio.to_thread(desk.handoffs.waiting_count)
        return [(signature, {"waiting": waiting})], signature

    start = resume_from(request)
    if start is None:
        start = await asyncio.to_thread(desk.handoffs.inbox_signature)
    return await stream_events(request, start, read, lambda seconds: desk.wakeups.wait([INBOX], seconds))


@routes.get("/inbox/{handoff_id}")
async def conversation(request: web.Request) -> web.Response:
    desk, staff = request.config_dict[DESK], signed_in(request).name
    handoff = await _handoff(request, desk)
    lines = await asyncio.to_thread(desk.handoffs.transcript, handoff.session_id)
    brain = request.config_dict[KEEPER].current
    last = next((line.text for line in reversed(lines) if line.role == "customer"), "")
    suggested = []
    if last and handoff.is_open:  # what the bot would have answered, first in the insert list
        explanation = await request.config_dict[RESPONDER].explain(last)
        suggested = [hit.faq_id for hit in explanation.reply.hits[:SUGGESTIONS] if hit.faq_id in brain.entries]
    others = sorted((e for faq_id, e in brain.entries.items() if faq_id not in suggested), key=lambda e: e.question)
    return await render(request, "inbox_conversation.html", handoff=handoff, lines=lines,
                        mine=handoff.claimed_by == staff, now=datetime.now(UTC), waited=waited, held=held,
                        suggested=[brain.entries[f] for f in suggested], others=others,
                        cursor=str(lines[-1].cursor) if lines else str(Cursor()),
                        inbox_notice=INBOX_NOTICES.get(request.query.get("done", ""), ""))


@routes.get("/inbox/{handoff_id}/events")
async def conversation_events(request: web.Request) -> web.StreamResponse:
    """The conversation's new lines, live: the customer's messages, staff messages, claims."""
    desk = request.config_dict[DESK]
    handoff = await _handoff(request, desk)
    try:
        start = Cursor.parse(resume_from(request))
    except ValueError as error:
        raise web.HTTPBadRequest(text=str(error)) from None

    async def read(position: str) -> tuple[list[tuple[str, object]], str]:
        lines = await asyncio.to_thread(desk.handoffs.transcript, handoff.session_id, Cursor.parse(position))
        events: list[tuple[str, object]] = [(str(line.cursor), line_json(line)) for line in lines]
        return events, str(lines[-1].cursor) if lines else position

    return await stream_events(request, str(start), read,
                               lambda seconds: desk.wakeups.wait([handoff.session_id], seconds))


@routes.post("/inbox/{handoff_id}/claim")
async def claim(request: web.Request) -> web.Response:
    desk, staff = request.config_dict[DESK], signed_in(request).name
    handoff = await _handoff(request, desk)
    form = await request.post()
    try:
        await desk.claim(handoff.id, staff, take_over=form.get("take_over") == "1")
    except HandoffConflict as error:
        return await problem(request, 409, "Someone else has it", str(error), f"/console/inbox/{handoff.id}")
    raise see_other(f"/console/inbox/{handoff.id}?done=claimed")


@routes.post("/inbox/{handoff_id}/reply")
async def reply(request: web.Request) -> web.Response:
    desk, staff = request.config_dict[DESK], signed_in(request).name
    handoff = await _handoff(request, desk)
    form = await request.post()
    text = str(form.get("text", ""))
    try:
        posted = await desk.post(handoff.id, staff, text, "console", take_over=form.get("take_over") == "1")
    except HandoffConflict as error:
        return await problem(request, 409, "Not sent", f"{error}. Your message was: {text}",
                             f"/console/inbox/{handoff.id}")
    except ValueError as error:
        return await problem(request, 400, "Not sent", str(error), f"/console/inbox/{handoff.id}")
    if posted.delivered is False:
        return await problem(request, 502, "Saved, but not delivered",
                             f"The message is in the transcript, but the customer did not get it: {posted.problem}.",
                             f"/console/inbox/{handoff.id}")
    raise see_other(f"/console/inbox/{handoff.id}?done=sent")


@routes.post("/inbox/{handoff_id}/close")
async def close(request: web.Request) -> web.Response:
    desk, staff = request.config_dict[DESK], signed_in(request).name
    handoff = await _handoff(request, desk)
    form = await request.post()
    try:
        await desk.close(handoff.id, staff, take_over=form.get("take_over") == "1")
    except HandoffConflict as error:
        if error.claimed_by:
            return await problem(request, 409, "Someone else has it", str(error), f"/console/inbox/{handoff.id}")
        return await problem(request, 409, "Already handed back", str(error), "/console/inbox")
    raise see_other(f"/console/inbox/{handoff.id}?done=closed")


def line_json(line: Line) -> dict[str, object]:
    """A transcript line for the console page's script (rendered there with textContent)."""
    return {**line.as_json(), "when": line.at[11:16]}


def waited(handoff: Handoff, now: datetime) -> str:
    """How long ago the handoff opened, as staff read it: "4 min", "2 h 5 min", "3 days"."""
    return _since(handoff.opened_at, now)


def held(handoff: Handoff, now: datetime) -> str:
    """How long the person who has the conversation has had it, as ``waited`` reads."""
    return _since(handoff.claimed_at or handoff.opened_at, now)


def _since(at: str, now: datetime) -> str:
    seconds = max(0, int((now - datetime.fromisoformat(at)).total_seconds()))
    if seconds < 60:
        return "under a minute"
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} days"


async def _handoff(request: web.Request, desk: HandoffDesk) -> Handoff:
    number = parse_number(request.match_info["handoff_id"])
    try:
        if number is None:
            raise EntryNotFound("no such conversation")
        return await asyncio.to_thread(desk.handoffs.get, number)
    except EntryNotFound:
        raise web.HTTPNotFound(text="No such conversation in the inbox.") from None
