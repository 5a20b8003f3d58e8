from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from knowledge.conversations.log import AlreadyStored, ConversationLog, DuplicateFeedback, TurnRecord
from knowledge.database import Database
from knowledge.errors import EntryNotFound


@pytest.fixture()
def log(database: Database) -> ConversationLog:
    return ConversationLog(database)


def turn(session: str, text: str, **fields: object) -> TurnRecord:
    return TurnRecord(session_id=session, channel="web", text=text, action="answer", reply="r",
                      latency_ms=1.5, **fields)


def test_record_returns_ids_in_order_across_sessions(log: ConversationLog) -> None:
    ids = log.record([turn("a", "one"), turn("b", "two"), turn("a", "three")])
    assert ids == sorted(ids) and len(set(ids)) == 3
    more = log.record([turn("b", "four")])
    assert more[0] > ids[-1]
    assert [t.record.text for t in log.turns("a")] == ["one", "three"]
    assert [t.id for t in log.turns()] == [*ids, *more]
    assert log.count() == 4


def test_review_flags_and_fields_round_trip(log: ConversationLog) -> None:
    record = turn("s", "where is it", intent="faq", confidence=0.42, in_scope=True, faq_id="x",
                  faq_score=0.61, choices=("x", "y"), bundle_version="v1", needs_review=True)
    (turn_id,) = log.record([record])
    (logged,) = log.turns("s")
    assert logged.id == turn_id and logged.review == "pending" and logged.feedback is None
    assert logged.record == record


def test_feedback_belongs_to_its_session_once(log: ConversationLog) -> None:
    (turn_id,) = log.record([turn("s", "q")])
    with pytest.raises(EntryNotFound):
        log.add_feedback(turn_id, "someone-else", 1)
    with pytest.raises(ValueError):
        log.add_feedback(turn_id, "s", 5)
    log.add_feedback(turn_id, "s", -1)
    with pytest.raises(DuplicateFeedback):
        log.add_feedback(turn_id, "s", 1)
    (logged,) = log.turns("s")
    assert logged.feedback == -1 and logged.review == "pending"


def test_unknown_action_is_refused(log: ConversationLog) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        log.record([TurnRecord("s", "web", "q", "shrug", "r", 1.0)])
    assert log.count() == 0


def test_a_message_key_is_stored_once_per_conversation(log: ConversationLog) -> None:
    (first,) = log.record([turn("web:a", "where is my order", message_id="k1")])
    with pytest.raises(AlreadyStored) as stored:
        log.record([TurnRecord("web:a", "web", "where is my order", "handler", "another reply", 2.0,
                               message_id="k1")])
    assert stored.value.turn.id == first and stored.value.turn.record.reply == "r"
    # The same key in another conversation, and turns without a key, are turns of their own.
    log.record([turn("web:b", "hi", message_id="k1"), turn("web:a", "hi"), turn("web:a", "hi")])
    assert log.by_message("web:b", "k1") is not None and log.by_message("web:c", "k1") is None
    assert [t.record.message_id for t in log.turns("web:a")] == ["k1", None, None]


def test_a_batch_holding_a_stored_key_stores_nothing(log: ConversationLog) -> None:
    log.record([turn("web:a", "first", message_id="k1")])
    with pytest.raises(IntegrityError):  # the runtime's batcher then stores each one alone
        log.record([turn("web:b", "new"), turn("web:a", "first", message_id="k1")])
    assert log.turns("web:b") == [] and len(log.turns("web:a")) == 1


def test_a_turn_that_doubts_an_earlier_answer_queues_it_with_itself(log: ConversationLog) -> None:
    answered, other = log.record([turn("web:a", "how long is delivery"), turn("web:b", "returns?")])
    (doubting,) = log.record([turn("web:a", "no, that's not it", doubts=answered)])
    reviews = {t.id: t.review for t in log.turns()}
    assert reviews == {answered: "possibly_wrong", other: None, doubting: None}
    # A turn already queued (or labelled) keeps what it has.
    (pending,) = log.record([turn("web:c", "q", needs_review=True)])
    log.record([turn("web:c", "q again", doubts=pending)])
    assert {t.id: t.review for t in log.turns("web:c")}[pending] == "pending"


def test_a_doubting_turn_that_is_not_stored_queues_nothing(log: ConversationLog) -> None:
    (answered,) = log.record([turn("web:a", "how long is delivery", message_id="k1")])
    with pytest.raises(AlreadyStored):  # the same message sent again: stored the first time
        log.record([turn("web:a", "how long is delivery", message_id="k1", doubts=answered)])
    assert log.turns("web:a")[0].review is None
