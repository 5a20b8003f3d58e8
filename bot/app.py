"""The aiohttp application: web chat, REST API, admin API, health and metrics.

``create_app(settings)`` opens everything in ``cleanup_ctx`` (database, model, FAQ index,
micro-batchers) and closes it in reverse order; on shutdown in-flight messages finish and
their turns are written before the database closes.

Example::

    web.run_app(create_app(Settings.from_env()), host="127.0.0.1", port=8080)
"""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from bot.admin.api import add_admin_routes, require_token
from bot.channels.telegram import add_telegram
from bot.channels.web import add_routes
from bot.console.routing import routing_table
from bot.console.site import add_console
from bot.core.batcher import Batcher
from bot.core.brain import BrainKeeper, BundleModel, Model
from bot.core.elsewhere import DEFAULT_OTHER_COMPANIES, OtherCompanies, OtherCompaniesError, load_other_companies
from bot.core.followups import holds_on
from bot.core.glossary import DEFAULT_GLOSSARY, Glossary, GlossaryError, load_glossary
from bot.core.handlers import Handler, builtin_handlers
from bot.core.handoff import HandoffDesk
from bot.core.hours import StaffedHours, away_text, staffed_hours_from
from bot.core.housekeeping import Housekeeping
from bot.core.orders import DEMO_ORDERS, OrderBook, find_order_number, order_status_handler, tells_no_number
from bot.core.phrases import DEFAULT_PHRASES, Phrases, PhrasesError, load_phrases
from bot.core.related import RelatedQuestions
from bot.core.responder import Responder
from bot.core.routing import DEFAULT_ROUTING, RoutingError, RoutingTable, load_routing
from bot.core.sessions import Sessions
from bot.core.webhook import Webhook
from bot.follower import Follower
from bot.http import forwarded_middleware
from bot.keys import CONVERSATIONS, DATABASE, DESK, KEEPER, METRICS, RESPONDER, SETTINGS, STORE
from bot.metrics import Metrics
from bot.models.bundle import load_bundle
from bot.models.store import resolve_current
from bot.settings import PREFIX, Settings
from knowledge.conversations.dialogue import DialogueStates
from knowledge.conversations.handoffs import Handoffs
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.related import RelatedLinks
from knowledge.faq.store import FaqStore
from knowledge.routing import RouteStore, revision_of

log = logging.getLogger(__name__)
T = TypeVar("T")
ModelLoader = Callable[[Settings], Model]


def load_model(settings: Settings) -> Model:
    """The bundle named in the settings, else the active one in ``data_dir/bundles``."""
    path = settings.bundle or resolve_current(settings.bundles_dir)
    return BundleModel(load_bundle(path, threads=settings.threads))


def demo_handlers() -> dict[str, Handler]:
    return {**builtin_handlers(), "order_status": order_status_handler(OrderBook.from_csv(DEMO_ORDERS))}


def _named_file(load: Callable[[Path], T], path: Path | None, default: Path, setting: str) -> T:
    """A word list from the file a setting names (its errors name the setting too), else the demo's."""
    if path is None:
        return load(default)
    try:
        return load(path)
    except (PhrasesError, OtherCompaniesError, GlossaryError) as error:
        raise type(error)(f"{PREFIX}{setting}: {error}") from None


def _check_phrases(phrases: Phrases, model: Model, routing: RoutingTable) -> None:
    """Warn of phrases for an intent neither the model nor the routing knows (a typo: "thank"
    for "thanks"); their messages are read as that intent, which routes to FAQ search."""
    known = set(model.infer(["hello"]).intents.labels) | set(routing.routes)
    for intent in sorted(set(phrases.listed) - known):
        log.warning("the intent phrases list %r, an intent neither the model nor the routing knows: "
                    "its phrases are answered by FAQ search", intent)


def _check_glossary(glossary: Glossary, entries: Iterable[FaqEntry]) -> None:
    """Warn of glossary words the FAQ itself uses ("gift" listed as German for poison): a
    customer's English message with them would be read as another language."""
    found = glossary.found_in(text for entry in entries for text in (*entry.phrasings(), entry.answer))
    if found:
        log.warning("the glossary (%s) lists words the FAQ itself uses, so English messages with them are read "
                    "as another language (%d): %s", glossary.source, len(found), ", ".join(found[:20]))


