"""Micro-batching: many concurrent callers, one call of a batch function in a worker thread.

Used twice by the runtime: concurrent messages share one ONNX inference call, and finished turns
share one database transaction (group commit). The batch function runs off the event loop.
When a batch fails, its items are run again one at a time, so an item that cannot be
processed fails only its own caller, never the others that shared its batch.

Example::

    batcher = Batcher(lambda texts: [len(t) for t in texts], max_batch=32, max_wait_ms=2)
    await batcher.start()
    await batcher.submit("hello")        # -> 5, computed together with concurrent calls
    await batcher.close()                # finishes everything already submitted
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    """Collect items for up to ``max_wait_ms`` (at most ``max_batch``), run ``run`` on them."""

    def __init__(self, run: Callable[[list[In]], Sequence[Out]], max_batch: int,
                 max_wait_ms: float, name: str = "batch") -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queue: asyncio.Queue[tuple[In, asyncio.Future[Out]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # how many calls of ``run``: for metrics and tests
        self.items = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def submit(self, item: In) -> Out:
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await asyncio.shield(future)  # a cancelled caller must not cancel the batch

    async def close(self) -> None:
        """Finish every item already submitted, then stop."""
        if self._queue is not None and self._task is not None:
            await self._queue.join()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if self.max_wait > 0 and self._queue.qsize() < self.max_batch - 1:
                # One bounded wait for company, then take whatever has come: no timer per item.
                await asyncio.sleep(self.max_wait)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._process(loop, batch)

    async def _process(self, loop: asyncio.AbstractEventLoop,
                       batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        assert self._queue is not None
        try:
            try:
                outputs = await self._call(loop, [item for item, _ in batch])
            except Exception:
                if len(batch) == 1:
                    raise
                # One bad item must not fail every caller that shared its batch: each item alone,
                # so only the callers whose own item fails get the error (a failed batch wrote nothing).
                for item, future in batch:
                    await self._process_alone(loop, item, future)
                return
            for (_, future), output in zip(batch, outputs):
                if not future.done():
                    future.set_result(output)
        except Exception as error:  # handed to the waiting caller, who decides
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        finally:
            self.items += len(batch)
            for _ in batch:
                self._queue.task_done()

    async def _process_alone(self, loop: asyncio.AbstractEventLoop, item: In, future: asyncio.Future[Out]) -> None:
        try:
            (output,) = await self._call(loop, [item])
        except Exception as error:
            if not future.done():
                future.set_exception(error)
        else:
            if not future.done():
                future.set_result(output)

    async def _call(self, loop: asyncio.AbstractEventLoop, items: list[In]) -> Sequence[Out]:
        self.batches += 1
        outputs = await loop.run_in_executor(self._executor, self._run, items)
        if len(outputs) != len(items):
            raise RuntimeError(f"batch function returned {len(outputs)} results for {len(items)} items")
        return outputs
