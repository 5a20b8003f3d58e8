"""``INSERT ... ON CONFLICT``: one statement that inserts a row or changes the one in the way.

SQLite (3.24+, ``RETURNING`` 3.35+) and PostgreSQL spell it alike; SQLAlchemy builds it from
each dialect's own ``insert``. One statement is atomic on both engines, which is what lets
several replicas count into the same row without a lock of their own.

Example::

    statement = upsert(conn, rate_limits).values(key="k", tokens=1.0, at=now, allowed=True)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"at": now}))
"""
from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's ``insert(table)``, which has ``on_conflict_do_update``/``_do_nothing``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for {conn.dialect.name}: use SQLite or PostgreSQL")
