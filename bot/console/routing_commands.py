"""``supportbot routing``: what the bot does with each intent, changed without a deploy.

The routes staff set live in the database (``knowledge.routing``) and overlay the routing file
the bot ships with; ``set`` checks the whole table with the runtime's own parser, so a route
the bot could not load is refused here. A route to a person is the ``human_handoff`` handler.

Example::

    $ supportbot routing set loyalty_programme --faq loyalty-points
    $ supportbot routing set wholesale --person
    $ supportbot routing list
"""
from __future__ import annotations

import argparse
import getpass
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported inside the handlers at run time: ``--help`` stays quick
    from knowledge.database import Database

PREFIX = "supportbot routing"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``routing`` and its sub-commands to the root parser."""
    routing = commands.add_parser("routing", help="what the bot does with each intent: a handler, a FAQ entry, "
                                                  "FAQ search or a person",
                                  description="The routing table: the shipped routing file, overlaid by the routes "
                                              "staff set (stored in the database, read by the bot).")
    routing.add_argument("--db", help="database URL (default: $SUPPORTBOT_DB)")
    sub = routing.add_subparsers(dest="routing_command", metavar="COMMAND")
    listed = sub.add_parser("list", help="every intent's route and where it comes from",
                            description="Every routed intent: its route, and whether staff set it.\n\nexample:\n"
                                        "  supportbot routing list", formatter_class=argparse.RawDescriptionHelpFormatter)
    listed.set_defaults(run=run_list)
    change = sub.add_parser("set", help="route an intent", description="Route an intent to a handler, one FAQ "
                            "entry, FAQ search, or a person.\n\nexample:\n  supportbot routing set loyalty_programme "
                            "--faq loyalty-points\n  supportbot routing set wholesale --person",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    change.add_argument("intent")
    target = change.add_mutually_exclusive_group(required=True)
    target.add_argument("--handler", metavar="NAME", help="run this handler (greeting, order_status, ...)")
    target.add_argument("--faq", metavar="FAQ_ID", help="answer with this FAQ entry")
    target.add_argument("--search", action="store_true", help="search the FAQ (what an unrouted intent gets)")
    target.add_argument("--person", action="store_true", help="hand the conversation to a person")
    change.add_argument("--sure", type=float, metavar="P", help="a handler intent this confident beats a clear "
                        "FAQ answer")
    change.add_argument("--author", help="name recorded with the change (default: $USER)")
    change.set_defaults(run=run_set)
    unset = sub.add_parser("unset", help="remove the route staff set: the shipped file's route applies again",
                           description="Remove the route staff set for an intent.\n\nexample:\n"
                                       "  supportbot routing unset wholesale",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    unset.add_argument("intent")
    unset.set_defaults(run=run_unset)
    routing.set_defaults(run=None)


def run_list(args: argparse.Namespace) -> int:
    from bot.console.routing import describe_spec, shipped_routing
    from knowledge.routing import RouteStore

    with _open(args) as database:
        staff = {route.intent: route for route in RouteStore(database).list()}
    shipped = shipped_routing()
    for intent in sorted({*shipped, *staff}):
        if intent in staff:
            route = staff[intent]
            print(f"{intent}\t{route.describe()}\tset by {route.updated_by} {route.updated_at[:16].replace('T', ' ')}")
        else:
            print(f"{intent}\t{describe_spec(shipped[intent])}\tshipped")
    return 0


def run_set(args: argparse.Namespace) -> int:
    from bot.console.routing import set_route
    from knowledge.errors import KnowledgeError
    from knowledge.routing import PERSON, RouteStore

    kind, target = ("handler", PERSON) if args.person else ("handler", args.handler) if args.handler else \
        ("faq", args.faq) if args.faq else ("search", None)
    author = args.author or os.environ.get("USER") or getpass.getuser() or "cli"
    with _open(args) as database:
        try:
            route = set_route(RouteStore(database), args.intent, kind, target, author, args.sure)
        except (KnowledgeError, ValueError) as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
    print(f"{route.intent} -> {route.describe()}; a running bot picks it up on its next routing refresh")
    return 0


def run_unset(args: argparse.Namespace) -> int:
    from knowledge.routing import RouteStore

    with _open(args) as database:
        if not RouteStore(database).unset(args.intent):
            raise SystemExit(f"{PREFIX}: error: staff set no route for {args.intent!r}")
    print(f"{args.intent}: the shipped route applies again")
    return 0


def _open(args: argparse.Namespace) -> Database:
    """The database ``--db`` names; a path in no directory or an old schema is one error line."""
    from knowledge.database import open_database

    return open_database(args.db, PREFIX)
