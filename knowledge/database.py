"""The one database: FAQ entries and revisions, conversations, turns, feedback, review labels, staff, handoffs.

SQLite in WAL mode by default; PostgreSQL (``postgresql+psycopg://...``) when several bot
replicas share one database. ``Database`` below owns the connection; the tables are the schema
every store shares, at the newest revision of ``knowledge/migrations`` (a test fails when the
two differ: a change here needs its revision there).
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    exc,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from knowledge.errors import KnowledgeError
from knowledge.location import database_url

metadata = MetaData()

faq_entries = Table(
    "faq_entries",
    metadata,
    Column("faq_id", String(64), primary_key=True),
    Column("question", Text, nullable=False),
    Column("alternatives", Text, nullable=False),  # JSON list of strings
    Column("answer", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list of strings
    Column("language", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# One row per change. ``id`` orders every change in the knowledge base: the highest id is the
# FAQ revision an index was built from.
faq_revisions = Table(
    "faq_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("faq_id", String(64), ForeignKey("faq_entries.faq_id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # create, edit, remove, restore, revert, import
    Column("author", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("before", Text),  # JSON content before the change, NULL when created
    Column("after", Text),  # JSON content after the change, NULL when removed
    Index("ix_faq_revisions_entry", "faq_id", "revision", unique=True),
)


conversations = Table(
    "conversations",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    # Kept in step with ``handoffs`` below (True while one is open); ``handoffs`` is what counts.
    Column("handoff", Boolean, nullable=False, default=False),
    Column("handoff_at", String(40)),
)

# One row per message the bot answered. ``review`` is "pending" for turns staff should look at
# (fallbacks, low confidence, thumbs down, handoffs), then what staff decided.
turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("action", String(16), nullable=False),  # answer, clarify, fallback, handler, rejected
    Column("intent", String(100)),
    Column("confidence", Float),
    Column("in_scope", Boolean),
    Column("faq_id", String(64)),
    Column("faq_score", Float),
    Column("choices", Text),  # JSON list of offered FAQ ids
    Column("reply", Text, nullable=False),
    Column("bundle_version", String(100)),
    Column("latency_ms", Float, nullable=False),
    Column("review", String(16)),
    # The client's key for the message (the Idempotency-Key header): a message sent again, by the
    # customer or by a proxy retrying after a replica died, is stored once (None: no key given).
    Column("message_id", String(64)),
    Index("ix_turns_session", "session_id", "id"),
    Index("ix_turns_review", "review", "id"),
    Index("ux_turns_message", "session_id", "message_id", unique=True),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id"), nullable=False, unique=True),
    Column("value", Integer, nullable=False),  # +1 helpful, -1 not helpful
    Column("created_at", String(40), nullable=False),
)


# A conversation handed to a person (``knowledge.conversations.handoffs``): ``waiting`` for one,
# ``with_staff`` once claimed, ``closed`` when staff gave it back to the bot. ``open_session`` is
# the session id while the handoff is open and NULL once closed: its unique constraint allows one
# open handoff per conversation on every engine (both SQLite and PostgreSQL allow many NULLs).
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("open_session", String(128), unique=True),
    Column("channel", String(32), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # waiting, with_staff, closed
    Column("opened_at", String(40), nullable=False),
    Column("claimed_by", String(200)),
    Column("claimed_at", String(40)),
    Column("first_reply_at", String(40)),
    Column("closed_at", String(40)),
    Column("closed_by", String(200)),
    Index("ix_handoffs_state", "state", "opened_at"),
    Index("ix_handoffs_session", "session_id", "id"),
)

# What happened in a handoff besides the customer's own messages (those are turns with action
# ``relayed``): opened, claimed, a staff message, closed. With the turns, the transcript.
handoff_events = Table(
    "handoff_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("handoff_id", Integer, ForeignKey("handoffs.id"), nullable=False),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # opened, claimed, message, closed
    Column("author", String(200), nullable=False),
    Column("source", String(16), nullable=False),  # bot, console, api, telegram
    Column("text", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_handoff_events_session", "session_id", "id"),
)

# Messages in a staff chat that stand for a conversation handed to a person: the request with
# its transcript, each customer message relayed there, and the staff's replies. A staff reply to
# any of them reaches that customer. Whether a person has the conversation is ``handoffs``.
# Chat ids are text: Telegram's need 64 bits, other channels use names.
staff_relays = Table(
    "staff_relays",
    metadata,
    Column("staff_chat", String(64), primary_key=True),
    Column("staff_message_id", Integer, primary_key=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("user_chat", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)


# "People also ask" after an answer, per FAQ entry: ``auto`` (chosen from the FAQ's meaning and
# from what customers asked next), ``off``, or ``pinned`` (the listed entries first). Entries
# without a row are ``auto``.
faq_related = Table(
    "faq_related",
    metadata,
    Column("faq_id", String(64), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("pinned", Text, nullable=False),  # JSON list of FAQ ids
    Column("updated_at", String(40), nullable=False),
    Column("updated_by", String(200), nullable=False),
)


# Support staff who sign in to the console (``supportbot staff add NAME``). The password is
# stored as a salted scrypt hash only.
staff = Table(
    "staff",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

# Signed-in console sessions. Only the sha256 of the cookie's token is stored, so a copy of
# the database cannot be used to sign in; ``csrf_token`` must come back with every change.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(64), ForeignKey("staff.name"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

# What staff decided about a queued turn (see ``knowledge.conversations.reviews``): the turn's text is copied
# so retraining reads labels without joining the conversation log.
review_labels = Table(
    "review_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # faq, new_faq, intent, out_of_scope, dismissed
    Column("value", String(100)),  # the FAQ id or the intent label
    Column("author", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_review_labels_created", "created_at"),
    Index("ix_review_labels_turn", "turn_id"),
)


# What the bot does with an intent, as staff set it (``knowledge.routing``): these rows overlay
# the routing file the bot ships with. ``kind`` is handler, faq or search; ``target`` the handler
# name or FAQ id; ``sure`` how confident a handler intent must be to beat a clear FAQ answer.
routes = Table(
    "routes",
    metadata,
    Column("intent", String(100), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("target", String(100)),
    Column("sure", Float),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# One row per retraining (``knowledge.retraining``): who or what started it, how it ended and why,
# the bundles before and after; the full report stays in the training workspace (``report``).
retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),  # the run directory, the new bundle's version if published
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("started_by", String(200), nullable=False),
    Column("status", String(20), nullable=False),  # running, published, rejected, failed, interrupted, ...
    Column("old_bundle", String(100)),
    Column("new_bundle", String(100)),
    Column("summary", Text, nullable=False),  # JSON: decision, reasons, parts, threshold changes, label findings
    Column("report", Text),  # path of report.md
    Index("ix_retrain_runs_started", "started_at"),
)


# State the bot's replicas share instead of keeping it in one process's memory (epoch seconds,
# from the replicas' clocks). Dialogue memory per conversation (``bot.core.sessions``), written
# in the transaction of the turn that changed it; ``turn_id`` is that turn.
dialogue_states = Table(
    "dialogue_states",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("state", Text, nullable=False),  # JSON
    Column("turn_id", Integer),
    Column("updated_at", Float, nullable=False),
    Index("ix_dialogue_states_updated", "updated_at"),
)

# Token buckets (``knowledge.limits``): messages per conversation and per client address,
# sign-in attempts per name. ``allowed`` is what the last hit decided.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("allowed", Boolean, nullable=False),
    Index("ix_rate_limits_at", "at"),
)

# Things one replica takes until they expire (``knowledge.claims``): a Telegram update seen, a
# keyboard used, a sign-in form handed out, a chat being answered.
claims = Table(
    "claims",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_claims_expires", "expires_at"),
)


class Database:
    """The knowledge database: owns one SQLAlchemy engine; every store borrows it.

    ``Database.open(url)`` connects and checks the schema; the stores (``FaqStore``,
    ``ConversationLog``, ``Reviews``, ``Handoffs``, ``Activity``, ``StaffAccounts``) take the
    ``Database`` and run their SQL through ``connect()`` (reads) and ``begin()`` (one
    transaction). Only whoever opened it closes it.

    Example::

        with Database.open("sqlite:///data/supportbot.db") as database:
            store, log = FaqStore(database), ConversationLog(database)
            store.kb_revision()
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Reads outside a transaction on a server: no BEGIN and ROLLBACK round trips around each
        # (under READ COMMITTED every statement sees its own snapshot either way). SQLite's driver
        # starts no transaction for a read in the first place.
        self._reader = engine if engine.dialect.name == "sqlite" else engine.execution_options(
            isolation_level="AUTOCOMMIT")
        # SQLite lets one connection write at a time. Two of the process's threads writing at once
        # (the bot admits messages on one and logs turns on another) left the second to SQLite's
        # busy handler, which sleeps 1, 2, 5, 10 ms and more between tries: a message waited for a
        # sleep, not for the write. Writers of one process take turns on this lock instead and start
        # the moment it is free; other processes on the same file still meet the busy timeout.
        self._writing = threading.RLock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def open(cls, url: str) -> Database:
        """Connect to ``url``, whose schema must be this release's.

        An empty database gets the schema through the migrations, as ``supportbot db upgrade``
        would (so a new data directory works with every command); a database that is behind or
        was upgraded by a newer release raises ``SchemaError`` (``knowledge.migrations.history``)
        naming what to run. Nothing else migrates: an upgrade is a step of its own.
        """
        # Alembic loads only when a database is opened, not with every command's parser.
        from knowledge.migrations.history import prepare

        database = cls.open_as_is(url)
        try:
            prepare(database.engine)
        except BaseException:
            database.close()
            raise
        return database

    @classmethod
    def open_as_is(cls, url: str) -> Database:
        """Connect to ``url`` without looking at its schema: for ``supportbot db`` and migrations.

        SQLite gets WAL journaling (readers never block the writer), a busy timeout, and foreign
        keys; its parent directory is created. Other engines get their driver's defaults and a
        liveness check on a pooled connection that sat idle (``_ping_when_idle``).
        """
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            engine = create_engine(url)
            _ping_when_idle(engine)
            return cls(engine)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _configure_sqlite)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        """The engine, for migrations; stores use ``connect()`` and ``begin()``."""
        return self._engine

    def connect(self) -> Connection:
        """A connection for reading: ``with database.connect() as conn: ...``; writes go in ``begin()``."""
        return self._reader.connect()

    def statements(self) -> AbstractContextManager[Connection]:
        """A connection on which each statement commits by itself, for writes that need no
        transaction around them: one round trip each on a server, instead of a BEGIN and a COMMIT
        more; and for statements sent together (``knowledge.pipeline``), one transaction in one
        round trip. On SQLite one transaction (each commit there is a write of its own)."""
        return self._reader.connect() if self._reader is not self._engine else self.begin()

    def fill_pool(self) -> int:
        """Open the connection pool's connections now, on a server; how many (0 on SQLite).

        A connection opened while messages wait costs a server process started and signed in,
        then that process's first look at each table: tens of milliseconds on busy cores, paid
        by the message that needed one more connection than the pool had. A replica calls this
        before it reports ready, so one that joins under load (a deploy, an autoscaler) pays it
        before its first message. The pool keeps them, as any it opened itself.
        """
        if self._engine.dialect.name == "sqlite":
            return 0  # a file opened in the process: nothing to start
        size = int(getattr(self._engine.pool, "size", lambda: 0)())
        with ExitStack() as held:  # all at once: one at a time, the pool would hand back the first
            connections = [held.enter_context(self._reader.connect()) for _ in range(size)]
            for conn in connections:
                conn.execute(text("SELECT 1"))
        return size

    def unreachable(self) -> str | None:
        """None when one round trip to the database works, else why not (the error's kind and
        first line, never the URL): what a replica's readiness check asks."""
        try:
            with self.connect() as conn:
                conn.execute(text("SELECT 1"))
        except exc.SQLAlchemyError as error:
            cause = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            return f"{type(cause).__name__}: {first}"[:200]
        return None

    def begin(self) -> AbstractContextManager[Connection]:
        """One transaction, committed when the block ends and rolled back if it raises."""
        return self._engine.begin() if self._writing is None else self._one_writer()

    @contextmanager
    def _one_writer(self) -> Iterator[Connection]:
        assert self._writing is not None
        # As long as SQLite's own busy timeout: a write stuck for longer fails the ones behind it,
        # as it did before, instead of holding them for ever.
        if not self._writing.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise exc.OperationalError("BEGIN", None, sqlite3.OperationalError(
                f"database is locked: another write of this process has held it for {SQLITE_BUSY_TIMEOUT_S:g} s"))
        try:
            with self._engine.begin() as conn:
                yield conn
        finally:
            self._writing.release()

    def close(self) -> None:
        """Close every pooled connection: call it once the stores built on it are done."""
        self._engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# How long a write waits for another to finish on SQLite before it fails.
