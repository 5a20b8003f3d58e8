"""Where the bot keeps its files and its database, from the environment.

``SUPPORTBOT_DATA_DIR`` (default ``./data``) holds bundles, indexes and the default SQLite
database; ``SUPPORTBOT_DB`` overrides the database with a URL (``sqlite:///path.db``,
``postgresql+psycopg://...``) or a plain file path.
"""
from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "SUPPORTBOT_DATA_DIR"
DATABASE_VARIABLE = "SUPPORTBOT_DB"


def data_dir() -> Path:
    """The data directory named by ``SUPPORTBOT_DATA_DIR``, or ``./data``."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or "data")


def database_url(value: str | None = None) -> str:
    """A SQLAlchemy URL from ``value``, else ``SUPPORTBOT_DB``, else the data directory's file.

    >>> database_url("kb.db")
    'sqlite:///kb.db'
    """
    value = value or os.environ.get(DATABASE_VARIABLE)
    if not value:
        return f"sqlite:///{data_dir() / 'supportbot.db'}"
    if "://" in value:
        return value
    return f"sqlite:///{value}"


def index_path() -> Path:
    """Where the FAQ index is saved by default."""
    return data_dir() / "faq.index"
