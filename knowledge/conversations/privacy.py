"""Forgetting a customer: every row the conversation log holds about one conversation.

A customer is a conversation: ``tg:<chat id>`` for Telegram, ``web:<id>`` for the web chat
(the id the browser keeps). Forgetting deletes its turns, their feedback and review labels,
its handoffs with their events and staff-chat relays, its dialogue memory, the rate-limit
bucket and the claims keyed by it, and the conversation itself, in one transaction. What staff already copied elsewhere stays: a phrasing attached to an FAQ entry
is part of that entry's revisions now (the result says how many labels attached one).

On SQLite a deleted row is not gone from the files by itself: its bytes stay in the free space
of its pages (``secure_delete`` zeroes only what it deletes, not the stale copies an earlier
rearrangement of the page left), and every earlier version of those pages stays in the
write-ahead log until a checkpoint. So the database is rebuilt (``VACUUM``: only live rows are
copied) and the log checkpointed and truncated afterwards; an erasure is rare enough to pay that. A running server's readers can keep the checkpoint from
finishing: ``Forgotten.journal_cleared`` is then False, and old pages stay in the log until the
server stops or the next checkpoint that finishes.

Example::

    forgotten = forget_customer(Database.open("sqlite:///data/supportbot.db"), "tg:42")
    forgotten.turns, forgotten.attached_to_faq
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, false, func, or_, select, text

from knowledge.claims import chat_lease, chat_told, keyboard_used
from knowledge.database import (
    Database,
    claims,
    conversations,
    dialogue_states,
    feedback,
    handoff_events,
    handoffs,
    rate_limits,
    review_labels,
    staff_relays,
    turns,
)
from knowledge.limits import session_key

CHECKPOINT_WAIT_S = 3.0  # how long the erasure waits for other connections' readers to let the log go


@dataclass(frozen=True)
class Forgotten:
    turns: int
    feedback: int
    labels: int
    handoffs: int
    attached_to_faq: int  # labels whose text staff had added to an FAQ entry: kept there
    journal_cleared: bool = True  # False: SQLite's write-ahead log may still hold old pages


def has_data(database: Database, session_id: str) -> bool:
    """Whether anything is stored about conversation ``session_id`` (before asking to erase it)."""
    with database.connect() as conn:
        keyed = [select(table.c.session_id).where(table.c.session_id == session_id).limit(1)
                 for table in (conversations, turns, handoffs, handoff_events, staff_relays, dialogue_states)]
        keyed.append(select(rate_limits.c.key).where(rate_limits.c.key == session_key(session_id)).limit(1))
        return any(conn.execute(query).first() is not None for query in keyed)


def forget_customer(database: Database, session_id: str) -> Forgotten:
    """Delete everything stored about conversation ``session_id``; counts of what went."""
    their_turns = select(turns.c.id).where(turns.c.session_id == session_id)
    sqlite = database.engine.dialect.name == "sqlite"
    with database.begin() as conn:
        attached = conn.execute(select(func.count()).select_from(review_labels).where(
            review_labels.c.turn_id.in_(their_turns), review_labels.c.kind.in_(("faq", "new_faq")))).scalar_one()
        labels = conn.execute(delete(review_labels).where(review_labels.c.turn_id.in_(their_turns))).rowcount
        thumbs = conn.execute(delete(feedback).where(feedback.c.turn_id.in_(their_turns))).rowcount
        conn.execute(delete(handoff_events).where(handoff_events.c.session_id == session_id))
        opened = conn.execute(delete(handoffs).where(handoffs.c.session_id == session_id)).rowcount
        conn.execute(delete(staff_relays).where(staff_relays.c.session_id == session_id))
        gone = conn.execute(delete(turns).where(turns.c.session_id == session_id)).rowcount
        conn.execute(delete(conversations).where(conversations.c.session_id == session_id))
        conn.execute(delete(dialogue_states).where(dialogue_states.c.session_id == session_id))
        conn.execute(delete(rate_limits).where(rate_limits.c.key == session_key(session_id)))
        conn.execute(delete(claims).where(_their_claims(session_id)))
    cleared = _checkpoint(database) if sqlite else True
    return Forgotten(gone, thumbs, labels, opened, int(attached), cleared)


def _their_claims(session_id: str) -> ColumnElement[bool]:
    """Claims keyed by a Telegram chat (``bot.channels.telegram``): its lease, the "too fast"
    notice and the keyboards it used. Web conversations have none."""
    if not session_id.startswith("tg:"):
        return false()
    chat = session_id.removeprefix("tg:")
    return or_(claims.c.key.in_((chat_lease(chat), chat_told(chat))),
               claims.c.key.startswith(keyboard_used(chat), autoescape=True))


def _checkpoint(database: Database) -> bool:
    """Rebuild the SQLite file from its live rows, then copy the write-ahead log into it and
    truncate the log: True when the log is empty afterwards, False when another connection's
    readers kept some of it."""
    with database.connect() as conn:
        conn.exec_driver_sql("VACUUM")
        # A server's reads take milliseconds: one still open after CHECKPOINT_WAIT_S is not about
        # to end, and the erasure says so rather than wait out the whole busy timeout.
        kept = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(CHECKPOINT_WAIT_S * 1000)}")
        try:
            busy, logged, copied = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        finally:
            try:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {kept}")
            except Exception:
                conn.invalidate()  # never back in the pool with the short wait
                raise
        conn.commit()
    return not busy and logged == copied
