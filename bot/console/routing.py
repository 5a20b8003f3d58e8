"""The Routing page: what the bot does with each intent, changed by staff, live at once.

``/console/routing`` lists every intent the serving model knows, a route names or a review label
uses: its route (a handler, one FAQ entry, FAQ search, a person) and whether it is shipped or set
by staff. A new intent (one staff labelled for the last retraining) without a route is marked:
customers who ask it get FAQ search; so is one the serving model does not know yet (labelled,
waiting for the retraining that teaches it). Changing a route stores it (``knowledge.routing``),
checks the whole table with the runtime's parser first, and swaps the responder's table, so the
next message is routed by it. A route for an intent nothing knows (neither the serving model, a
review label nor a route) is refused: no message would ever be routed by it, and it is most
likely a typo. ``supportbot routing`` does the same from the command line, without that check.

Example::

    table = routing_table(RouteStore(database).mapping())    # shipped file overlaid by staff routes
"""
from __future__ import annotations

import asyncio
import difflib
from collections.abc import Collection, Mapping

from aiohttp import web

from bot.console.pages import problem, render, reviews, see_other, signed_in
from bot.core.handlers import builtin_handlers
from bot.core.routing import DEFAULT_ROUTING, RoutingTable, parse_routing
from bot.keys import DATABASE, KEEPER, RESPONDER, SETTINGS, STORE
from bot.models.manifest import BundleError, read_manifest
from knowledge.errors import KnowledgeError
from knowledge.routing import PERSON, RouteStore, RoutingError, StaffRoute, overlay, read_routing_file

routes = web.RouteTableDef()
CHOICES = ("handler", "faq", "search", "person")


def shipped_routing() -> dict[str, object]:
    """The routing file the bot ships with, as a mapping."""
    return read_routing_file(DEFAULT_ROUTING)


def known_handlers() -> set[str]:
    """Handler names a route may use: the built-in ones and those the shipped file names."""
    named = {str(spec["handler"]) for spec in shipped_routing().values() if isinstance(spec, dict) and "handler" in spec}
    return {*builtin_handlers(), *named}


def routing_table(staff: Mapping[str, object], handlers: Collection[str] | None = None) -> RoutingTable:
    """The table the bot serves: the shipped file overlaid by the staff routes, parsed as the runtime parses."""
    return parse_routing(overlay(shipped_routing(), staff), known_handlers() if handlers is None else handlers,
                         "routing")


def set_route(store: RouteStore, intent: str, kind: str, target: str | None, author: str,
              sure: float | None = None, handlers: Collection[str] | None = None) -> StaffRoute:
    """Store a staff route after checking the table with it loads; ``ValueError`` or ``RoutingError``."""
    candidate = StaffRoute(intent.strip(), kind, target, sure, author, "")
    routing_table({**store.mapping(), candidate.intent: candidate.spec()}, handlers)
    return store.set(intent, kind, target, author, sure)


def describe_spec(spec: object) -> str:
    """A route of the file in words: 'handler greeting', 'FAQ entry returns', 'a person', 'FAQ search'."""
    if isinstance(spec, dict):
        if spec.get("handler") == PERSON:
            return "a person"
        if "handler" in spec:
            return f"handler {spec['handler']}"
        if "faq" in spec:
            return f"FAQ entry {spec['faq']}"
    return "FAQ search"


def choice_of(spec: object) -> tuple[str, str | None]:
    """A route of the file as the page's controls choose it: one of ``CHOICES`` and its target.

    >>> choice_of({"handler": "greeting", "sure": 0.7}), choice_of({"handler": "human_handoff"})
    (('handler', 'greeting'), ('person', None))
    """
    if isinstance(spec, dict):
        if spec.get("handler") == PERSON:
            return "person", None
        if "handler" in spec:
            return "handler", str(spec["handler"])
        if "faq" in spec:
            return "faq", str(spec["faq"])
    return "search", None


