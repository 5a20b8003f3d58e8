"""A step repeated in the background every few seconds until closed: the base of the follower
(``bot/follower.py``) and the housekeeping (``bot/core/housekeeping.py``).

Example::

    class Ticker(Periodic):
        async def step(self) -> None:
            print("tick")

    ticker = Ticker(every_s=1.0, name="ticker")
    ticker.begin()
    await ticker.close()      # waits for a step under way, then stops
"""
from __future__ import annotations

import asyncio


class Periodic:
    def __init__(self, every_s: float, name: str) -> None:
        self.every_s = every_s
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def step(self) -> None:
        """One round; it handles its own errors (one bad round must not end the loop)."""
        raise NotImplementedError

    def begin(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def close(self) -> None:
        """Stop after the step under way, if any: its thread may hold a database connection, which
        must be back in the pool before the database closes."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not await self._stopped():
            await self.step()

    async def _stopped(self) -> bool:
        """Wait ``every_s`` seconds; True as soon as ``close`` is called."""
        try:
            await asyncio.wait_for(self._stopping.wait(), self.every_s)
        except TimeoutError:
            return False
        return True
