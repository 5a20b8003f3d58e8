from __future__ import annotations

import asyncio

import pytest

from bot.core.batcher import Batcher


async def test_concurrent_items_share_one_call_and_keep_their_order() -> None:
    calls: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        calls.append(items)
        return [2 * i for i in items]

    batcher = Batcher(double, max_batch=8, max_wait_ms=20)
    await batcher.start()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    await batcher.close()
    assert results == [2 * i for i in range(20)]
    assert all(len(call) <= 8 for call in calls) and len(calls) < 20
    assert batcher.items == 20 and batcher.batches == len(calls)


async def test_an_error_reaches_only_the_caller_of_the_failing_item_and_the_batcher_goes_on() -> None:
    calls: list[list[int]] = []

    def fail_on_three(items: list[int]) -> list[int]:
        calls.append(list(items))
        if 3 in items:
            raise ValueError("three")
        return items

    batcher = Batcher(fail_on_three, max_batch=4, max_wait_ms=5)
    await batcher.start()
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in (1, 2, 3)), return_exceptions=True)
    assert outcomes[:2] == [1, 2] and isinstance(outcomes[2], ValueError)
    assert calls == [[1, 2, 3], [1], [2], [3]]  # the failed batch, then each item alone
    assert batcher.batches == len(calls)
    assert await batcher.submit(7) == 7
    await batcher.close()


async def test_close_finishes_what_was_submitted() -> None:
    batcher = Batcher(lambda items: items, max_batch=2, max_wait_ms=0)
    await batcher.start()
    pending = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    await batcher.close()
    assert [await p for p in pending] == list(range(5))
    with pytest.raises(RuntimeError, match="not running"):
        await batcher.submit(1)