@routes.get("/routing")
async def routing_page(request: web.Request) -> web.Response:
    store = RouteStore(request.config_dict[DATABASE])
    staff = {route.intent: route for route in await asyncio.to_thread(store.list)}
    shipped = shipped_routing()
    known = await asyncio.to_thread(_serving_intents, request)
    labelled = await asyncio.to_thread(reviews(request).labelled_intents)
    rows = [{"intent": intent, "route": staff[intent].describe() if intent in staff else
             describe_spec(shipped[intent]) if intent in shipped else "FAQ search (no route)",
             "staff": staff.get(intent), "unrouted": intent not in staff and intent not in shipped,
             "unknown": bool(known) and intent not in known,  # not judged when the model's intents cannot be read
             "choice": choice_of(staff[intent].spec() if intent in staff else shipped.get(intent))}
            for intent in sorted({*known, *shipped, *staff, *labelled} - {"oos"})]
    entries = await asyncio.to_thread(request.config_dict[STORE].list)
    return await render(request, "routing.html", rows=rows, entries=entries, handlers=sorted(known_handlers()),
                        changed=request.query.get("done", "") == "routed",
                        phrases=request.config_dict[RESPONDER].phrases)


@routes.post("/routing")
async def change_route(request: web.Request) -> web.Response:
    form = await request.post()
    intent, choice = str(form.get("intent", "")).strip(), str(form.get("route", ""))
    store = RouteStore(request.config_dict[DATABASE])
    responder = request.config_dict[RESPONDER]
    try:
        if choice == "unset":
            await asyncio.to_thread(store.unset, intent)
        elif choice not in CHOICES:
            raise ValueError(f"choose one of: {', '.join(CHOICES)}")
        else:
            await asyncio.to_thread(_check_known, request, intent)
            kind = "handler" if choice == "person" else choice
            target = PERSON if choice == "person" else str(form.get(choice, "")).strip() or None
            sure = await asyncio.to_thread(_kept_sure, store, intent, kind, target)
            await asyncio.to_thread(set_route, store, intent, kind, target, signed_in(request).name, sure,
                                    responder.handlers)
        responder.routing = routing_table(await asyncio.to_thread(store.mapping), responder.handlers)
    except (KnowledgeError, ValueError) as error:
        return await problem(request, 400, "Route not changed", str(error), back="/console/routing")
    raise see_other("/console/routing?done=routed")


def _kept_sure(store: RouteStore, intent: str, kind: str, target: str | None) -> float | None:
    """The ``sure`` of the intent's route now (staff's, else the shipped one) when the form keeps its
    handler: the page has no control for it, so a Save that changes nothing must not drop it
    (order_status's 0.7 would fall back to the global threshold)."""
    staff = {route.intent: route.spec() for route in store.list()}
    spec = staff.get(intent, shipped_routing().get(intent))
    if kind == "handler" and isinstance(spec, dict) and spec.get("handler") == target:
        sure = spec.get("sure")
        return float(sure) if isinstance(sure, (int, float)) else None
    return None


def _check_known(request: web.Request, intent: str) -> None:
    """Refuse (``RoutingError``) a route for an intent that neither the serving model, a review
    label nor a route knows: no message would be routed by it. A labelled intent the model lacks
    is allowed, so staff can route it before the retraining that teaches it."""
    model = _serving_intents(request)
    if not model or intent in model:
        return  # when the serving model's intents cannot be read there is nothing to judge by
    known = {*model, *reviews(request).labelled_intents(), *shipped_routing(),
             *RouteStore(request.config_dict[DATABASE]).mapping()} - {"oos"}
    if intent in known:
        return
    close = difflib.get_close_matches(intent, sorted(known), n=3)
    guess = f"; did you mean {' or '.join(map(repr, close))}?" if close else "."
    raise RoutingError(f"no intent {intent!r}: the serving model ({request.config_dict[KEEPER].current.version}) "
                       "does not know it and no review label or route uses it, so no message would be routed by it. "
                       "To route a new intent, label questions with it in the review queue first (the next "
                       f"retraining teaches it){guess}")


def _serving_intents(request: web.Request) -> set[str]:
    """The intents the serving bundle's model knows (none when its manifest cannot be read)."""
    version = request.config_dict[KEEPER].current.version
    try:
        return set(read_manifest(request.config_dict[SETTINGS].bundles_dir / version).intent.labels)
    except (BundleError, OSError):
        return set()
