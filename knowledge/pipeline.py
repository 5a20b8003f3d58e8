"""Several statements in one round trip: PostgreSQL's pipeline mode.

On PostgreSQL each statement the bot waits for is a round trip to the server, and under load a
round trip is mostly waiting: for the server's process to get a core, then for the bot's thread
to get the interpreter back. A message's statements do not depend on each other's answers, so
``run_together`` sends them at once and reads every result after one synchronisation. On SQLite
(a library in the process, no round trips) they run one after another on the same connection.

Give it a connection from ``Database.statements()``. The statements run in order and are one
transaction on both engines: on PostgreSQL the protocol's implicit transaction up to the
synchronisation (committed there, durably unless a statement turned that off for itself; no
BEGIN or COMMIT of their own, which would be round trips more), on SQLite the block's. When one
fails the rest are not run, nothing is kept, and the error is SQLAlchemy's, as if the statement
had run alone (an ``IntegrityError`` stays one). On a connection from ``Database.begin()`` they
join its transaction, at the cost of a round trip for its BEGIN.

Example::

    with database.statements() as conn:
        turn_id, _ = run_together(conn, [Query(insert_turn, row, first_value), Query(save_state, state)])
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Executable, TextClause, exc
from sqlalchemy.sql import ClauseElement

Rows = Sequence[Mapping[Any, Any]]  # by column name


def no_rows(_rows: Rows) -> None:
    return None


def first_value(rows: Rows) -> Any:
    """The first column of the first row: a statement's single value (an id, a count, a max)."""
    return next(iter(rows[0].values()))


@dataclass(frozen=True)
class Query:
    """One statement, its parameters, and what its rows mean (``read`` turns them into the result)."""

    statement: Executable  # text(), select(), insert(): anything SQLAlchemy runs
    params: Mapping[str, object] = field(default_factory=dict)
    read: Callable[[Rows], Any] = no_rows


def run_together(conn: Connection, queries: Sequence[Query]) -> list[Any]:
    """Run ``queries`` in order on ``conn``, all or nothing; each one's ``read`` of its rows, in order."""
    if conn.dialect.name != "postgresql":
        results = []
        for query in queries:
            result = conn.execute(query.statement, dict(query.params))
            results.append(query.read(result.mappings().all() if result.returns_rows else []))
        return results
    return _pipelined(conn, queries)


def _pipelined(conn: Connection, queries: Sequence[Query]) -> list[Any]:
    compiled = [_compiled(query, conn.dialect) for query in queries]
    raw: Any = conn.connection.driver_connection  # psycopg's Connection
    dbapi = conn.dialect.loaded_dbapi
    cursors = []
    try:
        failed: Exception | None = None
        try:
            with raw.pipeline():
                for sql_text, params in compiled:
                    cursor = raw.cursor()
                    cursors.append(cursor)
                    try:
                        cursor.execute(sql_text, params)
                    except dbapi.Error as error:
                        # An error read back while sending: stop sending and leave the block
                        # normally, so that the pipeline's own exit reports the abort to us
                        # (raised) instead of logging it as an ignored second error.
                        failed = error
                        break
        except dbapi.Error as error:
            failed = failed or error
        if failed is not None:
            raise failed
        rows: list[Rows] = []
        for cursor in cursors:
            names = [column.name for column in cursor.description] if cursor.description else None
            rows.append([dict(zip(names, row)) for row in cursor.fetchall()] if names else [])
    except dbapi.Error as error:
        invalidated = conn.dialect.is_disconnect(error, raw, None)
        if invalidated:
            # As SQLAlchemy's own execute does on a lost connection: the whole pool starts afresh
            # (its other connections went with the server), not only this one.
            conn.engine.pool._invalidate(conn.connection, error)
        # The connection is not kept even when the server is fine: psycopg counts the statements
        # queued after the failure as prepared on the server, though the server skipped them, and
        # would run them by a name the server does not know on every later use. Failures are
        # rare (a client's retry of a stored message); a new connection costs one sign-in.
        conn.invalidate(error)
        # Which statement failed is in the driver's message; the parameters (a customer's text) are not.
        raise exc.DBAPIError.instance(";\n".join(sql_text for sql_text, _ in compiled), None, error, dbapi.Error,
                                      hide_parameters=True, connection_invalidated=invalidated,
                                      dialect=conn.dialect) from error
    finally:
        for cursor in cursors:
            cursor.close()
    return [query.read(found) for query, found in zip(queries, rows)]


def _compiled(query: Query, dialect: Dialect) -> tuple[str, Mapping[str, object]]:
    """The driver's SQL and parameters. A ``text()`` statement is compiled once: its parameters
    go to the driver as they are. Compiling costs more Python than a round trip's wait when the
    machine is idle, so statements sent often are best written as text."""
    if isinstance(query.statement, TextClause):
        return _text_sql(query.statement, dialect), query.params
    sql = cast(ClauseElement, query.statement).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return sql.string, sql.construct_params(dict(query.params)) or {}


@functools.lru_cache(maxsize=256)
def _text_sql(statement: TextClause, dialect: Dialect) -> str:
    return statement.compile(dialect=dialect).string
