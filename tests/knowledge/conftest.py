from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore


@pytest.fixture()
def store(tmp_path: Path) -> FaqStore:
    """A real SQLite (WAL) store in a fresh file."""
    store = FaqStore(Database.open(f"sqlite:///{tmp_path / 'kb.db'}"))
    yield store
    store.database.close()


def make_entry(faq_id: str = "returns", **fields: object) -> FaqEntry:
    values: dict[str, object] = {
        "question": "Can I return an item?",
        "answer": "Yes, within 30 days of delivery.",
        "alternatives": ("How do returns work?", "I want to send something back"),
        "tags": ("returns",),
    }
    values.update(fields)
    return FaqEntry(faq_id=faq_id, **values)
