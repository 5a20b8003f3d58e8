"""Reading JSON requests and answering bad ones: shared by the web chat, admin API and webhook.

Bad requests get a 400 whose JSON body says what was wrong (``{"error": "..."}``).

Example::

    body = await read_json(request)
    turn_id = int_field(body, "turn_id", "turn_id must be the number of a turn")
"""
from __future__ import annotations

import hmac
import json

from aiohttp import web

# Turn ids and revisions: SQLite's INTEGER holds up to 2**63 - 1, and a revision is stored plus
# one; 2**53 - 1 is also the largest whole number a JavaScript client keeps exact.
MAX_NUMBER = 2**53 - 1


async def read_json(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or a 400 that says what was wrong."""
    try:
        body = await request.json(loads=json.loads)
    except ValueError:  # not JSON, not UTF-8, or an integer of more digits than Python parses
        raise web.HTTPBadRequest(text=error_json("the body must be a JSON object"),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=error_json("the body must be a JSON object"), content_type="application/json")
    return body


def bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=error_json(reason), content_type="application/json")


def int_field(body: dict[str, object], name: str, reason: str) -> int:
    """``body[name]`` as a whole number (JSON ``true`` is not one) from 0 to ``MAX_NUMBER``,
    else a 400 with ``reason``."""
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_NUMBER:
        raise bad_request(f"{reason} (a whole number from 0 to {MAX_NUMBER})")
    return value


def parse_number(raw: str) -> int | None:
    """A query or form field's ASCII digits as a number up to ``MAX_NUMBER``, else None.

    ``str.isdigit`` alone would let "²" through to ``int``, which refuses it.

    Example::

        parse_number("42"), parse_number("²"), parse_number("-1")     # 42, None, None
    """
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_NUMBER))):
        return None
    number = int(raw)
    return number if number <= MAX_NUMBER else None


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` (from a header, cookie or form: any characters) equals ``expected``,
    in constant time. Characters that cannot be encoded never raise: they just do not match."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def error_json(reason: str) -> str:
    """``{"error": reason}`` as JSON text: the body of every 4xx the bot sends."""
    return json.dumps({"error": reason})
