"""Rate limits every replica shares: token buckets in the database, one atomic statement a hit.

A bucket holds up to ``capacity`` tokens and refills at ``per_second``; a hit takes one token,
or is refused (and takes nothing) when less than one is left. The refill, the check and the
take are one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, so hits from several replicas
on one key are counted exactly, without a lock. Times are epoch seconds from the replicas'
clocks (keep them in step with NTP; a second of skew shifts a refill by a second).

``hit_many`` takes a batch of hits at once: the runtime collects the hits of concurrent
messages (``bot.core.batcher``). On SQLite they share one transaction, so a hit costs one
statement, not one commit; on PostgreSQL they are sent together, one round trip for the batch,
and commit without waiting for the disk. ``hit_query`` is one hit to send with other statements.

Example::

    limits = RateLimits(database)
    limits.hit(Bucket("session:web:abc", capacity=30, per_second=0.5))   # Hit(allowed=True, tokens=29.0)
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, text

from knowledge.database import Database, rate_limits
from knowledge.pipeline import Query, Rows, run_together

KEY_CHARS = 200


def session_key(session_id: str) -> str:
    """The key of a conversation's message bucket (``bot.core.sessions``; ``logs forget`` erases it)."""
    return f"session:{session_id}"


@dataclass(frozen=True)
class Bucket:
    """One key's bucket: ``capacity`` tokens, refilled at ``per_second``."""

    key: str
    capacity: float
    per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.per_second <= 0:
            raise ValueError(f"a bucket needs capacity >= 1 and per_second > 0, got {self}")


@dataclass(frozen=True)
class Hit:
    """What a hit decided, and the tokens left after it."""

    allowed: bool
    tokens: float

    def retry_after(self, bucket: Bucket) -> int:
        """Whole seconds until the bucket has a token again (at least 1)."""
        return max(1, int((1.0 - self.tokens) / bucket.per_second + 0.999))


class RateLimits:
    """Token buckets in the ``rate_limits`` table; see the module docstring."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def hit(self, bucket: Bucket, now: float | None = None) -> Hit:
        return self.hit_many([bucket], now)[0]

    def hit_many(self, buckets: Sequence[Bucket], now: float | None = None) -> list[Hit]:
        """Take a token from each bucket, in order: in one transaction on SQLite; on PostgreSQL
        all in one round trip (``knowledge.pipeline``), committed without waiting for the disk."""
        with self.database.statements() as conn:
            return run_together(conn, [hit_query(conn.dialect.name, bucket, now) for bucket in buckets])

    def reset(self, key: str) -> None:
        """Forget a key: its bucket is full again (a name that signed in correctly)."""
        with self.database.begin() as conn:
            conn.execute(delete(rate_limits).where(rate_limits.c.key == key[:KEY_CHARS]))

    def forget_full(self, older_than_s: float, now: float | None = None) -> int:
        """Delete buckets not hit for ``older_than_s`` seconds (longer than any bucket takes to
        refill: forgetting a full bucket changes nothing). Returns how many."""
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            return conn.execute(delete(rate_limits).where(rate_limits.c.at < now - older_than_s)).rowcount


# One statement, the same on both engines; SET expressions read the row as it was, so the
# refill, the check and the take see one state. Written as text: built with SQLAlchemy's
# expression language it cost more Python per hit than the database spent on it.
_REFILLED = ("CASE WHEN rate_limits.tokens + (:now - rate_limits.at) * :rate > :capacity THEN :capacity "
             "ELSE rate_limits.tokens + (:now - rate_limits.at) * :rate END")
_HIT = text(f"""
    INSERT INTO rate_limits (key, tokens, at, allowed) VALUES (:key, :capacity - 1.0, :now, true)
    ON CONFLICT (key) DO UPDATE SET
        tokens = CASE WHEN {_REFILLED} >= 1.0 THEN {_REFILLED} - 1.0 ELSE {_REFILLED} END,
        at = :now,
        allowed = {_REFILLED} >= 1.0
    RETURNING allowed, tokens""")
# PostgreSQL: the same as a transaction of its own whose commit does not wait for the disk
# (``set_config(..., true)`` is ``SET LOCAL`` inside the statement). A database crash may forget
# the last moment's hits: a few messages more let through, not worth a flush per message.
_QUICK_HIT = text(_HIT.text.replace(
    "VALUES (:key, :capacity - 1.0, :now, true)",
    "SELECT :key, :capacity - 1.0, :now, true FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick "
    "WHERE true"))


def hit_query(dialect: str, bucket: Bucket, now: float | None = None) -> Query:
    """One hit on ``bucket`` as a statement to run with others (``knowledge.pipeline``) on a
    connection from ``Database.statements()``; its result is the ``Hit``."""
    return Query(_QUICK_HIT if dialect == "postgresql" else _HIT,
                 {"key": bucket.key[:KEY_CHARS], "capacity": float(bucket.capacity), "rate": float(bucket.per_second),
                  "now": time.time() if now is None else now}, _read_hit)


def _read_hit(rows: Rows) -> Hit:
    (row,) = rows
    return Hit(bool(row["allowed"]), float(row["tokens"]))
