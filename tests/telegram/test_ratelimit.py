"""Flood control: Telegram's per-chat, per-group and overall limits, and 429 retry_after."""
from __future__ import annotations

import asyncio
import time

import pytest
from telegram.error import RetryAfter

from bot.channels.telegram.ratelimit import Bucket, FloodLimiter, Limits
from tests.telegram.conftest import USER, StartBot
from tests.telegram.fake_api import FakeTelegram


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_spaces_messages_by_the_rate() -> None:
    clock = Clock()
    bucket = Bucket(rate=1.0, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    clock.now += 10  # quiet for a while: the burst is back, and no more
    assert bucket.idle()
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]




@pytest.mark.parametrize("changes", [{"per_chat": 0.0}, {"overall": -1.0}, {"burst": 0}, {"max_retries": -1}])
def test_limits_refuse_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Limits(**changes)


async def test_messages_to_one_chat_are_spaced_in_order_and_chat_actions_are_not() -> None:
    limiter = FloodLimiter(Limits(per_chat=20.0, per_group=10.0, burst=1))
    sent: list[tuple[str, float]] = []

    async def send(name: str) -> bool:
        sent.append((name, time.monotonic()))
        return True

    async def request(name: str, endpoint: str, chat: int) -> object:
        return await limiter.process_request(send, (name,), {}, endpoint, {"chat_id": chat}, None)

    started = time.monotonic()
    await asyncio.gather(*(request(f"m{i}", "sendMessage", 1) for i in range(4)),
                         *(request(f"typing{i}", "sendChatAction", 1) for i in range(3)),
                         *(request(f"g{i}", "sendMessage", -100) for i in range(2)))
    names = [name for name, _ in sent]
    assert [n for n in names if n.startswith("m")] == ["m0", "m1", "m2", "m3"], "in the order asked"
    at = dict(sent)
    assert at["m3"] - started >= 3 / 20 - 0.01, "1/20 s between messages to a private chat"
    assert at["g1"] - started >= 1 / 10 - 0.01, "groups have their own, slower rate"
    assert max(at[f"typing{i}"] for i in range(3)) - started < 0.05, "chat actions are not throttled"


async def test_a_429_pauses_every_request_for_retry_after_then_retries() -> None:
    limiter = FloodLimiter(Limits(max_retries=2))
    attempts: list[float] = []

    async def flaky() -> bool:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RetryAfter(0)  # 0 s + the 0.1 s safety margin
        return True

    assert await limiter.process_request(flaky, (), {}, "sendMessage", {"chat_id": 1}, None) is True
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.09

    async def always_429() -> bool:
        raise RetryAfter(0)

    with pytest.raises(RetryAfter):
        await limiter.process_request(always_429, (), {}, "sendMessage", {"chat_id": 2}, 1)


async def test_a_429_from_telegram_delays_the_answer_but_does_not_lose_it(start_bot: StartBot,
                                                                         fake: FakeTelegram) -> None:
    await start_bot(limits=Limits())  # Telegram's real limits
    fake.fail_once("sendMessage", retry_after=1)
    started = time.monotonic()
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"]
    assert time.monotonic() - started >= 1.0, "waited retry_after before trying again"
    assert [c.method for c in fake.calls if c.method.startswith("sendMessage")] == ["sendMessage:429", "sendMessage"]
