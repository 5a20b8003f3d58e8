"""One replica at a time per chat: a lease in the database around each update it answers.

Within a process ``PerChatProcessor`` answers a chat's updates one after another. Telegram may
deliver a chat's next update (webhook) to another replica behind the load balancer while the
first is still being answered; the lease (``knowledge.claims``, key ``tg-chat:<id>``) makes
that replica wait until the first is done, so a chat's updates are answered one at a time, in
the order they reach the lease, whichever replica has them. A replica that dies holding a
lease loses it after ``ttl_s``; the wait polls, so it holds no database connection.

Example::

    leases = ChatLeases(Claims(database, holder="replica-a"))
    async with leases.hold(5001):
        ...   # answer the update
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from knowledge.claims import Claims, chat_lease

LEASE_S = 60.0  # longer than an answer takes, flood-control waits included
POLL_S = 0.05


class ChatLeases:
    def __init__(self, claims: Claims, ttl_s: float = LEASE_S, poll_s: float = POLL_S) -> None:
        self.claims = claims
        self.ttl_s = ttl_s
        self.poll_s = poll_s

    @asynccontextmanager
    async def hold(self, chat: int) -> AsyncIterator[None]:
        key = chat_lease(chat)
        while not await asyncio.to_thread(self.claims.take, key, self.ttl_s):
            await asyncio.sleep(self.poll_s)
        try:
            yield
        finally:
            await asyncio.to_thread(self.claims.release, key)
