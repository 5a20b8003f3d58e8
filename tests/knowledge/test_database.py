"""The one database object every store borrows: how it opens each engine, and its transactions."""
from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

import knowledge.database as database_module
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database, feedback, metadata, staff
from knowledge.migrations.history import VERSION_TABLE
from tests import postgres


def test_open_gives_an_empty_database_every_table(database: Database) -> None:
    with database.connect() as conn:
        assert set(inspect(conn).get_table_names()) == {*metadata.tables, VERSION_TABLE}


def test_sqlite_gets_its_directory_wal_and_foreign_keys(tmp_path: Path) -> None:
    with Database.open(f"sqlite:///{tmp_path / 'new' / 'dir' / 'kb.db'}") as database, database.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "foreign_keys", "synchronous")}
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1}  # 1 is NORMAL


def test_writers_in_one_process_take_turns_instead_of_meeting_sqlites_lock(tmp_path: Path) -> None:
    # With no busy timeout SQLite refuses a write at once while another connection writes
    # ("database is locked"); the process's writers wait for each other on a lock of their own,
    # so none meets it (with the timeout they met it too, and slept in its busy handler).
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    Database.open(url).close()  # the schema
    engine = create_engine(url, connect_args={"timeout": 0})
    event.listen(engine, "connect", database_module._configure_sqlite)
    database = Database(engine)
    failures: list[Exception] = []

    def write(worker: int) -> None:
        for n in range(40):
            try:
                with database.begin() as conn:
                    conn.execute(text("INSERT INTO rate_limits (key, tokens, at, allowed) VALUES (:k, 1.0, 0.0, true)"),
                                 {"k": f"{worker}-{n}"})
                    time.sleep(0.0005)  # a transaction that takes a moment, as a batch of turns does
            except OperationalError as error:
                failures.append(error)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM rate_limits")).scalar()
    database.close()
    assert failures == [] and stored == 160


def test_a_write_waiting_longer_than_the_busy_timeout_fails_as_sqlite_would(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    database = Database.open(f"sqlite:///{tmp_path / 'stuck.db'}")
    holding, done = threading.Event(), threading.Event()

    def stuck_writer() -> None:
        with database.begin():
            holding.set()
            done.wait(5)

    thread = threading.Thread(target=stuck_writer)
    thread.start()
    holding.wait(5)
    try:
        with pytest.raises(OperationalError, match="database is locked"), database.begin():
            pass
    finally:
        done.set()
        thread.join()
    with database.begin() as conn:  # free again once the stuck one ended
        conn.execute(text("SELECT 1"))
    database.close()


def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(IntegrityError), database.begin() as conn:
        conn.execute(insert(feedback).values(turn_id=404, value=1, created_at="2026-11-30"))


def test_a_failed_transaction_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError), database.begin() as conn:
        conn.execute(insert(staff).values(name="ana", password_hash="x", created_at="2026-11-30", active=True))
        raise RuntimeError("after the insert")
    with database.connect() as conn:
        assert conn.execute(select(staff.c.name)).all() == []


def test_stores_on_one_database_see_each_others_writes(database: Database) -> None:
    log, reviews = ConversationLog(database), Reviews(database)
    (turn_id,) = log.record([TurnRecord("web:a", "web", "hi?", "fallback", "Sorry.", 1.0, needs_review=True)])
    assert [turn.id for turn in reviews.pending()] == [turn_id]


def _kill_own_backends(server: postgres.PostgresServer, database: Database) -> None:
    with database.connect() as conn:
        name = conn.exec_driver_sql("SHOW application_name").scalar()
    with server.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                      {"n": name})


def test_a_pooled_connection_that_sat_idle_is_checked_and_replaced(
        postgres_server: postgres.PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    with postgres_server.database() as url, Database.open(url) as database:
        _kill_own_backends(postgres_server, database)  # the server went away while the pool held it
        with database.connect() as conn:
            assert conn.execute(select(staff.c.name)).all() == []


def test_a_connection_used_a_moment_ago_is_not_asked_again(postgres_server: postgres.PostgresServer) -> None:
    # No round trip before each transaction: the query that meets a dead connection fails, the
    # pool is emptied, and the next one connects afresh.
    with postgres_server.database() as url, Database.open(url) as database:
        _kill_own_backends(postgres_server, database)
        with pytest.raises(OperationalError), database.connect() as conn:
            conn.execute(select(staff.c.name)).all()
        with database.connect() as conn:
            assert conn.execute(select(staff.c.name)).all() == []


def test_a_filled_pool_serves_as_many_connections_at_once_without_opening_one(database: Database) -> None:
    opened: list[object] = []
    event.listen(database.engine, "connect", lambda *_: opened.append(1))
    size = database.fill_pool()
    if database.engine.dialect.name == "sqlite":
        assert size == 0 and opened == []  # nothing to start
        return
    assert size == database.engine.pool.size() > 1  # type: ignore[attr-defined]
    assert database.engine.pool.checkedin() == size  # type: ignore[attr-defined]
    before = len(opened)
    with ExitStack() as held:  # as many messages' transactions at once as the pool holds
        for conn in [held.enter_context(database.connect()) for _ in range(size)]:
            assert conn.execute(select(staff.c.name)).all() == []
    assert len(opened) == before  # none opened while they waited
