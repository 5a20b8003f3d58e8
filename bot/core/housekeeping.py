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

from bot.core.periodic import Periodic
from knowledge.claims import Claims, replica_name
from knowledge.conversations.dialogue import DialogueStates
from knowledge.database import Database
from knowledge.limits import RateLimits

log = logging.getLogger(__name__)
EVERY_S = 600.0
FULL_AFTER_S = 3600.0  # longer than any bucket takes to refill (sign-in: a quarter of an hour)
QUIET_S = 24 * 3600.0  # a conversation quiet this long starts afresh


class Housekeeping(Periodic):
    def __init__(self, database: Database, every_s: float = EVERY_S) -> None:
        super().__init__(every_s, "housekeeping")
        self.database = database

    async def start(self) -> None:
        self.begin()

    def sweep(self) -> tuple[int, int, int]:
        """Delete what ran out; how many claims, buckets and conversation memories went."""
        return (Claims(self.database, replica_name()).forget_expired(),
                RateLimits(self.database).forget_full(FULL_AFTER_S),
                DialogueStates(self.database).forget_quiet(QUIET_S))

    async def step(self) -> None:
        try:
            claims, buckets, memories = await asyncio.to_thread(self.sweep)
        except SQLAlchemyError as error:  # the database is away: try again next time
            log.warning("housekeeping failed (%s); trying again in %.0f s", type(error).__name__, self.every_s)
            return
        log.debug("housekeeping: %d claims, %d buckets, %d conversation memories cleared", claims, buckets, memories)
