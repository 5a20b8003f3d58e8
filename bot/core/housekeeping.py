"""Clearing away shared state that has run out: expired claims, full rate-limit buckets, the
memory of conversations quiet for a day. Every replica runs it now and then; the deletes are
idempotent, so replicas doing it at once only repeat each other.

Example::

    keeping = Housekeeping(database)
    await keeping.start()      # every ``every_s`` seconds, in a thread
    await keeping.close()
"""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from knowledge.claims import Claims, replica_name
from knowledge.conversations.dialogue import DialogueStates
from knowledge.database import Database
from knowledge.limits import RateLimits

log = logging.getLogger(__name__)
EVERY_S = 600.0
FULL_AFTER_S = 3600.0  # longer than any bucket takes to refill (sign-in: a quarter of an hour)
QUIET_S = 24 * 3600.0  # a conversation quiet this long starts afresh


class Housekeeping:
    def __init__(self, database: Database, every_s: float = EVERY_S) -> None:
        self.database = database
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def close(self) -> None:
        """Stop after the poll under way, if any: its thread holds a database connection, which must
        be back in the pool before the database closes."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    def sweep(self) -> tuple[int, int, int]:
        """Delete what ran out; how many claims, buckets and conversation memories went."""
        return (Claims(self.database, replica_name()).forget_expired(),
                RateLimits(self.database).forget_full(FULL_AFTER_S),
                DialogueStates(self.database).forget_quiet(QUIET_S))

    async def _loop(self) -> None:
        while not await _stopped(self._stopping, self.every_s):
            try:
                claims, buckets, memories = await asyncio.to_thread(self.sweep)
            except SQLAlchemyError as error:  # the database is away: try again next time
                log.warning("housekeeping failed (%s); trying again in %.0f s", type(error).__name__, self.every_s)
                continue
            log.debug("housekeeping: %d claims, %d buckets, %d conversation memories cleared", claims, buckets, memories)


async def _stopped(stopping: asyncio.Event, within_s: float) -> bool:
    """Wait ``within_s`` seconds; True as soon as ``stopping`` is set."""
    try:
        await asyncio.wait_for(stopping.wait(), within_s)
    except TimeoutError:
        return False
    return True
