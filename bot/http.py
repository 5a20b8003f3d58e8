"""Reading JSON requests and answering bad ones: shared by the web chat, admin API and webhook.

Bad requests get a 400 whose JSON body says what was wrong (``{"error": "..."}``).

Example::

    body = await read_json(request)
    turn_id = int_field(body, "turn_id", "turn_id must be the number of a turn")
"""
from __future__ import annotations

import json

from aiohttp import web


async def read_json(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or a 400 that says what was wrong."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text=error_json("the body must be a JSON object"),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=error_json("the body must be a JSON object"), content_type="application/json")
    return body


def bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=error_json(reason), content_type="application/json")


def int_field(body: dict[str, object], name: str, reason: str) -> int:
    """``body[name]`` as a whole number (JSON ``true`` is not one), else a 400 with ``reason``."""
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(reason)
    return value


def error_json(reason: str) -> str:
    """``{"error": reason}`` as JSON text: the body of every 4xx the bot sends."""
    return json.dumps({"error": reason})
