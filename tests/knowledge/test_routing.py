"""Routes staff set: stored in the database, in the routing file's shape, overlaying the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.handlers import builtin_handlers
from bot.core.routing import DEFAULT_ROUTING, Route, parse_routing
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore
from knowledge.routing import RouteStore, RoutingError, overlay, read_routing_file


@pytest.fixture()
def routes(tmp_path: Path) -> RouteStore:
    database = Database.open(f"sqlite:///{tmp_path / 'kb.db'}")
    FaqStore(database).add(FaqEntry("loyalty-points", "How do loyalty points work?", "One per euro."), "ana")
    return RouteStore(database)


def test_staff_routes_overlay_the_file_and_parse_as_the_runtime_parses(routes: RouteStore) -> None:
    before = routes.revision()
    routes.set("loyalty_programme", "faq", "loyalty-points", "ana")
    routes.set("wholesale", "handler", "human_handoff", "ana")
    routes.set("greeting", "handler", "greeting", "bo", sure=0.7)
    assert routes.revision() != before
    assert routes.mapping() == {"greeting": {"handler": "greeting", "sure": 0.7},
                                "loyalty_programme": {"faq": "loyalty-points"},
                                "wholesale": {"handler": "human_handoff"}}
    handlers = {*builtin_handlers(), "order_status"}
    table = parse_routing(overlay(read_routing_file(DEFAULT_ROUTING), routes.mapping()), handlers)
    assert table.route_for("loyalty_programme") == Route("faq", "loyalty-points")
    assert table.route_for("wholesale") == Route("handler", "human_handoff")
    assert table.route_for("greeting") == Route("handler", "greeting", 0.7)
    assert table.route_for("thanks") == Route("handler", "thanks")  # the file's route stays
    routes.set("wholesale", "search", None, "bo")  # replaced
    assert routes.mapping()["wholesale"] == {"search": True} and [r.updated_by for r in routes.list()][-1] == "bo"
    assert routes.unset("wholesale") and not routes.unset("wholesale")


@pytest.mark.parametrize(("intent", "kind", "target", "sure", "message"), [
    ("two words", "faq", "loyalty-points", None, "without spaces"),
    ("x", "teleport", "y", None, "unknown route 'teleport'"),
    ("x", "faq", None, None, "a faq route needs a FAQ id"),
    ("x", "faq", "no-such-entry", None, "no FAQ entry 'no-such-entry'"),
    ("x", "faq", "loyalty-points", 0.5, "only a handler route takes sure"),
    ("x", "handler", "greeting", 1.5, "a probability from 0 to 1"),
])
def test_bad_routes_are_refused(routes: RouteStore, intent: str, kind: str, target: str | None,
                                sure: float | None, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        routes.set(intent, kind, target, "ana", sure)
    assert routes.list() == []


def test_retraining_reads_the_routing_file_the_bot_serves() -> None:
    from training.retrain_cli import SHIPPED_ROUTING

    assert SHIPPED_ROUTING == DEFAULT_ROUTING
