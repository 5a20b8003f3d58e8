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
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, text

from knowledge.database import Database, dialogue_states
from knowledge.pipeline import Query, Rows, run_together


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
        with self.database.connect() as conn:
            stored: dict[str, Stored] = run_together(conn, [load_query(conn.dialect.name, session_ids)])[0]
        return stored

    def save(self, session_id: str, state: str, turn_id: int | None = None) -> None:
        """Store one conversation's memory on its own (a turn that is not logged)."""
        with self.database.statements() as conn:
            run_together(conn, [save_query(session_id, state, turn_id)])

    def forget_quiet(self, older_than_s: float, now: float | None = None) -> int:
        """Delete the memory of conversations quiet for ``older_than_s`` seconds; how many."""
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            return conn.execute(delete(dialogue_states).where(dialogue_states.c.updated_at < now - older_than_s)).rowcount


def load_query(dialect: str, session_ids: Iterable[str]) -> Query:
    """``load_many`` as a statement to run with others (``knowledge.pipeline``)."""
    wanted = sorted(set(session_ids))
    if dialect == "postgresql":  # one statement text whatever the count: compiled once
        return Query(_LOAD_ANY, {"session_ids": wanted}, _read_stored)
    table = dialogue_states
    return Query(select(table.c.session_id, table.c.state, table.c.turn_id).where(table.c.session_id.in_(wanted)),
                 read=_read_stored)


def _read_stored(rows: Rows) -> dict[str, Stored]:
    return {row["session_id"]: Stored(row["state"], row["turn_id"]) for row in rows}


def save_query(session_id: str, state: str, turn_id: int | None, now: float | None = None) -> Query:
    """The upsert of one conversation's memory, to run in the caller's transaction."""
    return Query(_SAVE, {"session_id": session_id, "state": state, "turn_id": turn_id,
                         "now": time.time() if now is None else now})


def save_after_turn_query(dialect: str, session_id: str, state: str, now: float | None = None) -> Query:
    """The same, naming the turn inserted just before it on the same connection: sent in one
    round trip with that insert (``knowledge.pipeline``), it cannot wait for the turn's id."""
    return Query(_SAVE_AFTER_TURN[dialect], {"session_id": session_id, "state": state,
                                             "now": time.time() if now is None else now})


# The same on both engines; as text it costs less Python per turn than the database's work.
_SAVE = text("""
    INSERT INTO dialogue_states (session_id, state, turn_id, updated_at) VALUES (:session_id, :state, :turn_id, :now)
    ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, turn_id = excluded.turn_id,
        updated_at = excluded.updated_at""")
_LOAD_ANY = text("SELECT session_id, state, turn_id FROM dialogue_states WHERE session_id = ANY(:session_ids)")
# The id the connection's last insert into ``turns`` was given.
_SAVE_AFTER_TURN = {
    "postgresql": text(_SAVE.text.replace(":turn_id", "currval(pg_get_serial_sequence('turns', 'id'))")),
    "sqlite": text(_SAVE.text.replace(":turn_id", "last_insert_rowid()")),
}
