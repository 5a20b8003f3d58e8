"""A message's admission on PostgreSQL: its conversation's rate limit, its client's, the
conversation's memory, its open handoff and what a message relayed in it is told, for a whole batch of concurrent messages, in one round trip."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.channels.admission import AddressLimit
from bot.core.sessions import Sessions
from knowledge.conversations.dialogue import DialogueStates
from knowledge.conversations.handoffs import Handoffs, WaitingNote
from knowledge.database import Database
from tests.postgres import PostgresServer, round_trips


@pytest.fixture()
def postgresql(postgres_server: PostgresServer) -> Iterator[Database]:
    with postgres_server.database() as url, Database.open(url) as database:
        yield database


def test_admitting_a_batch_of_messages_is_one_round_trip(postgresql: Database) -> None:
    sessions = Sessions(DialogueStates(postgresql), 30)
    opened = Handoffs(postgresql).open("web:b", "web", "asked for a person")
    address = AddressLimit(per_minute=1).bucket("203.0.113.7")
    with round_trips(postgresql) as sent:
        arrivals = sessions._admit_many([("web:a", address), ("web:b", None), ("web:c", address)])
    assert len(sent) == 1, sent
    assert [a.allowed for a in arrivals] == [True, True, True]
    assert [a.handoff.id if a.handoff else None for a in arrivals] == [None, opened.handoff.id, None]
    assert [a.note for a in arrivals] == [None, WaitingNote(1, None), None]  # what a relayed message is told
    assert [a.client.allowed if a.client else None for a in arrivals] == [True, None, False]  # one a minute
