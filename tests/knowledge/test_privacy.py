"""Forgetting one customer: everything about their conversation goes, nobody else's does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from knowledge.claims import Claims
from knowledge.conversations.handoffs import Handoffs, Relay
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database, claims, metadata
from knowledge.limits import Bucket, RateLimits

ROOT = Path(__file__).resolve().parents[2]


def fill(database: Database, session: str) -> None:
    log = ConversationLog(database)
    first, second = log.record([TurnRecord(session, "telegram", "my card 4111 was charged twice", "fallback",
                                           "Sorry.", 1.0, needs_review=True),
                                TurnRecord(session, "telegram", "how long is delivery", "answer", "3-5 days", 1.0,
                                           faq_id="shipping-times")])
    log.add_feedback(second, session, -1)
    Reviews(database).label([first], "intent", "charged_twice", "ana")
    opened = Handoffs(database).open(session, "telegram", "asked for a person")
    Handoffs(database).post(opened.handoff.id, "ana", "Hi, let me check.", "console")
    Handoffs(database).remember(Relay("-100", 7, session, session.removeprefix("tg:")))


def test_forget_erases_one_customer_and_keeps_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    database = Database.open(url)
    fill(database, "tg:42")
    fill(database, "tg:43")
    for key in ("tg-told:42", "tg-pick:42:9", "tg-told:43", "tg-pick:421:9"):
        Claims(database, "replica-a").take(key, ttl_s=3600)
    database.close()
    done = subprocess.run([sys.executable, "-m", "bot", "logs", "--db", url, "forget", "--customer", "tg:42", "--yes"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "erased 2 turns, 1 feedback, 1 review labels and 1 handoffs of tg:42" in done.stdout
    database = Database.open(url)
    log, handoffs = ConversationLog(database), Handoffs(database)
    assert log.turns("tg:42") == [] and handoffs.transcript("tg:42") == []
    assert handoffs.relay_for("-100", 7) is None or handoffs.relay_for("-100", 7).session_id == "tg:43"
    assert len(log.turns("tg:43")) == 2 and handoffs.for_session("tg:43") is not None
    assert [label.text for label in Reviews(database).labels()] == ["my card 4111 was charged twice"]
    with database.connect() as conn:
        assert sorted(conn.execute(select(claims.c.key)).scalars()) == ["tg-pick:421:9", "tg-told:43"]


def test_forget_refuses_what_is_not_a_customer_id(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot", "logs", "--db", f"sqlite:///{tmp_path / 'x.db'}", "forget",
                           "--customer", "42", "--yes"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "tg:123456789" in done.stderr


def test_forget_with_no_answer_erases_nothing_and_says_how_to_confirm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with Database.open(url) as database:
        fill(database, "tg:42")
    command = [sys.executable, "-m", "bot", "logs", "--db", url, "forget", "--customer", "tg:42"]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, cwd=ROOT, capture_output=True, text=True)  # as from cron
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["supportbot logs: error: no answer (end of input), so nothing was erased; "
                                        "pass --yes to erase without being asked"]
    with Database.open(url) as database:
        assert len(ConversationLog(database).turns("tg:42")) == 2
    done = subprocess.run(command, input="y\n", cwd=ROOT, capture_output=True, text=True)  # an answer still counts
    assert done.returncode == 0 and "erased 2 turns" in done.stdout, done.stderr


SENTENCE = "my address is 12 Larkspur Lane and my phone 0170 5550199"


def fill_web(database: Database, session: str, times: int, sentence: str = SENTENCE) -> None:
    log = ConversationLog(database)
    for n in range(times):  # one transaction each: every one leaves a copy of the page in the WAL
        log.record([TurnRecord(session, "web", f"{sentence} ({n})", "fallback", "Sorry.", 1.0, needs_review=True)])
    RateLimits(database).hit(Bucket(f"session:{session}", capacity=30, per_second=0.5))
    Handoffs(database).open(session, "web", sentence)


def rows_naming(database: Database, text: str) -> list[str]:
    with database.connect() as conn:
        return [f"{table.name}: {row}" for table in metadata.sorted_tables
                for row in conn.execute(select(table)) if text in str(tuple(row))]


def test_forget_leaves_no_byte_of_the_text_in_the_files_and_no_row_with_the_id(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    url = f"sqlite:///{path}"
    session = "web:9f73c3e6-0b1c-4c55-9a0e-2d1f3a4b5c6d"
    with Database.open(url) as database:
        fill_web(database, session, 26)
        fill_web(database, "web:someone-else", 1, "where is my parcel")
        keeper = database.connect()  # the file stays open, as a running server keeps it: no checkpoint on close
        done = subprocess.run([sys.executable, "-m", "bot", "logs", "--db", url, "forget", "--customer", session,
                               "--yes"], cwd=ROOT, capture_output=True, text=True)
        keeper.close()
        assert done.returncode == 0, done.stderr
        assert "journal" not in done.stdout
        wal = Path(f"{path}-wal")
        for file in (path, wal):
            assert b"Larkspur Lane" not in file.read_bytes(), file
        assert rows_naming(database, session) == []
        assert rows_naming(database, "web:someone-else") != []


def test_forget_says_when_a_reader_keeps_old_pages_in_the_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with Database.open(url) as database:
        fill_web(database, "web:abc", 3)
        with database.connect() as reader:
            reader.exec_driver_sql("BEGIN")
            reader.exec_driver_sql("SELECT count(*) FROM turns").one()  # a read transaction, as a server's
            done = subprocess.run([sys.executable, "-m", "bot", "logs", "--db", url, "forget", "--customer",
                                   "web:abc", "--yes"], cwd=ROOT, capture_output=True, text=True)
            reader.exec_driver_sql("ROLLBACK")
    assert done.returncode == 0, done.stderr
    assert "erased 3 turns" in done.stdout
    assert "the database's journal (its -wal file) still holds old pages" in done.stdout


def test_forget_checks_the_id_before_asking(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    with Database.open(url) as database:
        fill_web(database, "web:9f73c3e6", 1)
    command = [sys.executable, "-m", "bot", "logs", "--db", url, "forget", "--customer"]
    bare = subprocess.run([*command, "9f73c3e6"], input="y\n", cwd=ROOT, capture_output=True, text=True)
    assert bare.returncode == 1 and "Erase" not in bare.stdout
    assert "(did you mean web:9f73c3e6?)" in bare.stderr
    unknown = subprocess.run([*command, "web:9f73c3e7"], input="y\n", cwd=ROOT, capture_output=True, text=True)
    assert unknown.returncode == 1 and "Erase" not in unknown.stdout
    assert "no data for customer web:9f73c3e7; nothing to erase" in unknown.stderr
    with Database.open(url) as database:
        assert len(ConversationLog(database).turns("web:9f73c3e6")) == 1


def test_forget_gives_the_connection_back_with_its_busy_timeout(tmp_path: Path) -> None:
    """The erasure waits a short time for readers; the pooled connection keeps its own wait after."""
    from knowledge.conversations.privacy import forget_customer

    with Database.open(f"sqlite:///{tmp_path / 'bot.db'}") as database:
        fill_web(database, "web:abc", 1)
        with database.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        assert forget_customer(database, "web:abc").turns == 1
        with database.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == before > 3000
