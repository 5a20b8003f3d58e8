"""The conversation log: every turn the bot answered, feedback on it, and the review queue.

Turns are written in batches (one transaction for many turns, see ``record``), because the
bot acknowledges a message only after its turn is stored: a crash right after a reply can
never lose a turn the user saw.

Example::

    log = ConversationLog(Database.open("sqlite:///data/supportbot.db"))
    (turn_id,) = log.record([TurnRecord("web:abc", "web", "hi", "handler", "Hello!", 3.2)])
    log.add_feedback(turn_id, "web:abc", -1)           # thumbs down: queued for review
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import RowMapping, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from knowledge.conversations.dialogue import save_after_turn_query
from knowledge.database import Database, feedback, turns
from knowledge.errors import EntryNotFound, KnowledgeError
from knowledge.pipeline import Query, first_value, run_together

ACTIONS = ("answer", "clarify", "fallback", "handler", "rejected", "handoff", "relayed")
PENDING = "pending"
# Queued too, for another reason: an answer that may have been wrong (the customer said "no",
# complained or asked again right after it, or it was drawn in the random sample of answers).
POSSIBLY_WRONG = "possibly_wrong"
QUEUED = (PENDING, POSSIBLY_WRONG)


@dataclass(frozen=True)
class TurnRecord:
    """One answered message, as the runtime logs it."""

    session_id: str
    channel: str
    text: str
    action: str
    reply: str
    latency_ms: float
    intent: str | None = None
    confidence: float | None = None
    in_scope: bool | None = None
    faq_id: str | None = None
    faq_score: float | None = None
    choices: tuple[str, ...] = ()
    bundle_version: str | None = None
    needs_review: bool = False
    possibly_wrong: bool = False  # queued as a possibly wrong answer (a sampled one)
    created_at: str = field(default_factory=lambda: _now())
    # The conversation's dialogue memory after this turn (JSON, ``knowledge.conversations.dialogue``),
    # stored in the turn's transaction; None leaves it as it was.
    state: str | None = None
    # The client's key for the message (at most 64 characters): a second turn with the same key in
    # the conversation is not stored; ``record`` raises ``AlreadyStored`` with the first.
    message_id: str | None = None
    # An earlier turn this message suggests was answered wrongly (a "no", a complaint, the same
    # question again): queued for review as possibly wrong in the turn's own transaction, unless
    # it is queued or labelled already.
    doubts: int | None = None


@dataclass(frozen=True)
class LoggedTurn:
    id: int
    record: TurnRecord
    review: str | None
    feedback: int | None


class DuplicateFeedback(KnowledgeError):
    pass


class AlreadyStored(KnowledgeError):
    """The message was stored before, under the same key: ``turn`` is that turn."""

    def __init__(self, turn: LoggedTurn) -> None:
        super().__init__(f"message {turn.record.message_id!r} of {turn.record.session_id} is turn {turn.id} already")
        self.turn = turn


class ConversationLog:
    """Turns, conversations and feedback in the knowledge database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, records: Sequence[TurnRecord]) -> list[int]:
        """Store many turns in one transaction and return their ids, in order.

        A record whose ``message_id`` its conversation has stored already fails the whole batch
        (nothing is stored); alone, it raises ``AlreadyStored`` naming the stored turn.
        """
        if not records:
            return []
        try:
            return self._record(records)
        except IntegrityError:
            if len(records) == 1 and records[0].message_id is not None:
                stored = self.by_message(records[0].session_id, records[0].message_id)
                if stored is not None:
                    raise AlreadyStored(stored) from None
            raise

    def by_message(self, session_id: str, message_id: str) -> LoggedTurn | None:
        """The turn stored for the client's message key ``message_id`` in ``session_id``, if any."""
        with self.database.connect() as conn:
            row = conn.execute(select(turns, feedback.c.value.label("feedback_value"))
                               .join(feedback, feedback.c.turn_id == turns.c.id, isouter=True)
                               .where(turns.c.session_id == session_id, turns.c.message_id == message_id)
                               ).mappings().first()
        return None if row is None else _logged(row)

    def _record(self, records: Sequence[TurnRecord]) -> list[int]:
        # Each conversation created or touched by one statement (no look-up first), then each turn
        # and the memory it left: one transaction, on PostgreSQL one round trip for the whole
        # batch (``knowledge.pipeline``), which the replies wait for.
        latest = {r.session_id: r for r in records}
        queries = [Query(_TOUCH, {"session_id": s, "channel": r.channel, "at": r.created_at}) for s, r in latest.items()]
        inserts = []
        with self.database.statements() as conn:
            for record in records:
                inserts.append(len(queries))
                queries.append(Query(_INSERT, _row(record), first_value))
                if record.state is not None:
                    queries.append(save_after_turn_query(conn.dialect.name, record.session_id, record.state))
                if record.doubts is not None:
                    queries.append(Query(_DOUBT, {"turn_id": record.doubts, "review": POSSIBLY_WRONG}))
            results = run_together(conn, queries)
        return [int(results[i]) for i in inserts]

    def add_feedback(self, turn_id: int, session_id: str, value: int) -> None:
        """Attach thumbs up (+1) or down (-1) to a turn of ``session_id``; down queues it."""
        if value not in (1, -1):
            raise ValueError(f"feedback is +1 or -1, got {value}")
        with self.database.begin() as conn:
            owner = conn.execute(select(turns.c.session_id).where(turns.c.id == turn_id)).scalar()
            if owner is None or owner != session_id:
                raise EntryNotFound(f"no turn {turn_id} in this conversation")
            try:
                conn.execute(insert(feedback).values(turn_id=turn_id, value=value, created_at=_now()))
            except IntegrityError:
                raise DuplicateFeedback(f"turn {turn_id} already has feedback") from None
            if value < 0:
                conn.execute(update(turns).where(turns.c.id == turn_id, turns.c.review.is_(None))
                             .values(review=PENDING))

    def turns(self, session_id: str | None = None, limit: int = 1000, since: str | None = None,
              pending: bool = False) -> list[LoggedTurn]:
        """Turns, newest last: of one session, from ``since`` (ISO day or time, UTC) on, or only
        those waiting for review, as asked."""
        query = (select(turns, feedback.c.value.label("feedback_value"))
                 .join(feedback, feedback.c.turn_id == turns.c.id, isouter=True)
                 .order_by(turns.c.id.desc()).limit(limit))
        if session_id is not None:
            query = query.where(turns.c.session_id == session_id)
        if since is not None:
            query = query.where(turns.c.created_at >= since)
        if pending:
            query = query.where(turns.c.review.in_(QUEUED))
        with self.database.connect() as conn:
            rows = list(conn.execute(query).mappings())
        return [_logged(row) for row in reversed(rows)]

    def customer_texts(self, session_id: str, limit: int = 50) -> list[str]:
        """What the customer wrote in this conversation, newest last (buttons and refused
        messages included as logged)."""
        with self.database.connect() as conn:
            rows = conn.execute(select(turns.c.text).where(turns.c.session_id == session_id, turns.c.text != "")
                                .order_by(turns.c.id.desc()).limit(limit)).scalars()
            return list(reversed(list(rows)))

    def around(self, turn_id: int, before: int = 3, after: int = 2) -> list[LoggedTurn]:
        """Turn ``turn_id`` with up to ``before`` turns before it and ``after`` after it in its
        conversation, oldest first (empty if there is no such turn)."""
        with self.database.connect() as conn:
            session = conn.execute(select(turns.c.session_id).where(turns.c.id == turn_id)).scalar()
            if session is None:
                return []
            base = select(turns, feedback.c.value.label("feedback_value")).join(
                feedback, feedback.c.turn_id == turns.c.id, isouter=True).where(turns.c.session_id == session)
            earlier = list(conn.execute(base.where(turns.c.id <= turn_id).order_by(turns.c.id.desc())
                                        .limit(before + 1)).mappings())
            later = list(conn.execute(base.where(turns.c.id > turn_id).order_by(turns.c.id).limit(after)).mappings())
        return [_logged(row) for row in [*reversed(earlier), *later]]

    def count(self) -> int:
        with self.database.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(turns)).scalar() or 0)


