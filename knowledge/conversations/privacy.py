"""Forgetting a customer: every row the conversation log holds about one conversation.

A customer is a conversation: ``tg:<chat id>`` for Telegram, ``web:<id>`` for the web chat
(the id the browser keeps). Forgetting deletes its turns, their feedback and review labels,
its handoffs with their events and staff-chat relays, and the conversation itself, in one
transaction. What staff already copied elsewhere stays: a phrasing attached to an FAQ entry
is part of that entry's revisions now (the result says how many labels attached one).

Example::

    forgotten = forget_customer(Database.open("sqlite:///data/supportbot.db"), "tg:42")
    forgotten.turns, forgotten.attached_to_faq
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select

from knowledge.database import (
    Database,
    conversations,
    dialogue_states,
    feedback,
    handoff_events,
    handoffs,
    review_labels,
    staff_relays,
    turns,
)


@dataclass(frozen=True)
class Forgotten:
    turns: int
    feedback: int
    labels: int
    handoffs: int
    attached_to_faq: int  # labels whose text staff had added to an FAQ entry: kept there


def forget_customer(database: Database, session_id: str) -> Forgotten:
    """Delete everything stored about conversation ``session_id``; counts of what went."""
    their_turns = select(turns.c.id).where(turns.c.session_id == session_id)
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
    return Forgotten(gone, thumbs, labels, opened, int(attached))
