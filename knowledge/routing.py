"""The routes staff set: what the bot does with an intent, stored in the database.

The bot ships with a routing file (``bot/core/demo/routing.yaml``: ``intent: {handler: NAME} |
{faq: ID} | {search: true}``, read by ``bot.core.routing``). Staff change it without a deploy:
each route they set (``supportbot routing set``, the console's Routing page) is a row of the
``routes`` table and overlays the file's route for that intent; removing it brings the file's
back. ``mapping()`` gives the rows in the file's own shape, so the runtime merges the two and
parses the result with its one parser::

    base = read_routing_file(DEFAULT_ROUTING)
    table = parse_routing(overlay(base, RouteStore(database).mapping()), handler_names)

A route to a person is the handler ``human_handoff``. Handler names are checked by the caller
(the runtime knows its handlers); FAQ ids are checked here, against the FAQ in the same database.

Example::

    routes = RouteStore(database)
    routes.set("loyalty_programme", "faq", "loyalty-points", author="ana")
    routes.mapping()      # {"loyalty_programme": {"faq": "loyalty-points"}}
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy import delete, insert, select, update

from knowledge.conversations.reviews import INTENT_PATTERN
from knowledge.database import Database, faq_entries, routes
from knowledge.errors import KnowledgeError

KINDS = ("handler", "faq", "search")
PERSON = "human_handoff"  # the handler that hands the conversation to a person


class RoutingError(KnowledgeError):
    pass


@dataclass(frozen=True)
class StaffRoute:
    intent: str
    kind: str  # handler | faq | search
    target: str | None
    sure: float | None
    updated_by: str
    updated_at: str

    def spec(self) -> dict[str, object]:
        """The route in the routing file's shape, e.g. ``{"handler": "greeting", "sure": 0.6}``."""
        spec: dict[str, object] = {"search": True} if self.kind == "search" else {self.kind: self.target}
        if self.sure is not None:
            spec["sure"] = self.sure
        return spec

    def describe(self) -> str:
        if self.kind == "search":
            return "FAQ search"
        if self.kind == "faq":
            return f"FAQ entry {self.target}"
        return "a person" if self.target == PERSON else f"handler {self.target}"


class RouteStore:
    """The ``routes`` table: one route per intent that staff set."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def list(self) -> list[StaffRoute]:
        with self.database.connect() as conn:
            rows = conn.execute(select(routes).order_by(routes.c.intent)).mappings()
            return [StaffRoute(r["intent"], r["kind"], r["target"], r["sure"], r["updated_by"], r["updated_at"])
                    for r in rows]

    def mapping(self) -> dict[str, dict[str, object]]:
        """Every staff route in the routing file's shape, to overlay the file with."""
        return {route.intent: route.spec() for route in self.list()}

    def revision(self) -> str:
        """Changes whenever a route is set or removed: a replica reloads its table when it does."""
        return revision_of(self.mapping())

    def set(self, intent: str, kind: str, target: str | None, author: str, sure: float | None = None) -> StaffRoute:
        """Route ``intent``; replaces the route staff set before. Raises ``RoutingError``."""
        route = StaffRoute(intent.strip(), kind, (target or "").strip() or None, sure, author, _now())
        _check(route)
        with self.database.begin() as conn:
            if route.kind == "faq" and not conn.execute(select(faq_entries.c.faq_id).where(
                    faq_entries.c.faq_id == route.target, faq_entries.c.deleted.is_(False))).first():
                raise RoutingError(f"intent {route.intent!r}: no FAQ entry {route.target!r}")
            values = {"kind": route.kind, "target": route.target, "sure": route.sure,
                      "updated_by": author, "updated_at": route.updated_at}
            changed = conn.execute(update(routes).where(routes.c.intent == route.intent).values(**values)).rowcount
            if not changed:
                conn.execute(insert(routes).values(intent=route.intent, **values))
        return route

    def unset(self, intent: str) -> bool:
        """Remove the route staff set for ``intent`` (the file's route applies again); False if none."""
        with self.database.begin() as conn:
            return bool(conn.execute(delete(routes).where(routes.c.intent == intent)).rowcount)


def _check(route: StaffRoute) -> None:
    if not INTENT_PATTERN.match(route.intent):
        raise RoutingError(f"an intent is 1-100 printable characters without spaces, got {route.intent!r}")
    if route.kind not in KINDS:
        raise RoutingError(f"intent {route.intent!r}: unknown route {route.kind!r}; expected one of {', '.join(KINDS)}")
    if route.kind != "search" and not route.target:
        raise RoutingError(f"intent {route.intent!r}: a {route.kind} route needs a "
                           f"{'handler name' if route.kind == 'handler' else 'FAQ id'}")
    if route.sure is not None and (route.kind != "handler" or not 0 <= route.sure <= 1):
        raise RoutingError(f"intent {route.intent!r}: only a handler route takes sure, a probability from 0 to 1")


def read_routing_file(path: Path) -> dict[str, object]:
    """The routing file as a mapping (checked by ``bot.core.routing.parse_routing``, not here)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise RoutingError(f"{path}: cannot read the routing table: {error}") from None
    if not isinstance(data, dict):
        raise RoutingError(f"{path}: expected a mapping of intent -> route")
    return {str(intent): spec for intent, spec in data.items()}


def overlay(base: Mapping[str, object], staff: Mapping[str, object]) -> dict[str, object]:
    """The routing table the bot serves: the file's routes, each replaced by the one staff set."""
    return {**base, **staff}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def revision_of(mapping: Mapping[str, object]) -> str:
    """``RouteStore.revision`` of the routes ``mapping`` (as ``RouteStore.mapping`` returns them)."""
    return hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()[:16]