# The same on both engines: a new conversation, or a known one's last activity.
_TOUCH = text("""
    INSERT INTO conversations (session_id, channel, handoff, created_at, updated_at)
    VALUES (:session_id, :channel, false, :at, :at)
    ON CONFLICT (session_id) DO UPDATE SET updated_at = :at""")


_COLUMNS = ("session_id", "channel", "created_at", "text", "action", "intent", "confidence", "in_scope", "faq_id",
            "faq_score", "choices", "reply", "bundle_version", "latency_ms", "review", "message_id")
# Queue a turn as possibly wrong, unless it is queued or labelled already (one entry per turn).
_DOUBT = text("UPDATE turns SET review = :review WHERE id = :turn_id AND review IS NULL")
_INSERT = text(f"INSERT INTO turns ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) RETURNING id")


def _row(record: TurnRecord) -> dict[str, object]:
    if record.action not in ACTIONS:
        raise ValueError(f"unknown action {record.action!r}; expected one of {ACTIONS}")
    return {
        "session_id": record.session_id, "channel": record.channel, "created_at": record.created_at,
        "text": record.text, "action": record.action, "intent": record.intent,
        "confidence": record.confidence, "in_scope": record.in_scope, "faq_id": record.faq_id,
        "faq_score": record.faq_score, "choices": json.dumps(list(record.choices)),
        "reply": record.reply, "bundle_version": record.bundle_version,
        "latency_ms": record.latency_ms,
        "review": PENDING if record.needs_review else POSSIBLY_WRONG if record.possibly_wrong else None,
        "message_id": record.message_id,
    }


def _logged(row: RowMapping) -> LoggedTurn:
    record = TurnRecord(
        session_id=row["session_id"], channel=row["channel"], text=row["text"], action=row["action"],
        reply=row["reply"], latency_ms=row["latency_ms"], intent=row["intent"],
        confidence=row["confidence"], in_scope=row["in_scope"], faq_id=row["faq_id"],
        faq_score=row["faq_score"], choices=tuple(json.loads(row["choices"] or "[]")),
        bundle_version=row["bundle_version"], needs_review=row["review"] == PENDING,
        possibly_wrong=row["review"] == POSSIBLY_WRONG,
        created_at=row["created_at"], message_id=row["message_id"],
    )
    return LoggedTurn(row["id"], record, row["review"], row["feedback_value"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
