"""The review queue and labels: reasons split the queue, labels are all-or-nothing and dated."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text, update

from knowledge.conversations.activity import Activity, DayActivity, Feedback
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import InvalidLabel, NoSuchTurn, NotPending, Reviews, TrainingLabel
from knowledge.database import Database, turns


@pytest.fixture()
def log(database: Database) -> ConversationLog:
    return ConversationLog(database)


def _turn(text: str, action: str, review: bool = True, created_at: str | None = None) -> TurnRecord:
    record = TurnRecord("web:session-0001", "web", text, action, "reply", 1.0, needs_review=review)
    return replace(record, created_at=created_at) if created_at else record


def test_reasons_split_the_queue(log: ConversationLog) -> None:
    ids = log.record([_turn("a", "fallback"), _turn("b", "clarify"), _turn("c", "answer"), _turn("d", "handoff"),
                      _turn("e", "answer", review=False), _turn("f", "handler", review=False)])
    log.add_feedback(ids[4], "web:session-0001", -1)  # thumbs down queues it
    log.add_feedback(ids[2], "web:session-0001", -1)  # low confidence and thumbs down: counted once
    reviews = Reviews(log.database)
    assert [t.id for t in reviews.pending()] == [ids[4], ids[3], ids[2], ids[1], ids[0]]
    reasons = ("fallback", "low_confidence", "thumbs_down", "handoff")
    by_reason = {r: [t.id for t in reviews.pending(r)] for r in reasons}
    assert by_reason == {"fallback": [ids[0]], "low_confidence": [ids[1]], "thumbs_down": [ids[4], ids[2]],
                         "handoff": [ids[3]]}
    assert reviews.pending_counts() == {"all": 5, "fallback": 1, "low_confidence": 1, "thumbs_down": 2, "handoff": 1,
                                        "possibly_wrong": 0}
    assert [t.id for t in reviews.pending(unanswered=True)] == [ids[1], ids[0]]
    assert {t.id: t.reason for t in reviews.pending()}[ids[2]] == "thumbs_down"
    with pytest.raises(InvalidLabel, match="unknown review reason"):
        reviews.pending("bogus")


# PostgreSQL only: SQLite has one writer at a time, and the second one's write fails as "database is locked".
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_people_labelling_one_turn_at_once_leave_one_label(log: ConversationLog) -> None:
    database = log.database
    (turn_id,) = log.record([_turn("where is NW-1", "fallback")])
    reviews = Reviews(database)
    with ThreadPoolExecutor(1) as pool:
        with database.begin() as first:  # ana's label, not committed yet: her transaction holds the row
            first.execute(update(turns).where(turns.c.id == turn_id).values(review="dismissed"))
            second = pool.submit(reviews.label, [turn_id], "intent", "order_status", "ben")
            _wait_for_a_lock_wait(database)  # ben read "pending" and now waits for ana's row
        with pytest.raises(NotPending, match="labelled by someone else a moment ago"):
            second.result(timeout=30)
    assert reviews.labels(turn_id) == [] and reviews.pending() == []


def _wait_for_a_lock_wait(database: Database) -> None:
    deadline = time.monotonic() + 30
    while True:
        with database.connect() as conn:  # a transaction each time: it reads pg_stat_activity once
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar():
                return
        assert time.monotonic() < deadline, "the second transaction never waited for the row"
        time.sleep(0.02)


def test_labels_are_all_or_nothing_and_read_back_for_training(log: ConversationLog) -> None:
    a, b, c = log.record([_turn("where is NW-1", "fallback"), _turn("tell me a joke", "fallback"),
                          _turn("gift voucher?", "clarify")])
    reviews = Reviews(log.database)
    with pytest.raises(NotPending):
        reviews.label([a, 999], "dismissed", None, "ana")
    assert len(reviews.pending()) == 3 and reviews.labels() == []
    reviews.label([a], "intent", " order_status ", "ana")
    reviews.label([b], "out_of_scope", "ignored", "ben")
    labels = reviews.label([c], "faq", "gift-cards", "ana")
    assert labels[0].turn_id == c and labels[0].author == "ana"
    with pytest.raises(NotPending) as refused:
        reviews.label([a], "dismissed", None, "ben")  # labelled already
    assert not isinstance(refused.value, NoSuchTurn) and "not waiting for review any more" in str(refused.value)
    with pytest.raises(NoSuchTurn, match=r"there is no turn 999\b"):
        reviews.label([a, 999], "dismissed", None, "ben")  # never a turn: not "someone else labelled it"
    assert reviews.pending() == []
    assert reviews.labels_since(date.today() - timedelta(days=1)) == [
        TrainingLabel("where is NW-1", "intent", "order_status"), TrainingLabel("tell me a joke", "out_of_scope", None),
        TrainingLabel("gift voucher?", "faq", "gift-cards")]
    assert reviews.labels_since(datetime.now(UTC) + timedelta(minutes=1)) == []
    assert [(x.kind, x.author) for x in reviews.labels(turn_id=b)] == [("out_of_scope", "ben")]
    assert "order_status" in reviews.known_intents()


def test_intent_names_from_real_data_sets_are_accepted(log: ConversationLog) -> None:
    (turn,) = log.record([_turn("why was my payment reverted", "fallback")])
    (label,) = Reviews(log.database).label([turn], "intent", "reverted_card_payment?", "ana")
    assert label.value == "reverted_card_payment?"


@pytest.mark.parametrize(("kind", "value", "message"), [
    ("bogus", None, "unknown label kind"), ("intent", "", "needs a value"), ("faq", None, "needs a value"),
    ("intent", "two words", "intent label is"), ("intent", "tab\there", "intent label is")])
def test_invalid_labels_are_refused(log: ConversationLog, kind: str, value: str | None, message: str) -> None:
    (turn,) = log.record([_turn("x", "fallback")])
    with pytest.raises(InvalidLabel, match=message):
        Reviews(log.database).label([turn], kind, value, "ana")
    assert len(Reviews(log.database).pending()) == 1


def test_activity_per_day_and_feedback(log: ConversationLog) -> None:
    today = datetime.now(UTC)
    yesterday = (today - timedelta(days=1)).isoformat()
    ids = log.record([_turn("a", "answer", review=False), _turn("b", "fallback"),
                      _turn("c", "clarify", created_at=yesterday), _turn("d", "handoff", created_at=yesterday),
                      _turn("e", "rejected", review=False, created_at=(today - timedelta(days=30)).isoformat())])
    log.add_feedback(ids[0], "web:session-0001", 1)
    days = Activity(log.database).per_day(days=3)
    assert [d.day for d in days] == [(today.date() - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert days[0] == DayActivity(days[0].day)
    assert (days[1].questions, days[1].clarified, days[1].handed_off) == (2, 1, 1)
    assert (days[2].questions, days[2].answered, days[2].fell_back) == (2, 1, 1)
    assert Activity(log.database).feedback(days=3) == Feedback(up=1, down=0)
    with pytest.raises(ValueError):
        Activity(log.database).per_day(days=0)


def test_repeats_are_one_queued_item_and_labelled_together(log: ConversationLog) -> None:
    ids = log.record([_turn("Where is my order?", "fallback"), _turn("joke", "fallback"),
                      _turn("where is my   ORDER?", "fallback"), _turn("where is my order?", "clarify")])
    reviews = Reviews(log.database)
    queued = reviews.pending()
    assert [(t.id, t.repeats, t.turn_ids) for t in queued] == [(ids[3], 3, (ids[3], ids[2], ids[0])),
                                                                (ids[1], 1, (ids[1],))]
    assert [t.id for t in reviews.pending(limit=1)] == [ids[3]]
    assert [t.id for t in reviews.pending(turn_ids=[ids[0], ids[2]])] == [ids[2], ids[0]]  # given ids: not merged
    labels = reviews.label([ids[3]], "intent", "order_status", "ana")
    assert sorted(label.turn_id for label in labels) == sorted([ids[0], ids[2], ids[3]])
    assert [t.id for t in reviews.pending()] == [ids[1]]


def test_a_label_can_be_undone_or_changed(log: ConversationLog) -> None:
    from knowledge.conversations.reviews import NotLabelled

    a, b = log.record([_turn("ten pallets of mattresses", "fallback"), _turn("spam", "fallback")])
    reviews = Reviews(log.database)
    reviews.label([a], "intent", "wholesale", "ana")
    with pytest.raises(NotLabelled, match=rf"turn\(s\) \[{b}\] have no label"):
        reviews.unlabel([a, b])
    assert [label.value for label in reviews.labels(a)] == ["wholesale"]  # all or nothing
    old, new = reviews.relabel([a], "intent", "bulk_order", "bo")
    assert [(x.kind, x.value) for x in old] == [("intent", "wholesale")]
    assert [(x.turn_id, x.value, x.author) for x in new] == [(a, "bulk_order", "bo")]
    assert [label.value for label in reviews.training_labels("1970-01-01")] == ["bulk_order"]
    with pytest.raises(InvalidLabel):
        reviews.relabel([a], "intent", "two words", "bo")
    undone = reviews.unlabel([a])
    assert [x.value for x in undone] == ["bulk_order"] and reviews.labels(a) == []
    assert [t.id for t in reviews.pending()] == [b, a]  # back in the queue
