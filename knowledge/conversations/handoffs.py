"""Human handoff state: which conversations a person has taken over, and the staff-chat relay.

While a conversation is handed off the bot stops answering it; the customer's messages are
relayed to a staff chat, and a staff member's reply to any relayed message reaches that
customer. Both facts live in the database, so a restarted bot (or another replica) keeps
relaying where the last one stopped.

Example::

    handoffs = Handoffs(Database.open("sqlite:///data/supportbot.db"))
    handoffs.start("tg:42", "telegram")               # True: a person has it now
    handoffs.remember(Relay("-100777", 15, "tg:42", "42"))
    handoffs.relay_for("-100777", 15)                 # Relay(..., session_id="tg:42", user_chat="42")
    handoffs.end("tg:42")                             # True: back to the bot
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from knowledge.database import Database, conversations, staff_relays


@dataclass(frozen=True)
class Relay:
    """One staff-chat message and the customer conversation it stands for."""

    staff_chat: str
    staff_message_id: int
    session_id: str
    user_chat: str


class Handoffs:
    """Handoff flags on conversations and the staff-message -> customer map."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def start(self, session_id: str, channel: str) -> bool:
        """Mark the conversation as taken over by a person; False if it already was."""
        now = _now()
        with self.database.begin() as conn:
            current = conn.execute(select(conversations.c.handoff)
                                   .where(conversations.c.session_id == session_id)).first()
            if current is None:  # no turn logged yet (e.g. /human as the first message)
                conn.execute(insert(conversations).values(
                    session_id=session_id, channel=channel, created_at=now, updated_at=now,
                    handoff=True, handoff_at=now))
                return True
            if current.handoff:
                return False
            conn.execute(update(conversations).where(conversations.c.session_id == session_id)
                         .values(handoff=True, handoff_at=now, updated_at=now))
        return True

    def end(self, session_id: str) -> bool:
        """Hand the conversation back to the bot; False if no person had it."""
        with self.database.begin() as conn:
            result = conn.execute(update(conversations)
                                  .where(conversations.c.session_id == session_id,
                                         conversations.c.handoff.is_(True))
                                  .values(handoff=False, updated_at=_now()))
        return result.rowcount > 0

    def is_handed_off(self, session_id: str) -> bool:
        with self.database.connect() as conn:
            value = conn.execute(select(conversations.c.handoff)
                                 .where(conversations.c.session_id == session_id)).scalar()
        return bool(value)

    def handed_off(self) -> list[str]:
        """Session ids a person has now, oldest handoff first."""
        with self.database.connect() as conn:
            rows = conn.execute(select(conversations.c.session_id)
                                .where(conversations.c.handoff.is_(True))
                                .order_by(conversations.c.handoff_at))
            return list(rows.scalars())

    def remember(self, relay: Relay) -> None:
        """Record that ``relay.staff_message_id`` in the staff chat stands for that customer.

        The conversation must exist (``start`` creates it). Recording the same message twice
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
