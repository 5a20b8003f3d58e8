"""Statements sent together (``knowledge.pipeline``): the same results as one by one, all or
nothing, and on PostgreSQL one round trip for a batch of turns with the memory they leave."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from knowledge.conversations.dialogue import DialogueStates
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database, dialogue_states, rate_limits
from knowledge.pipeline import Query, run_together
from tests.postgres import PostgresServer, round_trips

INSERT = text("INSERT INTO rate_limits (key, tokens, at, allowed) VALUES (:key, 1.0, 0.0, true)")
KEYS = text("SELECT key FROM rate_limits ORDER BY key")


def keys(rows: object) -> list[str]:
    return [row["key"] for row in rows]  # type: ignore[attr-defined]


def turn(session: str, text: str, state: str | None) -> TurnRecord:
    return TurnRecord(session_id=session, channel="web", text=text, action="answer", reply="r", latency_ms=1.0,
                      state=state)


def test_statements_run_in_order_and_each_reads_its_rows(database: Database) -> None:
    with database.statements() as conn:
        results = run_together(conn, [Query(INSERT, {"key": "b"}), Query(KEYS, read=keys), Query(INSERT, {"key": "a"}),
                                      Query(select(rate_limits.c.key).order_by(rate_limits.c.key), read=keys)])
    assert results == [None, ["b"], None, ["a", "b"]]  # a later statement sees what an earlier one wrote


def test_a_failing_statement_keeps_nothing_and_raises_what_sqlalchemy_would(
        database: Database, caplog: pytest.LogCaptureFixture) -> None:
    with database.statements() as conn:
        run_together(conn, [Query(INSERT, {"key": "taken"})])
    with pytest.raises(IntegrityError) as raised, database.statements() as conn:
        run_together(conn, [Query(INSERT, {"key": "a customer's words"}), Query(INSERT, {"key": "taken"}),
                            Query(INSERT, {"key": "x"})])
    assert "a customer's words" not in str(raised.value)  # parameters stay out of error logs
    # Raised once, not also logged: a repeated message key is a client's retry, not an incident.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    with database.connect() as conn:
        assert keys(conn.execute(KEYS).mappings()) == ["taken"]  # the first was rolled back with the failure
    with database.statements() as conn:  # and the pooled connection still works
        assert run_together(conn, [Query(INSERT, {"key": "after"}), Query(KEYS, read=keys)])[1] == ["after", "taken"]


def test_failures_repeated_past_the_drivers_statement_preparing_leave_every_pooled_connection_working(
        database: Database) -> None:
    # psycopg prepares a statement on the server once it has run it a few times; a pipeline that
    # fails skips the statements queued after the failure, their preparing included, while the
    # driver counts them as prepared: a connection kept after that failed every later use ("prepared
    # statement ... does not exist"), and a bot replica answered every message with an error.
    with database.statements() as conn:
        run_together(conn, [Query(INSERT, {"key": "taken"})])
    for attempt in range(12):
        with pytest.raises(IntegrityError), database.statements() as conn:
            run_together(conn, [Query(INSERT, {"key": "taken"}), Query(INSERT, {"key": f"skipped-{attempt}"}),
                                Query(KEYS, read=keys)])
        with database.statements() as conn:
            assert run_together(conn, [Query(INSERT, {"key": f"kept-{attempt}"}), Query(KEYS, read=keys)])[1][-1] \
                == "taken"
    with database.connect() as conn:
        assert keys(conn.execute(KEYS).mappings()) == sorted(["taken", *(f"kept-{n}" for n in range(12))])


def test_the_memory_saved_with_a_batch_of_turns_names_its_own_turn(database: Database) -> None:
    log = ConversationLog(database)
    first, second, third, fourth = log.record([turn("web:a", "one", '{"n": 1}'), turn("web:b", "two", '{"n": 2}'),
                                               turn("web:a", "three", '{"n": 3}'), turn("web:b", "four", None)])
    stored = DialogueStates(database).load_many(["web:a", "web:b", "web:none"])
    assert {session: (s.state, s.turn_id) for session, s in stored.items()} == {
        "web:a": ('{"n": 3}', third), "web:b": ('{"n": 2}', second)}
    assert first < second < third < fourth  # a turn that leaves no memory changes none
    with database.connect() as conn:
        assert conn.execute(select(dialogue_states.c.turn_id).where(dialogue_states.c.session_id == "web:a")).scalar() \
            == third


@pytest.fixture()
def postgresql(postgres_server: PostgresServer) -> Iterator[Database]:
    with postgres_server.database() as url, Database.open(url) as database:
        yield database


def test_a_batch_of_turns_with_their_memory_is_one_round_trip_on_postgresql(postgresql: Database) -> None:
    log = ConversationLog(postgresql)
    log.record([turn("web:warm", "hello", None)])
    with round_trips(postgresql) as sent:
        ids = log.record([turn("web:a", "one", '{"n": 1}'), turn("web:b", "two", '{"n": 2}'), turn("web:a", "three", None)])
    assert len(sent) == 1, sent
    assert len(ids) == 3 and DialogueStates(postgresql).load_many(["web:a"])["web:a"].turn_id == ids[0]
    # A turn that doubts an earlier answer queues it in the same round trip.
    with round_trips(postgresql) as sent:
        log.record([TurnRecord("web:a", "web", "no", "handler", "r", 1.0, state='{"n": 3}', doubts=ids[2])])
    assert len(sent) == 1, sent
    assert {t.id: t.review for t in log.turns("web:a")}[ids[2]] == "possibly_wrong"


def test_a_lost_server_fails_one_call_and_every_pooled_connection_is_replaced(
        postgresql: Database, postgres_server: PostgresServer) -> None:
    with postgresql.statements() as a, postgresql.statements() as b, postgresql.statements() as c:
        for conn in (a, b, c):  # three connections in the pool
            run_together(conn, [Query(KEYS, read=keys)])
    with postgres_server.engine.connect() as admin:  # the server drops them, as a restart would
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                      {"name": postgresql.engine.url.query["application_name"]})
    with pytest.raises(OperationalError), postgresql.statements() as conn:
        run_together(conn, [Query(INSERT, {"key": "lost"})])
    with postgresql.statements() as a, postgresql.statements() as b, postgresql.statements() as c:
        assert [run_together(conn, [Query(KEYS, read=keys)])[0] for conn in (a, b, c)] == [[], [], []]
