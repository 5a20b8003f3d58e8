"""Human handoff: a conversation a person takes over, its transcript, and the staff-chat relay.

A conversation is with the bot until someone asks for a person; then it has one open handoff,
``waiting`` (queued for a person) until a staff member claims it (``with_staff``), and
``closed`` when staff hand it back to the bot. While a handoff is open the bot answers
nothing: the customer's messages are stored as turns with action ``relayed``. Opening,
claiming, staff messages and closing are stored as events; turns and events together are the
transcript. Everything is in the database, so a restarted bot (or another replica) sees the
same state, and one conversation cannot have two open handoffs (a unique constraint).

The Telegram staff-chat relay keeps its map here too: which staff-chat message stands for
which customer, so a staff member's reply to it reaches that customer.

Example::

    handoffs = Handoffs(Database.open("sqlite:///data/supportbot.db"))
    opened = handoffs.open("web:abc", "web", "asked for a person")   # opened.created, position 1
    handoffs.claim(opened.handoff.id, "ana")                          # with_staff, ana has it
    handoffs.post(opened.handoff.id, "ana", "Hi, I'm Ana. How can I help?", "console")
    handoffs.transcript("web:abc")                                    # customer, bot and staff lines
    handoffs.close(opened.handoff.id, "ana")                          # back to the bot
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from knowledge.database import Database, conversations, handoff_events, handoffs, staff_relays, turns
from knowledge.errors import EntryNotFound, KnowledgeError
from knowledge.pipeline import Query, first_value, run_together

WAITING, WITH_STAFF, CLOSED = "waiting", "with_staff", "closed"
OPEN_STATES = (WAITING, WITH_STAFF)
STATES = (*OPEN_STATES, CLOSED)
SOURCES = ("bot", "console", "api", "telegram")
MAX_STAFF_TEXT = 4000
RELAYED = "relayed"  # the turn action of a customer's message while a person has the conversation


class HandoffConflict(KnowledgeError):
    """The change does not fit the handoff's state: closed already, or another person has it."""

    def __init__(self, message: str, claimed_by: str | None = None) -> None:
        self.claimed_by = claimed_by
        super().__init__(message)


@dataclass(frozen=True)
class Handoff:
    id: int
    session_id: str
    channel: str
    reason: str
    state: str
    opened_at: str
    claimed_by: str | None = None
    claimed_at: str | None = None
    first_reply_at: str | None = None
    closed_at: str | None = None
    closed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state != CLOSED


@dataclass(frozen=True)
class WaitingNote:
    """What a customer's message during a handoff is told: the handoff's place in the queue (1 for
    the conversation waiting longest; 0 once a person has it), and when the customer was last told
    they wait (a relayed turn's reply; None: never since the handoff opened)."""

    position: int
    last_told: str | None


@dataclass(frozen=True)
class Opened:
    """The result of asking for a person: the open handoff, whether this request opened it,
    and its place among the conversations waiting (0 once someone has it)."""

    handoff: Handoff
    created: bool
    position: int


@dataclass(frozen=True)
class Cursor:
    """A place in a transcript: the last turn and the last event seen. Text form ``"12-3"``."""

    turn: int = 0
    event: int = 0

    def __str__(self) -> str:
        return f"{self.turn}-{self.event}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """``"12-3"`` -> Cursor(12, 3); empty -> the start; anything else is a ValueError."""
        if not text:
            return cls()
        turn, sep, event = text.partition("-")
        if not sep or not turn.isdigit() or not event.isdigit() or len(text) > 40:
            raise ValueError("a transcript position looks like '12-3'")
        return cls(int(turn), int(event))

    def after(self, other: Cursor) -> Cursor:
        return Cursor(max(self.turn, other.turn), max(self.event, other.event))


@dataclass(frozen=True)
class Line:
    """One line of a transcript, as the customer or staff see it.

    ``role`` is ``customer``, ``bot``, ``staff`` (a person's message) or ``event`` (opened,
    claimed, closed: ``kind`` says which). Bot lines carry what the bot used: ``action``,
    ``intent`` and ``faq_id``.
    """

    role: str
    text: str
    at: str
    cursor: Cursor
    author: str | None = None
    kind: str | None = None
    action: str | None = None
    intent: str | None = None
    faq_id: str | None = None
    turn_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"role": self.role, "text": self.text, "at": self.at, "cursor": str(self.cursor),
                "author": self.author, "kind": self.kind, "action": self.action, "intent": self.intent,
                "faq_id": self.faq_id, "turn_id": self.turn_id}


@dataclass(frozen=True)
class InboxItem:
    """An open handoff as the inbox lists it: with the customer's last message."""

    handoff: Handoff
    last_message: str | None
    last_message_at: str | None


