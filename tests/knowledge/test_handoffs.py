"""Handoff state and the staff-chat relay map, in the database."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from knowledge.conversations.handoffs import Handoffs, Relay
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database


def test_handoff_starts_ends_and_survives_reopening(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    database = Database.open(url)
    ConversationLog(database).record([TurnRecord("tg:1", "telegram", "/human", "handoff", "Asked.", 1.0)])
    handoffs = Handoffs(database)
    assert not handoffs.is_handed_off("tg:1")
    assert handoffs.start("tg:1", "telegram") is True
    assert handoffs.start("tg:1", "telegram") is False, "already with a person"
    assert handoffs.start("tg:2", "telegram") is True, "a conversation without turns yet"
    handoffs.remember(Relay("-100", 7, "tg:1", "1"))
    handoffs.remember(Relay("-100", 7, "tg:1", "1"))  # recorded twice: kept once
    database.close()

    reopened = Handoffs(Database.open(url))
    assert reopened.handed_off() == ["tg:1", "tg:2"]
    assert reopened.relay_for("-100", 7) == Relay("-100", 7, "tg:1", "1")
    assert reopened.relay_for("-100", 8) is None and reopened.relay_for("-200", 7) is None
    assert reopened.end("tg:1") is True and reopened.end("tg:1") is False
    assert not reopened.is_handed_off("tg:1") and reopened.is_handed_off("tg:2")
    assert reopened.relay_for("-100", 7) is not None, "old relays still route late staff replies"


def test_a_relay_needs_a_known_conversation(tmp_path: Path) -> None:
    handoffs = Handoffs(Database.open(f"sqlite:///{tmp_path / 'bot.db'}"))
    with pytest.raises(IntegrityError):
        handoffs.remember(Relay("-100", 1, "tg:404", "404"))
