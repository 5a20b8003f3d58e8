"""Handoff state, events, transcripts and the staff-chat relay map, in a real database (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from knowledge.conversations.handoffs import (
    CLOSED,
    WAITING,
    WITH_STAFF,
    Cursor,
    HandoffConflict,
    Handoffs,
    Relay,
    WaitingNote,
    waiting_query,
)
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from knowledge.errors import EntryNotFound
from knowledge.pipeline import run_together


def test_a_handoff_waits_is_claimed_answered_and_closed(database: Database) -> None:
    log, handoffs = ConversationLog(database), Handoffs(database)
    log.record([TurnRecord("web:a", "web", "a person please", "handoff", "Queued.", 1.0)])
    first = handoffs.open("web:a", "web", "asked for a person")
    assert first.created and first.position == 1 and first.handoff.state == WAITING
    again = handoffs.open("web:a", "web", "asked for a person")
    assert not again.created and again.handoff.id == first.handoff.id, "one open handoff per conversation"
    second = handoffs.open("tg:2", "telegram", "asked for a person")  # no turn yet: conversation created
    assert second.position == 2 and handoffs.waiting_count() == 2

    claimed = handoffs.claim(first.handoff.id, "ana")
    assert claimed.state == WITH_STAFF and claimed.claimed_by == "ana"
    assert handoffs.position(handoffs.get(second.handoff.id)) == 1, "the queue moved up"
    with pytest.raises(HandoffConflict, match="ana is answering this conversation") as conflict:
        handoffs.post(first.handoff.id, "ben", "Hi from Ben", "console")
    assert conflict.value.claimed_by == "ana"
    handoffs.post(first.handoff.id, "ana", "  Hi, I'm Ana.  ", "console")
    handoffs.post(first.handoff.id, "ben", "Ben here, taking over.", "console", take_over=True)
    assert handoffs.get(first.handoff.id).claimed_by == "ben"
    for bad in ("", "   ", "x" * 4001):
        with pytest.raises(ValueError):
            handoffs.post(first.handoff.id, "ben", bad, "console")

    closed = handoffs.close(first.handoff.id, "ben")
    assert closed.state == CLOSED and closed.closed_by == "ben" and handoffs.for_session("web:a") is None
    with pytest.raises(HandoffConflict, match="closed already"):
        handoffs.close(first.handoff.id, "ana")
    with pytest.raises(HandoffConflict, match="handed back to the bot by ben"):
        handoffs.post(first.handoff.id, "ben", "too late", "console")
    with pytest.raises(EntryNotFound):
        handoffs.claim(999, "ana")
    reopened = handoffs.open("web:a", "web", "asked again")
    assert reopened.created and reopened.handoff.id != first.handoff.id, "a closed handoff does not block a new one"


def test_the_transcript_merges_turns_and_events_and_resumes_from_any_line(database: Database) -> None:
    log, handoffs = ConversationLog(database), Handoffs(database)
    log.record([TurnRecord("web:t", "web", "where is my parcel?", "fallback", "Sorry.", 1.0,
                           intent="faq", faq_id=None)])
    opened = handoffs.open("web:t", "web", "asked for a person")
    log.record([TurnRecord("web:t", "web", "hello?", "relayed", "", 1.0)])
    handoffs.post(opened.handoff.id, "ana", "Hi, let me look.", "console")
    lines = handoffs.transcript("web:t")
    assert [(line.role, line.text, line.kind) for line in lines] == [
        ("customer", "where is my parcel?", None), ("bot", "Sorry.", None), ("event", "asked for a person", "opened"),
        ("customer", "hello?", None), ("event", "", "claimed"), ("staff", "Hi, let me look.", "message")]
    assert lines[1].intent == "faq" and lines[1].action == "fallback"
    for index, line in enumerate(lines):  # a turn's two lines share one position: resume after both
        rest = [later for later in lines[index + 1:] if later.cursor != line.cursor]
        assert handoffs.transcript("web:t", line.cursor) == rest
    assert handoffs.end_of("web:t") == lines[-1].cursor
    assert Cursor.parse(str(lines[-1].cursor)) == lines[-1].cursor
    for bad in ("1", "a-b", "1-2-3", "-1-2", "9" * 50):
        with pytest.raises(ValueError):
            Cursor.parse(bad)


def test_the_inbox_lists_waiting_first_with_the_last_message_and_stats_add_up(database: Database) -> None:
    log, handoffs = ConversationLog(database), Handoffs(database)
    a = handoffs.open("web:a", "web", "asked")
    b = handoffs.open("web:b", "web", "asked")
    log.record([TurnRecord("web:b", "web", "still there?", "relayed", "", 1.0)])
    handoffs.post(a.handoff.id, "ana", "Hello", "console")
    inbox = handoffs.inbox()
    assert [(i.handoff.session_id, i.handoff.state, i.last_message) for i in inbox] == [
        ("web:b", WAITING, "still there?"), ("web:a", WITH_STAFF, None)]
    assert [i.handoff.session_id for i in handoffs.inbox(WITH_STAFF)] == ["web:a"]
    with pytest.raises(ValueError):
        handoffs.inbox("lost")
    handoffs.close(b.handoff.id, "ana")
    stats = handoffs.stats(days=3)
    today = datetime.now(UTC).date().isoformat()
    assert stats.waiting_now == 0 and stats.with_staff_now == 1
    assert stats.per_day[-1] == (today, 2) and len(stats.per_day) == 3
    assert stats.median_first_reply_s is not None and 0 <= stats.median_first_reply_s < 60


def test_state_and_relays_survive_reopening_the_database(database_url: str) -> None:
    url = database_url
    database = Database.open(url)
    handoffs = Handoffs(database)
    opened = handoffs.open("tg:1", "telegram", "asked for a person")
    handoffs.remember(Relay("-100", 7, "tg:1", "1"))
    handoffs.remember(Relay("-100", 7, "tg:1", "1"))  # recorded twice: kept once
    database.close()

    reopened = Handoffs(Database.open(url))
    assert reopened.for_session("tg:1") == opened.handoff
    assert reopened.open_for(["tg:1", "tg:404"]) == {"tg:1": opened.handoff}
    assert reopened.relay_for("-100", 7) == Relay("-100", 7, "tg:1", "1")
    assert reopened.relay_for("-100", 8) is None and reopened.relay_for("-200", 7) is None
    reopened.close(opened.handoff.id, "ana")
    assert reopened.relay_for("-100", 7) is not None, "old relays still route late staff replies"
    reopened.database.close()


def test_a_relay_needs_a_known_conversation(database: Database) -> None:
    handoffs = Handoffs(database)
    with pytest.raises(IntegrityError):
        handoffs.remember(Relay("-100", 1, "tg:404", "404"))


def test_of_many_people_claiming_at_once_exactly_one_gets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Everyone reads "waiting" before anyone writes (a barrier after the read makes the race
    certain): the claim is compare-and-set, so one wins and the rest are told who has it.
    SQLite only: on PostgreSQL the read locks the row (FOR UPDATE), so nobody reads "waiting"
    while another claims, and a barrier after the read would only deadlock."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from knowledge.conversations import handoffs as module

    url = f"sqlite:///{tmp_path / 'bot.db'}"
    opened = Handoffs(Database.open(url)).open("web:race", "web", "asked")
    people = 6
    barrier = threading.Barrier(people, timeout=10)
    read = module._locked

    def read_then_wait(conn, handoff_id):  # type: ignore[no-untyped-def]
        current = read(conn, handoff_id)
        barrier.wait()
        return current

    monkeypatch.setattr(module, "_locked", read_then_wait)

    def claim(name: str) -> str:
        handoffs = Handoffs(Database.open(url))  # as separate replicas would
        try:
            handoffs.claim(opened.handoff.id, name)
        except HandoffConflict:
            return "refused"
        return name

    with ThreadPoolExecutor(people) as pool:
        results = list(pool.map(claim, [f"staff-{n}" for n in range(people)]))
    winners = [r for r in results if r != "refused"]
    assert len(winners) == 1
    assert Handoffs(Database.open(url)).get(opened.handoff.id).claimed_by == winners[0]


def test_a_relayed_message_finds_its_place_in_the_queue_and_when_it_was_last_told(database: Database) -> None:
    log, handoffs = ConversationLog(database), Handoffs(database)
    first = handoffs.open("web:a", "web", "asked for a person").handoff
    second = handoffs.open("web:b", "web", "asked for a person").handoff
    third = handoffs.open("web:c", "web", "asked for a person").handoff
    handoffs.claim(first.id, "ana")
    relayed = "relayed"
    log.record([TurnRecord("web:b", "web", "hello?", relayed, "Passed on.", 1.0, created_at="2099-01-01T10:00:00"),
                TurnRecord("web:b", "web", "still there?", relayed, "", 1.0, created_at="2099-01-01T10:05:00"),
                TurnRecord("web:b", "web", "old", relayed, "Told.", 1.0, created_at="2000-01-01T00:00:00")])
    with database.statements() as conn:
        (found,) = run_together(conn, [waiting_query(conn.dialect.name, ["web:a", "web:b", "web:c", "web:d"])])
    assert {session: (h.id, note) for session, (h, note) in found.items()} == {
        "web:a": (first.id, WaitingNote(0, None)),  # a person has it
        "web:b": (second.id, WaitingNote(1, "2099-01-01T10:00:00")),  # told once; the silent one and
        "web:c": (third.id, WaitingNote(2, None)),  # the one before the handoff opened do not count
    }