@dataclass(frozen=True)
class HandoffStats:
    waiting_now: int
    with_staff_now: int
    median_first_reply_s: float | None  # over handoffs opened in the period that got a reply
    per_day: list[tuple[str, int]]  # (YYYY-MM-DD, handoffs opened), oldest first


@dataclass(frozen=True)
class Relay:
    """One staff-chat message and the customer conversation it stands for."""

    staff_chat: str
    staff_message_id: int
    session_id: str
    user_chat: str


class Handoffs:
    """Handoff state, events and transcripts in the knowledge database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- state --------------------------------------------------------------------------

    def open(self, session_id: str, channel: str, reason: str) -> Opened:
        """Queue the conversation for a person; if it already has an open handoff, that one."""
        now = _now()
        try:
            with self.database.begin() as conn:
                _ensure_conversation(conn, session_id, channel, now)
                new_id = conn.execute(insert(handoffs).values(
                    session_id=session_id, open_session=session_id, channel=channel, reason=reason[:200],
                    state=WAITING, opened_at=now).returning(handoffs.c.id)).scalar_one()
                _event(conn, new_id, session_id, "opened", "bot", "bot", reason[:200], now)
                conn.execute(update(conversations).where(conversations.c.session_id == session_id)
                             .values(handoff=True, handoff_at=now, updated_at=now))
            created = True
        except IntegrityError:  # open already (perhaps opened by another replica a moment ago)
            created = False
        handoff = self.for_session(session_id)
        if handoff is None:  # closed again in between: rare enough to simply try once more
            return self.open(session_id, channel, reason)
        return Opened(handoff, created, self.position(handoff))

    def for_session(self, session_id: str) -> Handoff | None:
        """The conversation's open handoff, or None when the bot has it."""
        return self.open_for([session_id]).get(session_id)

    def open_for(self, session_ids: Sequence[str]) -> dict[str, Handoff]:
        """The open handoffs of many conversations at once (one query), by session id."""
        if not session_ids:
            return {}
        with self.database.connect() as conn:
            found: dict[str, Handoff] = run_together(conn, [open_query(conn.dialect.name, session_ids)])[0]
        return found

    def get(self, handoff_id: int) -> Handoff:
        with self.database.connect() as conn:
            row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).mappings().first()
        if row is None:
            raise EntryNotFound(f"no handoff {handoff_id}")
        return _handoff(row)

    def position(self, handoff: Handoff) -> int:
        """1 for the conversation waiting longest, 2 for the next...; 0 when not waiting."""
        if handoff.state != WAITING:
            return 0
        with self.database.connect() as conn:
            ahead: int = run_together(conn, [_ahead(handoff)])[0]
        return ahead + 1

    def claim(self, handoff_id: int, staff: str, take_over: bool = False, source: str = "console") -> Handoff:
        """``staff`` takes the conversation. Someone else's needs ``take_over``; closed ones cannot."""
        now = _now()
        with self.database.begin() as conn:
            current = _locked(conn, handoff_id)
            if current.claimed_by == staff and current.state == WITH_STAFF:
                return current
            _take(conn, current, staff, take_over, now)
            _event(conn, handoff_id, current.session_id, "claimed", staff, source, "", now)
        return self.get(handoff_id)

    def post(self, handoff_id: int, author: str, text: str, source: str, take_over: bool = False) -> Line:
        """A staff message to the customer. Claims a waiting conversation for ``author``; refuses
        one that someone else has (unless ``take_over``) or that is closed."""
        text = text.strip()
        if not text:
            raise ValueError("the message is empty")
        if len(text) > MAX_STAFF_TEXT:
            raise ValueError(f"the message is longer than {MAX_STAFF_TEXT} characters")
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        now = _now()
        with self.database.begin() as conn:
            current = _locked(conn, handoff_id)
            if current.claimed_by != author or current.state != WITH_STAFF:
                _take(conn, current, author, take_over, now)
                _event(conn, handoff_id, current.session_id, "claimed", author, source, "", now)
            elif not _still(conn, handoff_id, WITH_STAFF, author):  # handed back or taken over meanwhile
                _check_claim(self.get(handoff_id), author, take_over)
            if current.first_reply_at is None:
                conn.execute(update(handoffs).where(handoffs.c.id == handoff_id).values(first_reply_at=now))
            event_id = _event(conn, handoff_id, current.session_id, "message", author, source, text, now)
        return Line("staff", text, now, Cursor(0, event_id), author=author, kind="message")

    def close(self, handoff_id: int, by: str, source: str = "console", take_over: bool = False) -> Handoff:
        """Hand the conversation back to the bot; a HandoffConflict if it is closed already, or
        if someone else has it (unless ``take_over``): as with replying, a colleague's
        conversation is not ended by accident."""
        now = _now()
        with self.database.begin() as conn:
            current = _locked(conn, handoff_id)
            if current.state == WITH_STAFF and current.claimed_by != by and not take_over:
                raise HandoffConflict(f"{current.claimed_by} is answering this conversation; take it over first",
                                      claimed_by=current.claimed_by)
            closed = conn.execute(update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.state != CLOSED)
                                  .values(state=CLOSED, open_session=None, closed_at=now, closed_by=by))
            if closed.rowcount == 0:  # closed already, perhaps a moment ago by someone else
                raise HandoffConflict(f"handoff {handoff_id} is closed already (by {self.get(handoff_id).closed_by})")
            _event(conn, handoff_id, current.session_id, "closed", by, source, "", now)
            conn.execute(update(conversations).where(conversations.c.session_id == current.session_id)
                         .values(handoff=False, updated_at=now))
        return self.get(handoff_id)

    # -- reading ------------------------------------------------------------------------

    def inbox(self, state: str | None = None, limit: int = 200) -> list[InboxItem]:
        """Open handoffs (or those in ``state``): waiting first, each oldest first."""
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        query = select(handoffs).order_by(handoffs.c.id).limit(limit)
        query = query.where(handoffs.c.state == state) if state else query.where(handoffs.c.state.in_(OPEN_STATES))
        with self.database.connect() as conn:
            found = [_handoff(row) for row in conn.execute(query).mappings()]
            last = {}
            for item in found:
                row = conn.execute(select(turns.c.text, turns.c.created_at)
                                   .where(turns.c.session_id == item.session_id, turns.c.text != "")
                                   .order_by(turns.c.id.desc()).limit(1)).first()
                last[item.id] = (row.text, row.created_at) if row else (None, None)
        found.sort(key=lambda h: (h.state != WAITING, h.id))
        return [InboxItem(h, *last[h.id]) for h in found]

    def inbox_signature(self) -> str:
        """Changes whenever the inbox does: a handoff opened, claimed, answered or closed, or a
        customer with an open handoff wrote. Cheap: primary keys and the turns' session index."""
        open_sessions = select(handoffs.c.open_session).where(handoffs.c.open_session.is_not(None))
        with self.database.connect() as conn:
            event = conn.execute(select(func.max(handoff_events.c.id))).scalar()
            turn = conn.execute(select(func.max(turns.c.id)).where(turns.c.session_id.in_(open_sessions))).scalar()
        return f"{event or 0}-{turn or 0}"

    def activity_after(self, event_id: int, turn_id: int) -> tuple[int, int, set[str]]:
        """What happened in handoffs since ``event_id`` and ``turn_id`` (on any replica): the
        newest event and turn ids, and the conversations with a new event or relayed message.
        Start with ``activity_after(-1, -1)``: only the ids, nothing new."""
        with self.database.connect() as conn:
            if event_id < 0 or turn_id < 0:
                newest_event = conn.execute(select(func.max(handoff_events.c.id))).scalar() or 0
                newest_turn = conn.execute(select(func.max(turns.c.id))).scalar() or 0
                return int(newest_event), int(newest_turn), set()
            events = conn.execute(select(handoff_events.c.id, handoff_events.c.session_id)
                                  .where(handoff_events.c.id > event_id)).all()
            relayed = conn.execute(select(turns.c.id, turns.c.session_id, turns.c.action)
                                   .where(turns.c.id > turn_id)).all()
        sessions = {row.session_id for row in events} | {row.session_id for row in relayed if row.action == "relayed"}
        return (max([event_id, *(row.id for row in events)]), max([turn_id, *(row.id for row in relayed)]), sessions)

    def waiting_count(self) -> int:
        with self.database.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(handoffs)
                                    .where(handoffs.c.state == WAITING)).scalar_one())

    def transcript(self, session_id: str, after: Cursor | None = None, limit: int = 500) -> list[Line]:
        """The conversation's lines after ``after`` (all of them by default), oldest first: its
        turns (the customer's message and the bot's reply) and its handoff events, merged in time."""
        after = after or Cursor()
        with self.database.connect() as conn:
            turn_rows = list(conn.execute(
                select(turns).where(turns.c.session_id == session_id, turns.c.id > after.turn)
                .order_by(turns.c.id.desc()).limit(limit)).mappings())
            event_rows = list(conn.execute(
                select(handoff_events).where(handoff_events.c.session_id == session_id,
                                             handoff_events.c.id > after.event)
                .order_by(handoff_events.c.id.desc()).limit(limit)).mappings())
        entries: list[tuple[str, int, int, list[Line]]] = []  # (time, order, id, lines)
        for row in turn_rows:
            entries.append((row["created_at"], 0, row["id"], _turn_lines(row, after.event)))
        for row in event_rows:
            entries.append((row["created_at"], 1, row["id"], [_event_line(row, after.turn)]))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        lines = [line for entry in entries for line in entry[3]]
        # Each line's cursor covers everything before it, so a reader can resume from any line.
        position, placed = after, []
        for line in lines:
            position = position.after(line.cursor)
            placed.append(_with_cursor(line, position))
        return placed[-limit:]

    def end_of(self, session_id: str) -> Cursor:
        """The position after the conversation's last line."""
        with self.database.connect() as conn:
            turn = conn.execute(select(func.max(turns.c.id)).where(turns.c.session_id == session_id)).scalar()
            event = conn.execute(select(func.max(handoff_events.c.id))
                                 .where(handoff_events.c.session_id == session_id)).scalar()
        return Cursor(int(turn or 0), int(event or 0))

    def stats(self, days: int = 14, today: date | None = None) -> HandoffStats:
        """Waiting and claimed now; median time to the first staff reply; handoffs per day."""
        last = today or datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
        day = func.substr(handoffs.c.opened_at, 1, 10)
        with self.database.connect() as conn:
            states: dict[str, int] = dict(conn.execute(select(handoffs.c.state, func.count()).group_by(handoffs.c.state)).all())
            per_day: dict[str, int] = dict(conn.execute(select(day, func.count()).where(day >= first.isoformat())
                                        .group_by(day)).all())
            replied = conn.execute(select(handoffs.c.opened_at, handoffs.c.first_reply_at).where(
                day >= first.isoformat(), handoffs.c.first_reply_at.is_not(None))).all()
        delays = [(_parse(r.first_reply_at) - _parse(r.opened_at)).total_seconds() for r in replied]
        return HandoffStats(
            waiting_now=int(states.get(WAITING, 0)), with_staff_now=int(states.get(WITH_STAFF, 0)),
            median_first_reply_s=statistics.median(delays) if delays else None,
            per_day=[((first + timedelta(days=i)).isoformat(),
                      int(per_day.get((first + timedelta(days=i)).isoformat(), 0))) for i in range(days)])

    # -- the Telegram staff-chat relay -----------------------------------------------------

    def remember(self, relay: Relay) -> None:
        """Record that ``relay.staff_message_id`` in the staff chat stands for that customer.

        The conversation must exist (``open`` creates it). Recording the same message twice
        keeps the first record.
        """
        try:
            with self.database.begin() as conn:
                conn.execute(insert(staff_relays).values(
                    staff_chat=relay.staff_chat, staff_message_id=relay.staff_message_id,
                    session_id=relay.session_id, user_chat=relay.user_chat, created_at=_now()))
        except IntegrityError:
            if self.relay_for(relay.staff_chat, relay.staff_message_id) is None:
                raise  # not a duplicate: the conversation is missing

    def relay_for(self, staff_chat: str, staff_message_id: int) -> Relay | None:
        """The customer a staff-chat message stands for, or None if it stands for nobody."""
        with self.database.connect() as conn:
            row = conn.execute(select(staff_relays.c.session_id, staff_relays.c.user_chat).where(
                staff_relays.c.staff_chat == staff_chat,
                staff_relays.c.staff_message_id == staff_message_id)).first()
        if row is None:
            return None
        return Relay(staff_chat, staff_message_id, row.session_id, row.user_chat)


