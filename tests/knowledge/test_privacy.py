"""Forgetting one customer: everything about their conversation goes, nobody else's does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from knowledge.conversations.handoffs import Handoffs, Relay
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database

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
