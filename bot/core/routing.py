"""The routing table: for each intent, a handler to run, a FAQ entry to answer, or FAQ search.

Data, not code: a YAML mapping ``intent: {handler: NAME} | {faq: ID} | {search: true}``.
Intents that are not listed go to FAQ search. A handler route may say how confident its intent
must be to win over a clear FAQ answer (``sure: 0.6``; else ``SUPPORTBOT_HANDLER_SURE_THRESHOLD``).

Example::

    table = load_routing(Path("routing.yaml"), handler_names={"greeting", "goodbye"})
    table.route_for("greeting")      # Route(kind="handler", target="greeting")
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.core.config_file import read_yaml

DEFAULT_ROUTING = Path(__file__).resolve().parent / "demo" / "routing.yaml"


class RoutingError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    kind: str  # "handler" | "faq" | "search"
    target: str | None = None
    sure: float | None = None  # a handler intent this confident beats a clear FAQ answer (None: the global)


SEARCH = Route("search")


@dataclass(frozen=True)
class RoutingTable:
    routes: Mapping[str, Route]

    def route_for(self, intent: str | None) -> Route:
        return self.routes.get(intent or "", SEARCH)

    def handler_intents(self) -> set[str]:
        return {intent for intent, route in self.routes.items() if route.kind == "handler"}


def parse_routing(data: object, handler_names: Iterable[str], source: str = "routing") -> RoutingTable:
    """Check a routing mapping against the known handlers; errors name the intent."""
    if not isinstance(data, dict):
        raise RoutingError(f"{source}: expected a mapping of intent -> route")
    known = set(handler_names)
    routes: dict[str, Route] = {}
    for intent, raw in data.items():
        spec = dict(raw) if isinstance(raw, dict) else raw
        sure = spec.pop("sure", None) if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or len(spec) != 1:
            raise RoutingError(f"{source}: intent {intent!r}: expected one of "
                               "{handler: NAME}, {faq: ID}, {search: true} (a handler may add sure: P)")
        if sure is not None and (isinstance(sure, bool) or not isinstance(sure, int | float) or not 0 <= sure <= 1):
            raise RoutingError(f"{source}: intent {intent!r}: sure must be a probability from 0 to 1")
        (kind, target), = spec.items()
        if kind == "handler" and target not in known:
            raise RoutingError(f"{source}: intent {intent!r}: unknown handler {target!r}; "
                               f"known: {', '.join(sorted(known))}")
        if kind not in ("handler", "faq", "search"):
            raise RoutingError(f"{source}: intent {intent!r}: unknown route {kind!r}")
        if sure is not None and kind != "handler":
            raise RoutingError(f"{source}: intent {intent!r}: only a handler route takes sure")
        routes[str(intent)] = SEARCH if kind == "search" else Route(
            kind, str(target), float(sure) if sure is not None else None)
    return RoutingTable(routes)


def load_routing(path: Path, handler_names: Iterable[str]) -> RoutingTable:
    data = read_yaml(path, RoutingError, "the routing table")
    return parse_routing(data, handler_names, str(path))
