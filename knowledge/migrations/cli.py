"""``supportbot db``: the database's schema revision, and upgrading it.

Example::

    $ supportbot db current
    0001 (no revision recorded; recognised by its tables), this release's is 0002
    $ supportbot db upgrade
    upgraded sqlite:///data/supportbot.db from 0001 to 0002
"""
from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

from sqlalchemy.engine import make_url

from knowledge.database import Database
from knowledge.errors import KnowledgeError
from knowledge.location import database_url

PREFIX = "supportbot db"
Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="the database's schema: show its revision, upgrade it",
                             description="The database schema is versioned (Alembic): upgrade it once per "
                                         "release, before the new release serves.")
    db.add_argument("--db", help="database URL or SQLite file (default: $SUPPORTBOT_DB, "
                                 "else $SUPPORTBOT_DATA_DIR/supportbot.db)")
    sub = db.add_subparsers(dest="db_command", metavar="COMMAND")
    upgrade = sub.add_parser("upgrade", help="bring the schema to this release's revision",
                             description="Create the tables in an empty database, or run the migrations a "
                                         "database is behind, in one transaction (PostgreSQL). A database made "
                                         "before revisions were recorded is recognised by its tables first."
                                         "\n\nexample:\n  supportbot db upgrade\n  supportbot db --db "
                                         "postgresql+psycopg://bot@db/supportbot upgrade",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    upgrade.set_defaults(run=_guarded(run_upgrade))
    current = sub.add_parser("current", help="print the schema revision (exit status 1 unless current)",
                             description="Print the database's schema revision and this release's; the exit "
                                         "status is 0 only when they agree.\n\nexample:\n  supportbot db current",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    current.set_defaults(run=_guarded(run_current))
    history = sub.add_parser("history", help="list the schema revisions, oldest first",
                             description="Every schema revision this release knows, oldest first.\n\n"
                                         "example:\n  supportbot db history",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    history.set_defaults(run=_guarded(run_history))
    revision = sub.add_parser("revision", help="(development) draft the next revision from the tables' changes",
                              description="Compare knowledge/database.py with a database at the newest revision "
                                          "and write the next revision script into knowledge/migrations/versions/ "
                                          "for you to read and finish.\n\nexample:\n  supportbot db revision "
                                          "\"turns: add language\"",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    revision.add_argument("message", help="what the revision changes, in a few words")
    revision.set_defaults(run=_guarded(run_revision))
    db.set_defaults(run=None)


def _guarded(run: Handler) -> Handler:
    """Turn the knowledge package's errors into one ``supportbot db: error: ...`` line."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None

    return handler


def run_upgrade(args: argparse.Namespace) -> int:
    from knowledge.migrations.history import upgrade

    url = database_url(args.db)
    with Database.open_as_is(url) as database:
        done = upgrade(database.engine)
    shown = make_url(url).render_as_string(hide_password=True)
    if not done.changed:
        print(f"{shown} is at {done.after.describe()}")
    else:
        print(f"upgraded {shown} from {done.before.revision or 'empty'} to {done.after.revision}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from knowledge.migrations.history import schema_state

    with Database.open_as_is(database_url(args.db)) as database, database.connect() as connection:
        state = schema_state(connection)
    print(state.describe())
    return 0 if state.is_current else 1


def run_history(args: argparse.Namespace) -> int:
    from knowledge.migrations.history import known_revisions, revision_summary

    for revision in known_revisions():
        print(f"{revision}\t{revision_summary(revision)}")
    return 0


def run_revision(args: argparse.Namespace) -> int:
    from knowledge.migrations.history import draft_revision

    with tempfile.TemporaryDirectory() as scratch, Database.open(f"sqlite:///{scratch}/head.db") as database:
        path = draft_revision(database.engine, args.message)
    print(f"drafted {path}: read it, finish it, then run the migration tests")
    return 0
