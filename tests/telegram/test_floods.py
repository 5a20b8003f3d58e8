"""Floods and odd updates: one chat never stalls the others, polling never spins, stops are bounded."""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient
from telegram.error import RetryAfter

from bot.channels.telegram.customers import TOO_FAST
from bot.channels.telegram.processor import MAX_BACKLOG
from bot.channels.telegram.ratelimit import FloodLimiter, Limits
from bot.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.telegram.conftest import SECRET, USER, StartBot
from tests.telegram.fake_api import FakeTelegram

FLOODER = 5002
FLOOD = 300  # beyond the 255 places PTB's semaphore leaves: what used to stall everyone
# A poll as an older Bot API server sends it: without the option ids newer versions require.
OLD_POLL = {"id": "p1", "question": "Which one?", "options": [{"text": "a", "voter_count": 0}],
            "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
            "allows_multiple_answers": False}


async def metric(client: TestClient, name: str, labels: str = "") -> float:
    text = await (await client.get("/metrics")).text()
    match = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


async def until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def flood(client: TestClient, fake: FakeTelegram, webhook: bool, chat: int, count: int) -> None:
    """``count`` messages from ``chat`` at once: POSTed one by one, or queued for getUpdates."""
    for i in range(count):
        update = fake.text_update(chat, f"where is my order? #{i}")
        if webhook:
            response = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
            assert response.status == 200
        else:
            await fake.push(update)


async def ask(client: TestClient, fake: FakeTelegram, webhook: bool, update: dict[str, object]) -> None:
    if webhook:
        assert (await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})).status == 200
    else:
        await fake.push(update)


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_a_flooding_chat_does_not_stall_another_and_is_told_once(start_bot: StartBot, fake: FakeTelegram,
                                                                        webhook: bool) -> None:
    fake.per_chat_rate = 1.0  # Telegram's own limit: a message a second per chat
    client = await start_bot(limits=Limits(), **({"telegram_webhook_secret": SECRET} if webhook else {}))
    await flood(client, fake, webhook, FLOODER, FLOOD)
    await asyncio.sleep(1.0)  # the flood is in; its first replies go out at 1/s
    asked = time.monotonic()
    await ask(client, fake, webhook, fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER, timeout=10)
    assert time.monotonic() - asked < 2.0, "another chat is answered at once, whatever the flood"
    assert "3-5 business days" in answer.params["text"]
    await fake.wait_for(lambda: any(c.params["text"] == TOO_FAST for c in fake.sent(FLOODER)))
    dropped = await metric(client, "supportbot_telegram_dropped_updates_total", '{reason="backlog"}')
    assert dropped >= FLOOD - MAX_BACKLOG - 5, "the flood beyond the backlog is dropped and counted"
    stopping = time.monotonic()
    await client.close()  # what is left of the backlog is dropped, not sent at 1 reply a second
    assert time.monotonic() - stopping < 5.0, "the channel stops in bounded time"
    notices = [c for c in fake.sent(FLOODER) if c.params["text"] == TOO_FAST]
    assert len(notices) == 1, "told once, not once a message"
    # A burst of 3 and then 1/s for the few seconds the test takes: the rest of the backlog
    # was dropped at the stop.
    assert len(fake.sent(FLOODER)) <= 7 < MAX_BACKLOG


async def test_polling_skips_an_update_it_cannot_read_and_goes_on(start_bot: StartBot, fake: FakeTelegram,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    client = await start_bot()
    await fake.push(fake.update(message=fake.message(USER, poll=OLD_POLL)))  # alone: the last of its batch
    await until(lambda: any("skipped Telegram update" in r.getMessage() for r in caplog.records))
    await asyncio.sleep(0.5)  # time enough to spin, if polling did
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"]
    polls = len([c for c in fake.calls if c.method == "getUpdates"])
    assert polls < 20, f"polling went on normally, {polls} getUpdates calls"
    assert await metric(client, "supportbot_telegram_dropped_updates_total", '{reason="unreadable"}') == 1
    skipped = [r for r in caplog.records if "skipped Telegram update" in r.getMessage()]
    assert len(skipped) == 1 and "Which one?" not in skipped[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]


async def test_a_reply_is_given_up_after_the_retry_bound_and_the_customer_is_not_told_sorry(
        start_bot: StartBot, fake: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    client = await start_bot(limits=Limits(max_retry_wait=2.5))
    fake.fail_times("sendMessage", retry_after=1, times=100)
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    await until(lambda: any("gave up sendMessage" in r.getMessage() for r in caplog.records))
    attempts = [c for c in fake.calls if c.method == "sendMessage:429"]
    assert len(attempts) == 3, "1.1 s + 1.1 s honoured; a third wait would pass the 2.5 s bound"
    assert await metric(client, "supportbot_telegram_send_failures_total") == 1
    await asyncio.sleep(1.5)  # an apology, if any, would be tried now
    assert len([c for c in fake.calls if c.method == "sendMessage:429"]) == 3
    assert not fake.sent(USER), "no 'something went wrong' for a reply Telegram asked us to delay"


async def test_a_request_given_up_still_pauses_the_others_for_its_retry_after() -> None:
    limiter = FloodLimiter(Limits(max_retries=0))
    calls: list[float] = []

    async def rate_limited() -> bool:
        calls.append(time.monotonic())
        raise RetryAfter(1)

    async def fine() -> bool:
        calls.append(time.monotonic())
        return True

    with pytest.raises(RetryAfter):
        await limiter.process_request(rate_limited, (), {}, "sendMessage", {"chat_id": 1}, None)
    await limiter.process_request(fine, (), {}, "sendMessage", {"chat_id": 2}, None)
    assert calls[1] - calls[0] >= 1.0
