"""Server-sent event streams: how the web chat and the staff inbox hear of new messages live.

One loop for every stream: read what is new after the client's position, send it, then wait
for a wake-up (or a few seconds, to pick up changes made by another replica) and read again.
Each event carries its position as ``id``, so a browser that reconnects resumes where it was
(``Last-Event-ID``). A comment line keeps idle connections from being closed by proxies. The
stream ends when the client goes away or the bot shuts down (``wait`` returns False).

Example::

    async def read(position: str) -> tuple[list[tuple[str, object]], str]:
        ...   # the events after ``position``, and the new position
    return await stream_events(request, start, read, lambda s: desk.wakeups.wait([topic], s))
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

RECHECK_S = 5.0  # without a wake-up, look again this often (changes made through another replica)
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
           "X-Accel-Buffering": "no"}  # nginx: pass each event on at once
Reader = Callable[[str], Awaitable[tuple[list[tuple[str, object]], str]]]
Waiter = Callable[[float], Awaitable[bool]]


def resume_from(request: web.Request) -> str | None:
    """Where the client wants to resume: ``Last-Event-ID`` (a reconnect) or ``?after=``."""
    return request.headers.get("Last-Event-ID") or request.query.get("after") or None


async def stream_events(request: web.Request, start: str, read: Reader, wait: Waiter) -> web.StreamResponse:
    """Send events from ``read`` until the client leaves or ``wait`` says the bot is stopping."""
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    position = start
    try:
        while True:
            events, position = await read(position)
            for event_id, data in events:
                await response.write(f"id: {event_id}\ndata: {json.dumps(data)}\n\n".encode())
            if not events:
                await response.write(b": still here\n\n")
            if not await wait(RECHECK_S):
                break
    except ConnectionResetError:  # the page was closed or reloaded: routine
        pass
    return response
