"""The schema's history (Alembic revisions in ``versions/``) and where a database stands in it.

One revision per schema change: ``0001`` is the first release's schema, ``0002`` adds handoffs,
``0003`` related questions, ``0004`` routes staff set and retraining runs, ``0005`` the state
replicas share (dialogue memory, rate limits, claims).
A database records its revision in the ``alembic_version`` table. Releases before migrations
created their tables with ``create_all`` and recorded nothing: such a database is recognised by
its tables (``UNRECORDED``) and stamped with that revision before it is upgraded.

Only ``upgrade`` changes a schema: ``supportbot db upgrade`` calls it, and ``Database.open``
calls it for an empty database. A database with tables that is behind is never migrated
behind anyone's back; ``require_current`` says which command to run.

Example::

    engine = create_engine("sqlite:///data/supportbot.db")
    with engine.connect() as connection:
        schema_state(connection)    # SchemaState(revision='0001', head='0002', recorded=False)
    upgrade(engine)                 # stamps 0001, then runs 0002
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from knowledge.errors import KnowledgeError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic announces each of its plugins at INFO level as it loads them: noise in a server's log.
# Set before the first use, which is why alembic is imported inside the functions below.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

LOCATION = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
UPGRADE_COMMAND = "supportbot db upgrade"
# Held on PostgreSQL for the whole migration, so replicas that start together on an empty
# database (or two upgrades run at once) take turns instead of racing to create the same tables.
# Any fixed number does: it names this lock among the database's advisory locks.
LOCK_KEY = 0x5B07_0001

FIRST_RELEASE_TABLES = frozenset({
    "faq_entries", "faq_revisions", "conversations", "turns", "feedback", "staff_relays", "staff",
    "staff_sessions", "review_labels",
})
# The revision each release without ``alembic_version`` stands at, told by its tables; newest first.
UNRECORDED: tuple[tuple[str, frozenset[str]], ...] = (
    ("0002", FIRST_RELEASE_TABLES | {"handoffs", "handoff_events"}),
    ("0001", FIRST_RELEASE_TABLES),
)
KNOWN_TABLES = UNRECORDED[0][1]


class SchemaError(KnowledgeError):
    """The database's schema is not the one this release works with; the message says why and
    what to run."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its ``revision`` (None when it has none of our tables) against
    this release's ``head``; ``recorded`` when the database records it (else it was recognised
    by its tables)."""

    revision: str | None
    head: str
    recorded: bool

    @property
    def is_current(self) -> bool:
        return self.recorded and self.revision == self.head

    @property
    def is_empty(self) -> bool:
        return self.revision is None

    @property
    def is_known(self) -> bool:
        """False when a newer release upgraded the database past anything this one knows."""
        return self.revision is None or self.revision in known_revisions()

    def describe(self) -> str:
        """One line for people: ``"0001 (recognised by its tables); this release's is 0002"``."""
        if self.revision is None:
            return "empty (no tables yet)"
        if self.is_current:
            return f"{self.revision} (current)"
        return f"{self.revision}{self.note()}; this release's is {self.head}"

    def note(self) -> str:
        """How the revision was found, when the database does not record it."""
        return "" if self.recorded else " (recognised by its tables; no revision recorded)"


@dataclass(frozen=True)
class Upgrade:
    before: SchemaState
    after: SchemaState

    @property
    def changed(self) -> bool:
        return self.before != self.after


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(LOCATION))


def head_revision() -> str:
    """The newest revision; a history with two heads (unmerged branches) is an error."""
    heads = _scripts().get_heads()
    if len(heads) != 1:
        raise SchemaError(f"the migration history has {len(heads)} heads ({', '.join(sorted(heads))}); "
                          "it needs exactly one: add a revision whose down_revision names them all")
    return heads[0]


def known_revisions() -> list[str]:
    """Every revision, oldest first: ``["0001", "0002"]``."""
    return [script.revision for script in reversed(list(_scripts().walk_revisions()))]


def revision_summary(revision: str) -> str:
    """The first line of the revision's docstring: what it changed."""
    doc = _scripts().get_revision(revision).doc or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def schema_state(connection: Connection) -> SchemaState:
    """Read where the database stands; a SchemaError when its tables fit no release."""
    names = set(inspect(connection).get_table_names())
    head = head_revision()
    if VERSION_TABLE in names:
        recorded = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
        if len(recorded) > 1:
            raise SchemaError(f"the database records {len(recorded)} schema revisions ({', '.join(recorded)}); "
                              "this release has one line of history")
        if recorded:
            return SchemaState(str(recorded[0]), head, recorded=True)
    if not names & KNOWN_TABLES:
        return SchemaState(None, head, recorded=False)
    for revision, tables in UNRECORDED:
        if tables <= names:
            return SchemaState(revision, head, recorded=False)
    missing = ", ".join(sorted(UNRECORDED[-1][1] - names))
    raise SchemaError(f"the database has some of supportbot's tables but not those of any release "
                      f"(missing: {missing}) and records no schema revision; restore it from a backup "
                      "or point SUPPORTBOT_DB at an empty database")


def require_current(state: SchemaState) -> None:
    """Raise a SchemaError, naming the command to run, unless the schema is this release's."""
    if state.is_current:
        return
    if not state.is_known:
        raise SchemaError(f"the database schema is at revision {state.revision}, which this release does not "
                          f"know (it knows up to {state.head}): a newer release upgraded it; run that release")
    if state.is_empty:
        raise SchemaError(f"the database has no tables yet: run `{UPGRADE_COMMAND}` first")
    raise SchemaError(f"the database schema is at revision {state.revision}{state.note()}, behind this "
                      f"release's {state.head}: run `{UPGRADE_COMMAND}` first")


def upgrade(engine: Engine, target: str = "head") -> Upgrade:
    """Bring the database to ``target`` in one transaction (on engines whose DDL is transactional),
    first stamping a database that records no revision with the one its tables show."""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        before = schema_state(connection)
        if not before.is_known:
            require_current(before)  # says which release upgraded it
        config = _config(connection)
        if before.revision is not None and not before.recorded:
            command.stamp(config, before.revision)
        command.upgrade(config, target)
        after = schema_state(connection)
    return Upgrade(before, after)


def prepare(engine: Engine) -> SchemaState:
    """What ``Database.open`` runs: an empty database gets this release's schema (as
    ``supportbot db upgrade`` would give it); any other must be current already."""
    with engine.connect() as connection:
        state = schema_state(connection)
    if state.is_empty:
        state = upgrade(engine).after
    require_current(state)
    return state


def draft_revision(engine: Engine, message: str) -> Path:
    """Write the next revision's script, drafted from what ``knowledge.database.metadata`` has
    and ``engine``'s database (at head) lacks; a person reads and finishes it."""
    from alembic import command

    number = f"{int(head_revision()) + 1:04d}"
    with engine.begin() as connection:
        require_current(schema_state(connection))
        script = command.revision(_config(connection), message=message, autogenerate=True, rev_id=number)
    if script is None or isinstance(script, list):
        raise SchemaError("alembic drafted no single revision")
    return Path(script.path)


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(LOCATION))
    config.attributes["connection"] = connection
    return config
