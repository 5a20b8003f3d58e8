from __future__ import annotations

import pytest

from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore


@pytest.fixture()
def store(database: Database) -> FaqStore:
    """A real store in a fresh database, on each engine (SQLite in WAL mode, PostgreSQL)."""
    return FaqStore(database)


def make_entry(faq_id: str = "returns", **fields: object) -> FaqEntry:
    values: dict[str, object] = {
        "question": "Can I return an item?",
        "answer": "Yes, within 30 days of delivery.",
        "alternatives": ("How do returns work?", "I want to send something back"),
        "tags": ("returns",),
    }
    values.update(fields)
    return FaqEntry(faq_id=faq_id, **values)