SQLITE_BUSY_TIMEOUT_S = 30.0
# A connection back in the pool for less than this is taken as alive without asking the server.
PING_AFTER_IDLE_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection's liveness only when it has sat idle for ``PING_AFTER_IDLE_S``.

    ``pool_pre_ping`` asks the server on every checkout: one more round trip for each of a
    message's transactions, a fifth of what a message costs on PostgreSQL under load. A
    connection used a moment ago is alive unless the server went away within that moment; then
    the query that finds out fails, SQLAlchemy drops every pooled connection, and the next
    checkouts connect afresh. A dead idle connection is replaced before it is handed out.
    """

    def returned(_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def checked_out(connection: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is not None and time.monotonic() - returned_at < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(str(error)) from error
        if not alive:
            raise exc.DisconnectionError("the pooled connection did not answer")

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


def _configure_sqlite(connection: DBAPIConnection, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_database(db: str | None, prefix: str) -> Database:
    """The database a command's ``--db`` names (else ``SUPPORTBOT_DB``, else the data directory's),
    open; any ``KnowledgeError`` (a path in no directory, a schema that is behind) is one line,
    ``{prefix}: error: ...``, and the command's end. A command is one short run: the database
    closes when the process exits."""
    try:
        return Database.open(database_url(db))
    except KnowledgeError as error:
        raise SystemExit(f"{prefix}: error: {error}") from None
