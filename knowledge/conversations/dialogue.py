"""Dialogue memory per conversation, shared by every replica: what the bot remembers between
messages (the topic, a pending question, the fallback streak), as JSON the runtime defines.

The runtime writes it in the transaction of the turn that changed it (``TurnRecord.state``,
``ConversationLog.record``), so a turn the customer saw and the memory it left are stored
together or not at all, and the next message reads it on whichever replica it reaches. The
row names that turn (``turn_id``). Conversations quiet for long are forgotten
(``forget_quiet``): they start afresh, as they did after a restart when this lived in memory.

Example::

    states = DialogueStates(database)
    states.load_many(["web:abc"])      # {"web:abc": Stored('{"last_faq": "returns"}', 42)}
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, text

from knowledge.database import Database, dialogue_states


@dataclass(frozen=True)
class Stored:
    state: str  # JSON, as the runtime wrote it
    turn_id: int | None  # the turn that wrote it; None for a rehearsal (not logged)


class DialogueStates:
    """The ``dialogue_states`` table; see the module docstring."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def load_many(self, session_ids: Iterable[str]) -> dict[str, Stored]:
        """The stored memory of each conversation that has one: one query for all of them."""
        wanted = sorted(set(session_ids))
        if not wanted:
            return {}
        table = dialogue_states
        with self.database.connect() as conn:
            rows = conn.execute(select(table.c.session_id, table.c.state, table.c.turn_id)
                                .where(table.c.session_id.in_(wanted)))
            return {row.session_id: Stored(row.state, row.turn_id) for row in rows}

    def save(self, session_id: str, state: str, turn_id: int | None = None) -> None:
        """Store one conversation's memory on its own (a turn that is not logged)."""
        with self.database.begin() as conn:
            save_states(conn, [(session_id, state, turn_id)])

    def forget_quiet(self, older_than_s: float, now: float | None = None) -> int:
        """Delete the memory of conversations quiet for ``older_than_s`` seconds; how many."""
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            return conn.execute(delete(dialogue_states).where(dialogue_states.c.updated_at < now - older_than_s)).rowcount


def save_states(conn: Connection, rows: Sequence[tuple[str, str, int | None]], now: float | None = None) -> None:
    """Upsert ``(session_id, state, turn_id)`` rows inside the caller's transaction, in order
    (a conversation twice in one batch keeps its later state)."""
    now = time.time() if now is None else now
    for session_id, state, turn_id in rows:
        conn.execute(_SAVE, {"session_id": session_id, "state": state, "turn_id": turn_id, "now": now})


# The same on both engines; as text it costs less Python per turn than the database's work.
_SAVE = text("""
    INSERT INTO dialogue_states (session_id, state, turn_id, updated_at) VALUES (:session_id, :state, :turn_id, :now)
    ON CONFLICT (session_id) DO UPDATE SET state = :state, turn_id = :turn_id, updated_at = :now""")
