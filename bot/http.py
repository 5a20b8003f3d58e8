"""Reading JSON requests and answering bad ones: shared by the web chat, admin API and webhook;
and who the client is behind a trusted reverse proxy (``forwarded_middleware``).

Bad requests get a 400 whose JSON body says what was wrong (``{"error": "..."}``).

Example::

    body = await read_json(request)
    turn_id = int_field(body, "turn_id", "turn_id must be the number of a turn")
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

# Turn ids and revisions: SQLite's INTEGER holds up to 2**63 - 1, and a revision is stored plus
# one; 2**53 - 1 is also the largest whole number a JavaScript client keeps exact.
MAX_NUMBER = 2**53 - 1


async def read_json(request: web.Request) -> dict[str, object]:
    """The request's JSON object, or a 400 that says what was wrong (a body over the app's
    ``client_max_size`` is a 413 before it is read)."""
    body = _parse_json(await request.read(), request.charset)
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _parse_json(raw: bytes, charset: str | None) -> object:
    """``raw`` (text in ``charset``, UTF-8 if none is named) as JSON, or a 400 that says why not.

    Every way ``json.loads`` refuses is the client's mistake, RecursionError included: about
    1,000 nested brackets exhaust Python's parser, and 30,000 fit in a small body.

    Example::

        _parse_json(b'{"text": "hi"}', None)       # {'text': 'hi'}
        _parse_json(b"{bad", None)                 # HTTPBadRequest: the body is not valid JSON: ...
        _parse_json(b"[" * 30_000, None)           # HTTPBadRequest: the body's JSON is nested too deeply
    """
    try:
        text = raw.decode(charset or "utf-8")
    except LookupError:
        raise bad_request(f"the body's charset {charset!r} is unknown (send UTF-8)") from None
    except UnicodeDecodeError:
        raise bad_request(f"the body is not {charset or 'UTF-8'} text") from None
    except UnicodeError:  # a codec that decodes nothing ("undefined") or not like this ("idna")
        raise bad_request(f"the body's charset {charset!r} cannot be used (send UTF-8)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:  # what was expected where; of the body, at most one character
        raise bad_request(f"the body is not valid JSON: {error.msg} (line {error.lineno}, "
                          f"column {error.colno})") from None
    except RecursionError:
        raise bad_request("the body's JSON is nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise bad_request(f"the body's JSON has a number of more than {sys.get_int_max_str_digits()} "
                          "digits") from None


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


# -- the client behind a reverse proxy ----------------------------------------------------

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_address(peer: str | None, forwarded_for: str, trusted: Networks) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy (what a client writes to the
    left of it is not believed).

    >>> client_address("10.0.0.2", "6.6.6.6, 203.0.113.7", [ipaddress.ip_network("10.0.0.0/8")])
    '203.0.113.7'
    """
    address = peer or ""
    if not _trusted(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if not _parses(hop):
            return address  # a mangled header: the last address we could believe
        address = hop
        if not _trusted(hop, trusted):
            break
    return address


def forwarded_middleware(trusted: Networks, trust_proto: bool) -> Middleware:
    """Middleware that makes ``request.remote`` the client and (with ``trust_proto``)
    ``request.secure`` true when a trusted proxy says the client came over HTTPS."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not trusted or not _trusted(request.remote or "", trusted):
            return await handler(request)
        remote = client_address(request.remote, request.headers.get("X-Forwarded-For", ""), trusted)
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        scheme = proto if trust_proto and proto in ("http", "https") else request.scheme
        return await handler(request.clone(remote=remote, scheme=scheme))

    return forwarded


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