def _ensure_conversation(conn: Connection, session_id: str, channel: str, now: str) -> None:
    """A handoff may come first (``/human`` as the first message): create its conversation."""
    exists = conn.execute(select(conversations.c.session_id)
                          .where(conversations.c.session_id == session_id)).first()
    if exists is None:
        conn.execute(insert(conversations).values(session_id=session_id, channel=channel, created_at=now,
                                                  updated_at=now, handoff=False))


def _locked(conn: Connection, handoff_id: int) -> Handoff:
    """The handoff, read inside the transaction (row-locked where the engine can)."""
    row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id).with_for_update()).mappings().first()
    if row is None:
        raise EntryNotFound(f"no handoff {handoff_id}")
    return _handoff(row)


def _take(conn: Connection, current: Handoff, staff: str, take_over: bool, now: str) -> None:
    """Give the conversation to ``staff`` if it is still as ``current`` says (compare and set,
    so of two people claiming at once exactly one gets it, on every engine); else the conflict."""
    _check_claim(current, staff, take_over)
    condition = [handoffs.c.id == current.id, handoffs.c.state == current.state]
    condition.append(handoffs.c.claimed_by.is_(None) if current.claimed_by is None
                     else handoffs.c.claimed_by == current.claimed_by)
    taken = conn.execute(update(handoffs).where(*condition)
                         .values(state=WITH_STAFF, claimed_by=staff, claimed_at=now))
    if taken.rowcount == 0:
        latest = conn.execute(select(handoffs).where(handoffs.c.id == current.id)).mappings().one()
        _check_claim(_handoff(latest), staff, take_over)
        raise HandoffConflict("someone changed this conversation at the same moment; look again")