def create_app(settings: Settings, model_loader: ModelLoader = load_model,
               handlers: dict[str, Handler] | None = None,
               routing: RoutingTable | None = None, phrases: Phrases | None = None,
               others: OtherCompanies | None = None, glossary: Glossary | None = None) -> web.Application:
    """The bot's web application; see the module docstring."""
    handlers = demo_handlers() if handlers is None else handlers
    shipped = routing or load_routing(DEFAULT_ROUTING, handlers)
    phrases = _named_file(load_phrases, settings.phrases_file, DEFAULT_PHRASES, "PHRASES_FILE") \
        if phrases is None else phrases
    others = _named_file(load_other_companies, settings.other_companies_file, DEFAULT_OTHER_COMPANIES,
                         "OTHER_COMPANIES_FILE") if others is None else others
    glossary = _named_file(load_glossary, settings.glossary_file, DEFAULT_GLOSSARY, "GLOSSARY_FILE") \
        if glossary is None else glossary
    hours = staffed_hours_from(settings)  # a SettingsError names the variable
    forwarded = forwarded_middleware(settings.trusted_networks, settings.trust_forwarded_proto)
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[forwarded, json_errors, require_token])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()

    async def resources(app: web.Application) -> AsyncIterator[None]:
        import asyncio

        database = Database.open(settings.database_url)
        await asyncio.to_thread(database.fill_pool)  # before the first message, not during it
        store, conversations = FaqStore(database), ConversationLog(database)
        model = await asyncio.to_thread(model_loader, settings)
        keeper = await BrainKeeper.open(settings, store, model)
        turn_log: Batcher[TurnRecord, int] = Batcher(conversations.record, max_batch=512, max_wait_ms=0,
                                                     name="turn-log")
        webhook = Webhook(settings.handoff_webhook_url, settings.handoff_webhook_secret) \
            if settings.handoff_webhook_url else None
        related = RelatedQuestions(RelatedLinks(database), settings.related_questions)
        desk = HandoffDesk(Handoffs(database), away=functools.partial(_away, hours),
                           notify=webhook.send if webhook else None)
        sessions = Sessions(DialogueStates(database), settings.rate_limit_per_minute)
        routes_seen, served = (None, routing) if routing is not None else \
            await asyncio.to_thread(_staff_routing, database, shipped, handlers)
        housekeeping = Housekeeping(database)
        responder = Responder(settings, keeper, served, handlers, sessions,
                              turn_log, app[METRICS], desk,
                              related=related, history=conversations.customer_texts,
                              entities=[(find_order_number, "order_status")], phrases=phrases,
                              others=others, replies=[(tells_no_number, "order_status"), (holds_on, "order_status")], glossary=glossary)
        await turn_log.start()
        await sessions.start()
        await housekeeping.start()
        await desk.start()
        await related.start(keeper.current)  # the first answer offers related questions too
        if webhook is not None:
            await webhook.start()
        await responder.start()
        follower = Follower(settings, store, keeper, responder, desk, app[METRICS])  # changes made elsewhere
        await follower.start(routes_seen)
        app[DATABASE], app[STORE], app[CONVERSATIONS] = database, store, conversations
        app[KEEPER], app[RESPONDER], app[DESK] = keeper, responder, desk
        app[METRICS].set_bundle(keeper.current.version)
        log.info("serving bundle %s with %d FAQ entries", keeper.current.version, len(keeper.current.entries))
        _check_phrases(phrases, model, served)
        _check_glossary(glossary, keeper.current.entries.values())
        yield
        await follower.close()
        await responder.close()  # in-flight messages finish first ...
        await turn_log.close()  # ... and their turns are written
        await sessions.close()
        await housekeeping.close()
        await desk.shutdown()
        await related.close()
        if webhook is not None:
            await webhook.close()  # bounded: a helpdesk that does not answer cannot hold up the stop
        keeper.close()
        database.close()

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(_end_streams)
    add_routes(app)
    add_admin_routes(app)
    add_console(app)  # the staff console at /console
    add_telegram(app)  # only when SUPPORTBOT_TELEGRAM_TOKEN is set
    return app


def _staff_routing(database: Database, shipped: RoutingTable,
                   handlers: dict[str, Handler]) -> tuple[str, RoutingTable]:
    """(the staff routes' revision, the table to serve): the shipped routing overlaid by the routes
    staff stored, so a replica started after a route was set serves it from its first message.
    Routes that no longer load (a handler this release lacks) are named in the log, and the
    shipped table is served until staff fix them on the console's Routing page."""
    mapping = RouteStore(database).mapping()
    revision = revision_of(mapping)
    if not mapping:
        return revision, shipped
    try:
        return revision, routing_table(mapping, handlers)
    except RoutingError as error:
        log.error("the routes staff set do not load (%s): serving the shipped routing until they are fixed "
                  "on the console's Routing page", error)
        return revision, shipped


def _away(hours: StaffedHours) -> str | None:
    """What the bot says about people outside staffed hours; None while they are in."""
    now = datetime.now(UTC)
    return None if hours.is_open(now) else away_text(hours, now)


async def _end_streams(app: web.Application) -> None:
    """Shutting down: live event streams (web chat, inbox) end now instead of holding it up."""
    if DESK in app:
        app[DESK].wakeups.close()


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Count requests; turn an unexpected error into a JSON 500 that leaks nothing."""
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unknown"
    try:
        response = await handler(request)
    except web.HTTPException as error:
        request.app[METRICS].requests.labels(route=route, status=str(error.status)).inc()
        raise
    except ConnectionResetError:
        if request.transport is not None and not request.transport.is_closing():
            raise  # not the client's own connection: a real error, logged by aiohttp
        # The client went away mid-request (its body cut off, or it stopped waiting): routine on
        # the internet, not an error. Nobody is left to read a response.
        log.info("client closed the connection during %s %s", request.method, route)
        request.app[METRICS].requests.labels(route=route, status="499").inc()
        return web.Response(status=499, text="client closed the request")
    except Exception:
        log.exception("internal error on %s %s", request.method, route)  # no body: it may hold user text
        request.app[METRICS].requests.labels(route=route, status="500").inc()
        return web.json_response({"error": "internal error"}, status=500,
                                 dumps=json.dumps)
    request.app[METRICS].requests.labels(route=route, status=str(response.status)).inc()
    return response
