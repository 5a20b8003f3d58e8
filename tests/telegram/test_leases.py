"""One replica at a time per chat, on both engines: a second replica waits for the first's lease,
and a lease a dead replica left lapses."""
from __future__ import annotations

import asyncio
import time

from bot.channels.telegram.leases import ChatLeases
from knowledge.claims import Claims
from knowledge.database import Database


async def test_a_chat_is_answered_by_one_replica_at_a_time(database: Database) -> None:
    a, b = ChatLeases(Claims(database, "a"), poll_s=0.01), ChatLeases(Claims(database, "b"), poll_s=0.01)
    order: list[str] = []

    async def answer(leases: ChatLeases, name: str, chat: int, hold_s: float) -> None:
        async with leases.hold(chat):
            order.append(f"{name} in {chat}")
            await asyncio.sleep(hold_s)
            order.append(f"{name} out {chat}")

    first = asyncio.create_task(answer(a, "a", 5001, 0.3))
    await asyncio.sleep(0.05)
    await asyncio.gather(first, answer(b, "b", 5001, 0.0), answer(b, "b", 5002, 0.0))
    assert order.index("a out 5001") < order.index("b in 5001")  # b waited for a's lease
    assert order.index("b out 5002") < order.index("a out 5001")  # another chat did not wait


async def test_a_lease_a_dead_replica_left_lapses(database: Database) -> None:
    assert Claims(database, "dead").take("tg-chat:7", ttl_s=0.3)
    started = time.monotonic()
    async with ChatLeases(Claims(database, "b"), poll_s=0.01).hold(7):
        waited = time.monotonic() - started
    assert 0.2 < waited < 3.0
