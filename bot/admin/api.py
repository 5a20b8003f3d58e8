"""The admin API (``/admin/...``): FAQ changes and bundle reloads for scripts, with a bearer token.

Every FAQ change follows the knowledge store's rules (validation -> 400, stale base revision
-> 409, unknown id -> 404) and is re-indexed and swapped in before the response, so the bot
answers with it as soon as the request returns. Missing or wrong token: 401. Changes are
recorded as made by ``admin-api`` (the token), with an ``X-Supportbot-Author`` name only as
the token's claim: ``admin-api (as ana)``.

Example::

    curl -H "Authorization: Bearer $SUPPORTBOT_ADMIN_TOKEN" -X PUT localhost:8080/admin/faq/returns \\
         -d '{"base_revision": 3, "answer": "Yes, within 60 days."}'
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from aiohttp import web

from bot.admin.faq_changes import change_faq
from bot.admin.handoffs import routes as handoff_routes
from bot.core.brain import BundleModel
from bot.http import bad_request, int_field, parse_number, read_json, same_secret
from bot.keys import KEEPER, METRICS, SETTINGS, STORE
from bot.models.bundle import load_bundle
from bot.models.manifest import BundleError
from bot.models.store import activate, check_version_name, resolve_current
from knowledge.errors import EditConflict, EntryExists, EntryNotFound, InvalidEntry, KnowledgeError
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import Revision

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
TOKEN_AUTHOR = "admin-api"
AUTHOR_CLAIM = re.compile(r"[A-Za-z0-9._@-]{1,64}")
FIELDS = ("question", "answer", "alternatives", "tags", "language", "enabled")
P = ParamSpec("P")
T = TypeVar("T")


@web.middleware
async def require_token(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    if request.path.startswith("/admin/"):
        expected = request.app[SETTINGS].admin_token
        given = request.headers.get("Authorization", "")
        if not expected or not same_secret(given, f"Bearer {expected}"):
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "missing or wrong bearer token" if expected else
                                 "the admin API is off: set SUPPORTBOT_ADMIN_TOKEN"}),
                content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


def entry_json(entry: FaqEntry) -> dict[str, object]:
    return {**entry.content(), "revision": entry.revision, "updated_at": entry.updated_at,
            "updated_by": entry.updated_by}


def revision_json(rev: Revision) -> dict[str, object]:
    return {"revision": rev.revision, "action": rev.action, "author": rev.author,
            "created_at": rev.created_at,
            "before": rev.before.content() if rev.before else None,
            "after": rev.after.content() if rev.after else None}


async def _change(request: web.Request, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a store change in a thread, map its errors to HTTP, then swap in the new index."""
    try:
        return await change_faq(request, function, *args, **kwargs)
    except InvalidEntry as error:
        raise web.HTTPBadRequest(text=json.dumps({"error": "invalid FAQ entry", "problems": [
            {"field": p.field, "message": p.message} for p in error.problems]}),
            content_type="application/json") from None
    except EditConflict as error:
        raise web.HTTPConflict(text=json.dumps({"error": str(error), "current_revision":
                               error.current_revision}), content_type="application/json") from None
    except EntryNotFound as error:
        raise web.HTTPNotFound(text=json.dumps({"error": str(error)}), content_type="application/json") from None
    except (EntryExists, KnowledgeError) as error:
        raise web.HTTPConflict(text=json.dumps({"error": str(error)}), content_type="application/json") from None


def _author(request: web.Request) -> str:
    """Who a change is recorded as: the admin token, ``admin-api``, never a name a caller picks.

    The token is one shared secret, so it proves only that the caller holds it. A script may say
    who it acts for with ``X-Supportbot-Author``; that is recorded as the token's claim,
    ``admin-api (as ana)``, so the history never shows an admin-API change as ana's own.
    """
    claimed = request.headers.get("X-Supportbot-Author")
    if claimed is None:
        return TOKEN_AUTHOR
    if not AUTHOR_CLAIM.fullmatch(claimed):
        raise bad_request("X-Supportbot-Author must be 1-64 letters, digits, '.', '_', '@' or '-'")
    return f"{TOKEN_AUTHOR} (as {claimed})"


def _fields(body: dict[str, object]) -> dict[str, object]:
    """The entry fields of a request body, each checked for its JSON type (else a 400 naming it)."""
    unknown = sorted(set(body) - set(FIELDS) - {"faq_id", "base_revision"})
    if unknown:
        raise bad_request(f"unknown fields {unknown}; expected some of {list(FIELDS)}")
    return {name: _typed(name, body[name]) for name in FIELDS if name in body}