def _still(conn: Connection, handoff_id: int, state: str, staff: str) -> bool:
    return conn.execute(select(handoffs.c.id).where(handoffs.c.id == handoff_id, handoffs.c.state == state,
                                                    handoffs.c.claimed_by == staff)).first() is not None


def _check_claim(current: Handoff, staff: str, take_over: bool) -> None:
    if not current.is_open:
        raise HandoffConflict(f"this conversation was handed back to the bot by {current.closed_by}")
    if current.state == WITH_STAFF and current.claimed_by != staff and not take_over:
        raise HandoffConflict(f"{current.claimed_by} is answering this conversation; take it over first",
                              claimed_by=current.claimed_by)


def _event(conn: Connection, handoff_id: int, session_id: str, kind: str, author: str, source: str,
           text: str, now: str) -> int:
    return int(conn.execute(insert(handoff_events).values(
        handoff_id=handoff_id, session_id=session_id, kind=kind, author=author[:200], source=source,
        text=text, created_at=now).returning(handoff_events.c.id)).scalar_one())


def _ahead(handoff: Handoff) -> Query:
    """How many conversations have waited longer than ``handoff``."""
    return Query(select(func.count()).select_from(handoffs).where(handoffs.c.state == WAITING, handoffs.c.id < handoff.id),
                 read=lambda rows: int(first_value(rows)))


