"""The migration environment: runs the revisions in ``versions/`` on one connection.

``knowledge.migrations.history`` hands it an open connection inside a transaction
(``config.attributes["connection"]``), so a migration and the checks around it are one unit.
Without one it connects to the database the application uses: ``sqlalchemy.url`` if the
configuration names one, else ``SUPPORTBOT_DB`` or the data directory's SQLite file.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from knowledge.database import metadata
from knowledge.location import database_url


def run_migrations(connection: Connection) -> None:
    # Batch mode: SQLite cannot ALTER most things, so a change to a table is a copy-and-swap
    # there; PostgreSQL gets plain ALTER statements from the same revision.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_connected() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        run_migrations(given)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or database_url())
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


run_connected()
