"""``supportbot serve``: run the bot's web server (web chat, REST and admin API)."""
from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

PREFIX = "supportbot serve"
SWITCH_INTERVAL_S = 0.0005


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve", help="serve the web chat, the REST API and the admin API",
        description="Serve the bot: web chat at /, POST /api/chat, /admin/... (bearer token), "
                    "/healthz, /metrics.\n\nexample:\n  supportbot serve --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: the active one "
                        "in $SUPPORTBOT_DATA_DIR/bundles)")
    parser.add_argument("--db", help="database URL (default: $SUPPORTBOT_DB)")
    parser.add_argument("--host", help="default: $SUPPORTBOT_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: $SUPPORTBOT_PORT or 8080")
    parser.add_argument("--no-batching", action="store_true",
                        help="answer each message with its own model call (for comparison)")
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app
    from bot.core.elsewhere import OtherCompaniesError
    from bot.core.glossary import GlossaryError
    from bot.core.phrases import PhrasesError
    from bot.core.routing import RoutingError
    from bot.models.manifest import BundleError
    from bot.settings import Settings, SettingsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # None leaves a setting to the environment; --no-batching pins a batch of one, no wait.
        settings = Settings.from_env(bundle=args.bundle, db=args.db, host=args.host, port=args.port,
                                     max_batch=1 if args.no_batching else None,
                                     max_wait_ms=0.0 if args.no_batching else None)
    except SettingsError as error:
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    _require_schema(settings.database_url)
    # A thread waiting on the database gets the interpreter back within 0.5 ms, not Python's 5 ms:
    # a message waits on several such round trips while the event loop and inference run Python.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        app = create_app(settings)
        app.on_startup.append(_freeze_heap)  # last: after the models, the FAQ index and the rest are built
        print(f"supportbot: web chat at http://{_display_host(settings.host)}:{settings.port}/", flush=True)
        # No per-request access log: at hundreds of messages a second it costs real CPU, and
        # /metrics counts requests by route and status instead.
        web.run_app(app, host=settings.host, port=settings.port, print=None, shutdown_timeout=30,
                    access_log=None)
    except BundleError as error:
        raise SystemExit(f"{PREFIX}: error: {error} (build one with `make demo-bundle` or "
                         "`supportbot export`)") from None
    except (SettingsError, RoutingError, PhrasesError, OtherCompaniesError, GlossaryError) as error:  # also at start-up: a token Telegram rejects
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    return 0


async def _freeze_heap(_app: object) -> None:
    """Leave what start-up built out of the garbage collector's full passes.

    A full pass visits every object the process holds and stops every thread for its length:
    with the models, the FAQ index and the libraries loaded, 30-80 ms on 2 busy cores, up to
    three times in a 15 s run at 100 messages/s, each one a stall for every message in flight. Objects
    that live as long as the process need no visiting; what is made after start-up (a reloaded
    bundle's index, each message's garbage) still is."""
    gc.collect()
    gc.freeze()


def _require_schema(url: str) -> None:
    """Refuse to serve a database whose schema is not this release's, in one line that names the
    command to run. An empty database gets the schema here, once, before any request."""
    from sqlalchemy.exc import OperationalError

    from knowledge.database import Database
    from knowledge.migrations.history import SchemaError

    try:
        Database.open(url).close()
    except SchemaError as error:
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    except OperationalError as error:  # unreachable server, wrong password, unwritable file
        reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
        raise SystemExit(f"{PREFIX}: error: cannot open the database: {reason}") from None


def _display_host(host: str) -> str:
    return "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