def open_query(dialect: str, session_ids: Iterable[str]) -> Query:
    """``Handoffs.open_for`` as a statement to run with others (``knowledge.pipeline``)."""
    wanted = sorted(set(session_ids))
    statement = _OPEN_ANY if dialect == "postgresql" else select(handoffs).where(handoffs.c.open_session.in_(wanted))
    return Query(statement, {"session_ids": wanted}, lambda rows: {row["session_id"]: _handoff(row) for row in rows})


# PostgreSQL: one statement text whatever the count, compiled once (``knowledge.pipeline``).
_OPEN_ANY = text("SELECT * FROM handoffs WHERE open_session = ANY(:session_ids)")


def waiting_query(dialect: str, session_ids: Iterable[str]) -> Query:
    """Each conversation's open handoff with its ``WaitingNote``, by session id: ``open_query`` and
    the note in one statement, so that a message relayed to a person costs its arrival's round
    trip and no other (``knowledge.pipeline``)."""
    statement = _WAITING_ANY if dialect == "postgresql" else _WAITING_IN
    return Query(statement, {"session_ids": sorted(set(session_ids)), "waiting": WAITING, "relayed": RELAYED},
                 lambda rows: {row["session_id"]: (_handoff(row), WaitingNote(int(row["note_position"]),
                                                                              row["note_told"])) for row in rows})


