"""Public HTTP routes: the web chat page, ``/api/chat``, ``/api/feedback``, health and metrics.

``POST /api/chat`` takes ``{"session_id": "...", "text": "..."}`` (or ``"choice"`` instead of
``"text"``: the payload of a button the user pressed) and returns the reply, its buttons, intent,
confidence, FAQ id and turn id. Bad requests get a 400 with a reason; the user's text is never logged.

``GET /api/chat/history?session_id=...`` returns the conversation so far (the customer's,
the bot's and support staff's messages, in order), whether a person has it, and the buttons of
the bot's last message that still work (a clarification's choices, "Talk to a person");
``GET /api/chat/events?session_id=...`` is a server-sent event stream of what support staff
write (and of them joining and handing back), for the page to show live during a handoff.
The session id is the conversation's only key: it is random and stays in the browser.
"""
from __future__ import annotations

import asyncio
import functools
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from aiohttp import web

from bot.channels.admission import AddressLimit, Gate
from bot.core.replies import Button, Reply, check_choice, open_buttons
from bot.core.sessions import OverLimit
from bot.http import bad_request, error_json, int_field, read_json
from bot.keys import CONVERSATIONS, DATABASE, DESK, KEEPER, METRICS, RESPONDER, SETTINGS
from bot.settings import Settings
from bot.streams import resume_from, stream_events
from knowledge.conversations.handoffs import Cursor, Line
from knowledge.conversations.log import DuplicateFeedback
from knowledge.errors import EntryNotFound

STATIC = Path(__file__).resolve().parent / "static"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,100}")  # fullmatch: "$" would let a trailing newline in
# The page's key for each message: a message sent again under it (its "Try again", or a proxy
# retrying it on another replica after one died) is answered from the turn stored the first time.
IDEMPOTENCY_KEY = "Idempotency-Key"
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
GATE = web.AppKey("chat_gate", Gate)
READY_TIMEOUT_S = 2.0  # /readyz: how long the database may take to answer one query
STREAMS_PER_ADDRESS = 8  # open live streams from one address (tabs, reconnects)
STREAMS = web.AppKey("chat_streams", Counter[str])
# The chat page runs only its own scripts and styles, talks only to this site, and is not framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
routes = web.RouteTableDef()


def _session(body: dict[str, object] | web.Request) -> str:
    session_id = body.query.get("session_id") if isinstance(body, web.Request) else body.get("session_id")
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise bad_request("session_id must be 8-100 letters, digits, '-' or '_'")
    return f"web:{session_id}"


@routes.get("/")
async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def admitted(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request],
                                                                               Awaitable[web.Response]]:
    """Refuse a message before any work when the bot has too many in flight, and answer one whose
    client is over its address limit (``bot.channels.admission``; the responder raises
    ``OverLimit``): 503 or 429 with Retry-After, counted, nothing stored."""

    @functools.wraps(handler)
    async def admit(request: web.Request) -> web.Response:
        gate = request.app[GATE]
        if not gate.enter():
            _refuse(request, "overload", "the bot is busy; try again in a moment", 1)
        try:
            return await handler(request)
        except OverLimit as over:
            _refuse(request, "address", "too many messages from your address; wait a moment", over.retry_after)
        finally:
            gate.leave()

    return admit


def _refuse(request: web.Request, reason: str, message: str, retry_after: int) -> NoReturn:
    request.app[METRICS].refused.labels(reason=reason).inc()
    status = web.HTTPTooManyRequests if reason == "address" else web.HTTPServiceUnavailable
    raise status(text=error_json(message), content_type="application/json", headers={"Retry-After": str(retry_after)})


@routes.post("/api/chat")
@admitted
async def chat(request: web.Request) -> web.Response:
    body = await read_json(request)
    session_id = _session(body)
    text = body.get("text", "")
    if not isinstance(text, str):
        raise bad_request("text must be a string")
    choice = _choice(body.get("choice"))
    if choice is not None:
        text = ""  # the button's label, from pages that send it too: the log takes the bot's own (check_choice)
    message_id = request.headers.get(IDEMPOTENCY_KEY)
    if message_id is not None and not MESSAGE_ID.fullmatch(message_id):
        raise bad_request(f"{IDEMPOTENCY_KEY} must be 1-64 letters, digits, '-' or '_'")
    client = request.app[GATE].addresses.bucket(request.remote or "")
    reply = await request.app[RESPONDER].respond(session_id, "web", text, choice, message_id=message_id, client=client)
    return web.json_response(reply_json(reply))


def _choice(choice: object) -> str | None:
    """The message's button payload, if it has one: checked (``replies.check_choice``) before
    anything is stored, so a made-up one is never taken for the customer's words."""
    if choice is None:
        return None
    try:
        return check_choice(choice)
    except ValueError as error:
        raise bad_request(str(error)) from None


@routes.get("/api/chat/history")
async def history(request: web.Request) -> web.Response:
    session_id = _session(request)
    desk = request.app[DESK]
    lines = await asyncio.to_thread(desk.handoffs.transcript, session_id)
    handoff = await desk.state(session_id)
    buttons: tuple[Button, ...] = ()
    if handoff is None and lines and lines[-1].role == "bot":  # with a person, the bot offers nothing
        context = await request.app[RESPONDER].sessions.read(session_id)
        buttons = open_buttons(request.app[KEEPER].current, context.choices, context.offered_person)
    return web.json_response({
        "messages": [customer_view(line) for line in lines if _shown(line)],
        "cursor": str(lines[-1].cursor) if lines else str(Cursor()),
        "handoff_state": handoff.state if handoff else None,
        "buttons": [_button_json(b) for b in buttons],  # the last bot message's, where still usable
    })