def _typed(name: str, value: object) -> object:
    """``value`` if it has field ``name``'s JSON type (lists become tuples), else a 400."""
    if name in ("alternatives", "tags"):
        if not isinstance(value, list):
            raise bad_request(f"{name} must be a list of strings, got {_json_type(value)}")
        for number, item in enumerate(value, start=1):
            if not isinstance(item, str):
                raise bad_request(f"{name} must be a list of strings; item {number} is {_json_type(item)}")
        return tuple(value)
    if name == "enabled":
        if not isinstance(value, bool):
            raise bad_request(f"enabled must be true or false, got {_json_type(value)}")
        return value
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    """What a JSON value is, in JSON's words (never the value: it may be huge or hostile)."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@routes.get("/admin/faq")
async def list_faq(request: web.Request) -> web.Response:
    entries = await asyncio.to_thread(request.app[STORE].list)
    return web.json_response([entry_json(e) for e in entries])


@routes.post("/admin/faq")
async def create_faq(request: web.Request) -> web.Response:
    body = await read_json(request)
    fields = _fields(body)
    faq_id = body.get("faq_id")
    if not isinstance(faq_id, str):
        raise bad_request(f"faq_id is required: a string, got {_json_type(faq_id)}")
    entry = FaqEntry(faq_id=faq_id, question="", answer="").with_changes(**fields)
    saved = await _change(request, request.app[STORE].add, entry, _author(request))
    return web.json_response(entry_json(saved), status=201)


async def _read(function: Callable[[str], T], faq_id: str) -> T:
    """A store read in a thread; an unknown id is a 404 with the store's reason."""
    try:
        return await asyncio.to_thread(function, faq_id)
    except EntryNotFound as error:
        raise web.HTTPNotFound(text=json.dumps({"error": str(error)}), content_type="application/json") from None


@routes.get("/admin/faq/{faq_id}")
async def show_faq(request: web.Request) -> web.Response:
    entry = await _read(request.app[STORE].get, request.match_info["faq_id"])
    return web.json_response(entry_json(entry))


@routes.put("/admin/faq/{faq_id}")
async def edit_faq(request: web.Request) -> web.Response:
    body = await read_json(request)
    base = int_field(body, "base_revision", "base_revision (the revision your change is based on) is required")
    saved = await _change(request, request.app[STORE].edit, request.match_info["faq_id"], base,
                          _author(request), **_fields(body))
    return web.json_response(entry_json(saved))


@routes.delete("/admin/faq/{faq_id}")
async def remove_faq(request: web.Request) -> web.Response:
    raw = request.query.get("base_revision")
    base = None if raw is None else parse_number(raw)
    if raw is not None and base is None:
        raise bad_request("base_revision must be a whole number")
    await _change(request, request.app[STORE].remove, request.match_info["faq_id"], _author(request), base)
    return web.json_response({"removed": request.match_info["faq_id"]})


@routes.get("/admin/faq/{faq_id}/history")
async def faq_history(request: web.Request) -> web.Response:
    history = await _read(request.app[STORE].history, request.match_info["faq_id"])
    return web.json_response([revision_json(r) for r in history])


@routes.post("/admin/faq/{faq_id}/revert")
async def revert_faq(request: web.Request) -> web.Response:
    body = await read_json(request)
    revision = int_field(body, "revision", "revision (the one to go back to) is required")
    entry = await _change(request, request.app[STORE].revert, request.match_info["faq_id"], revision,
                          _author(request))
    return web.json_response(entry_json(entry) if entry else {"removed": request.match_info["faq_id"]})


@routes.post("/admin/faq/{faq_id}/restore")
async def restore_faq(request: web.Request) -> web.Response:
    entry = await _change(request, request.app[STORE].restore, request.match_info["faq_id"], _author(request))
    return web.json_response(entry_json(entry))


@routes.post("/admin/reload")
async def reload_bundle(request: web.Request) -> web.Response:
    """Load the current bundle (or ``{"version": V}``, activated first) beside the old, then swap."""
    settings = request.app[SETTINGS]
    body = await read_json(request) if request.can_read_body else {}
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise bad_request("version must be a bundle version name")
    keeper = request.app[KEEPER]
    previous = keeper.current.version
    try:
        path = (settings.bundles_dir / check_version_name(version) if version
                else resolve_current(settings.bundles_dir))
        bundle = await keeper.in_background(load_bundle, path, settings.threads)
        brain = await keeper.replace_model(BundleModel(bundle))
        if version:  # only once it serves, so a restart comes back to the same bundle
            await asyncio.to_thread(activate, settings.bundles_dir, version)
    except (BundleError, OSError, ValueError) as error:
        log.warning("bundle reload failed, still serving %s: %s", previous, error)
        raise web.HTTPUnprocessableEntity(text=json.dumps({"error": str(error), "serving": previous}),
                                          content_type="application/json") from None
    request.app[METRICS].set_bundle(brain.version)
    return web.json_response({"previous": previous, "serving": brain.version})


def add_admin_routes(app: web.Application) -> None:
    app.add_routes(routes)
    app.add_routes(handoff_routes)