_WAITING_SQL = """
    SELECT h.*,
        CASE WHEN h.state = :waiting
            THEN (SELECT count(*) FROM handoffs AS w WHERE w.state = :waiting AND w.id < h.id) + 1
            ELSE 0 END AS note_position,
        (SELECT max(t.created_at) FROM turns AS t
            WHERE t.session_id = h.session_id AND t.action = :relayed AND t.reply != ''
                AND t.created_at >= h.opened_at) AS note_told
    FROM handoffs AS h WHERE h.open_session {}"""
_WAITING_ANY = text(_WAITING_SQL.format("= ANY(:session_ids)"))
_WAITING_IN = text(_WAITING_SQL.format("IN :session_ids")).bindparams(bindparam("session_ids", expanding=True))


def _handoff(row: Mapping[Any, Any]) -> Handoff:
    return Handoff(row["id"], row["session_id"], row["channel"], row["reason"], row["state"], row["opened_at"],
                   row["claimed_by"], row["claimed_at"], row["first_reply_at"], row["closed_at"],
                   row["closed_by"])


def _turn_lines(row: RowMapping, event: int) -> list[Line]:
    cursor = Cursor(row["id"], event)
    lines = []
    if row["text"]:
        lines.append(Line("customer", row["text"], row["created_at"], cursor, action=row["action"],
                          turn_id=row["id"]))
    if row["reply"]:
        lines.append(Line("bot", row["reply"], row["created_at"], cursor, action=row["action"],
                          intent=row["intent"], faq_id=row["faq_id"], turn_id=row["id"],
                          kind=None if row["action"] != RELAYED else "acknowledgement"))
    return lines


def _event_line(row: RowMapping, turn: int) -> Line:
    role = "staff" if row["kind"] == "message" else "event"
    return Line(role, row["text"], row["created_at"], Cursor(turn, row["id"]), author=row["author"],
                kind=row["kind"])


def _with_cursor(line: Line, cursor: Cursor) -> Line:
    return Line(line.role, line.text, line.at, cursor, line.author, line.kind, line.action, line.intent,
                line.faq_id, line.turn_id)


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")