@routes.get("/api/chat/events")
async def events(request: web.Request) -> web.StreamResponse:
    """What support staff write, live: one event per message, join and hand-back."""
    session_id = _session(request)
    desk = request.app[DESK]
    try:
        start = Cursor.parse(resume_from(request)) if resume_from(request) else None
    except ValueError as error:
        raise bad_request(str(error)) from None
    if start is None:
        start = await asyncio.to_thread(desk.handoffs.end_of, session_id)

    async def read(position: str) -> tuple[list[tuple[str, object]], str]:
        lines = await asyncio.to_thread(desk.handoffs.transcript, session_id, Cursor.parse(position))
        shown: list[tuple[str, object]] = [(str(line.cursor), customer_view(line)) for line in lines
                 if line.role in ("staff", "event") and _shown(line)]
        return shown, str(lines[-1].cursor) if lines else position

    with _stream_slot(request):
        return await stream_events(request, str(start), read,
                                   lambda seconds: desk.wakeups.wait([session_id], seconds))


@contextmanager
def _stream_slot(request: web.Request) -> Iterator[None]:
    """At most STREAMS_PER_ADDRESS open streams per client address; 429 beyond."""
    streams, address = request.app[STREAMS], request.remote or ""
    if streams[address] >= STREAMS_PER_ADDRESS:
        raise web.HTTPTooManyRequests(text=error_json("too many open event streams from your address"),
                                      content_type="application/json", headers={"Retry-After": "10"})
    streams[address] += 1
    try:
        yield
    finally:
        streams[address] -= 1
        if streams[address] <= 0:
            del streams[address]


def customer_view(line: Line) -> dict[str, object]:
    """A transcript line as the customer sees it: who wrote what, when; nothing internal."""
    return {"role": line.role, "text": line.text, "at": line.at, "author": line.author, "kind": line.kind,
            "cursor": str(line.cursor)}


def _shown(line: Line) -> bool:
    """Lines a customer sees: not the "opened" event (the bot's reply said it already)."""
    return not (line.role == "event" and line.kind == "opened")


@routes.post("/api/feedback")
async def feedback(request: web.Request) -> web.Response:
    body = await read_json(request)
    session_id = _session(body)
    turn_id, value = int_field(body, "turn_id", "turn_id must be the number of a turn"), body.get("value")
    if value not in ("up", "down"):
        raise bad_request("value must be 'up' or 'down'")
    log = request.app[CONVERSATIONS]
    try:
        await asyncio.to_thread(log.add_feedback, turn_id, session_id, 1 if value == "up" else -1)
    except EntryNotFound as error:
        raise web.HTTPNotFound(text=error_json(str(error)), content_type="application/json") from None
    except DuplicateFeedback as error:
        raise web.HTTPConflict(text=error_json(str(error)), content_type="application/json") from None
    return web.json_response({"ok": True})


@routes.get("/healthz")
async def health(request: web.Request) -> web.Response:
    brain = request.app[KEEPER].current
    return web.json_response({"status": "ok", "bundle_version": brain.version,
                              "faq_entries": len(brain.entries),
                              "faq_revision": brain.index.header.faq_revision})


@routes.get("/readyz")
async def ready(request: web.Request) -> web.Response:
    """Readiness, for a load balancer or Kubernetes: 200 when this replica can take chat traffic,
    i.e. its database answers within ``READY_TIMEOUT_S``; else 503 with the reason. ``/healthz``
    is liveness only (the process serves): a database outage takes every replica out of
    rotation, and restarting them would not help."""
    try:
        problem = await asyncio.wait_for(asyncio.to_thread(request.app[DATABASE].unreachable), READY_TIMEOUT_S)
    except TimeoutError:
        problem = f"no answer within {READY_TIMEOUT_S:g} s"
    if problem is not None:
        return web.json_response({"status": "unavailable", "reason": f"database: {problem}"}, status=503)
    return web.json_response({"status": "ready", "bundle_version": request.app[KEEPER].current.version})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    return web.Response(body=registry.render(), headers={"Content-Type": registry.content_type})


async def _page_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/" or request.path.startswith("/static/"):
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)


def _button_json(button: Button) -> dict[str, str]:
    return {"label": button.label, "payload": button.payload, "kind": button.kind}


def reply_json(reply: Reply) -> dict[str, object]:
    return {
        "reply": reply.text, "action": reply.action,
        "buttons": [_button_json(b) for b in reply.buttons],
        "intent": reply.intent, "confidence": reply.confidence, "faq_id": reply.faq_id,
        "faq_score": reply.faq_score, "turn_id": reply.turn_id, "feedback": reply.feedback,
        "handler": reply.handler, "handoff": reply.handoff, "handoff_state": reply.handoff_state,
        "bundle_version": reply.bundle_version,
    }


async def _gate(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    """The admission gate (its address limits are in the database, taken by the responder)."""
    app[GATE] = Gate(AddressLimit(settings.address_rate_per_minute), settings.max_in_flight)
    yield


def add_routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[STREAMS] = Counter()
    app.cleanup_ctx.append(functools.partial(_gate, settings))
    app.add_routes(routes)
    app.on_response_prepare.append(_page_headers)
    app.router.add_static("/static/", STATIC, name="static")
