"""Where the bot keeps its files and its database, from the environment.

``SUPPORTBOT_DATA_DIR`` (default ``./data``) holds bundles, indexes and the default SQLite
database; ``SUPPORTBOT_DB`` overrides the database with a URL (``sqlite:///path.db``,
``postgresql+psycopg://...``) or a plain file path. A SQLite file named there (or by a command's
``--db``) must be in a directory that exists: a typo would otherwise start a new, empty database
and every command would report an empty knowledge base. Only the default file's directory is
made, on first use (``Database.open``), so a new data directory works.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from knowledge.errors import DatabaseLocationError

DATA_DIR_VARIABLE = "SUPPORTBOT_DATA_DIR"
DATABASE_VARIABLE = "SUPPORTBOT_DB"


def data_dir() -> Path:
    """The data directory named by ``SUPPORTBOT_DATA_DIR``, or ``./data``."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or "data")


def database_url(value: str | None = None) -> str:
    """A SQLAlchemy URL from ``value`` (a command's ``--db``), else ``SUPPORTBOT_DB``, else the data
    directory's file; ``DatabaseLocationError`` naming ``--db`` or the variable for a SQLite file
    in a directory that does not exist.

    >>> database_url("kb.db")
    'sqlite:///kb.db'
    """
    if value:
        return checked_url(value, "--db")
    configured = os.environ.get(DATABASE_VARIABLE)
    if configured:
        return checked_url(configured, DATABASE_VARIABLE)
    return url_of(str(data_dir() / "supportbot.db"))


def checked_url(value: str, setting: str) -> str:
    """``url_of(value)``, refused when it names a SQLite file in a directory that does not exist;
    the error names ``setting`` (the flag or variable that gave ``value``)."""
    url = url_of(value)
    try:
        make_url(url).get_dialect()  # a known engine and driver, e.g. sqlite, postgresql+psycopg
        folder = missing_directory(url)
    except NoSuchModuleError:  # an ArgumentError too: first
        raise DatabaseLocationError(f"{setting}: {value!r} names a database engine or driver that is not "
                                    "installed (sqlite or postgresql+psycopg)") from None
    except ArgumentError:
        raise DatabaseLocationError(f"{setting}: {value!r} is neither a database URL nor a file path") from None
    if folder is not None:
        raise DatabaseLocationError(f"{setting}: the directory {folder} of the SQLite database does not exist; "
                                    "create it, or correct the path")
    return url


def url_of(value: str) -> str:
    """``value`` as a SQLAlchemy URL: a URL as it is, a file path as a SQLite URL.

    >>> url_of("data/kb.db"), url_of("postgresql+psycopg://bot@db/supportbot")
    ('sqlite:///data/kb.db', 'postgresql+psycopg://bot@db/supportbot')
    """
    return value if "://" in value else f"sqlite:///{value}"


def missing_directory(url: str) -> Path | None:
    """The directory of the SQLite file ``url`` names when it does not exist; None when it does,
    and for an in-memory database or another engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") \
            or parsed.database.startswith("file:"):  # a SQLite URI (?uri=true): its own path syntax
        return None
    folder = Path(parsed.database).parent
    return None if folder.is_dir() else folder


def index_path() -> Path:
    """Where the FAQ index is saved by default."""
    return data_dir() / "faq.index"
