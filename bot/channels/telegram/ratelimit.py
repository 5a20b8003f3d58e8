"""Outbound flood control for the Bot API: Telegram's sending limits, and 429s honoured.

Telegram asks bots to send at most about one message a second to a chat (short bursts are
tolerated), 20 a minute to a group, and 30 a second overall. ``FloodLimiter`` plugs into
python-telegram-bot (``ApplicationBuilder().rate_limiter(...)``) and spaces every message-sending
request to fit, in the order the requests were made. If Telegram still answers 429 with
``retry_after``, all requests wait that long (every time, the last one included) and the request
is tried again, up to ``max_retries`` times and ``max_retry_wait`` seconds of waiting in all.
Beyond that the message is given up once: logged, reported to ``on_give_up`` (a metric for
staff) and the ``RetryAfter`` raised, which the channel does not turn into an apology.

PTB's own ``AIORateLimiter`` needs the optional ``aiolimiter`` package; this one needs nothing.

Example::

    Application.builder().token(token).rate_limiter(FloodLimiter(Limits())).build()
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)
Result = bool | dict[str, Any] | list[dict[str, Any]]
# Requests that do not put a message in a chat are not counted (only a 429 pauses them).
UNCOUNTED = frozenset({"sendChatAction"})
COUNTED_PREFIXES = ("send", "copyMessage", "forwardMessage", "editMessage")


@dataclass(frozen=True)
class Limits:
    """How fast the bot may send. Rates are messages per second."""

    per_chat: float = 1.0
    per_group: float = 20 / 60
    overall: float = 30.0
    burst: int = 3  # messages a chat may get at once before the rate applies
    max_retries: int = 8  # 429s retried per request before it is given up
    max_retry_wait: float = 60.0  # seconds of retry_after honoured per request, in all

    def __post_init__(self) -> None:
        if min(self.per_chat, self.per_group, self.overall) <= 0:
            raise ValueError(f"rates must be positive, got {self}")
        if self.burst < 1 or self.max_retries < 0 or self.max_retry_wait < 0:
            raise ValueError(f"burst must be >= 1, max_retries and max_retry_wait >= 0, got {self}")


class Bucket:
    """A rate with a burst allowance that hands out send slots first come, first served.

    Generic cell rate algorithm: each ``take`` reserves the next slot at once (so concurrent
    callers are served in call order) and sleeps until it comes.

    >>> bucket = Bucket(rate=2.0, burst=1)   # the 2nd take waits 0.5 s, the 3rd 1 s
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._clock = clock
        self._next = clock()  # theoretical arrival time of the next message

    def reserve(self) -> float:
        """Book the next slot; return how many seconds to wait for it."""
        now = self._clock()
        due = max(self._next, now)
        self._next = due + self.interval
        return max(0.0, due - self.tolerance - now)

    async def take(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def idle(self) -> bool:
        """True when the bucket is full again: forgetting it changes nothing."""
        return self._next <= self._clock()


class FloodLimiter(BaseRateLimiter[int]):
    """PTB rate limiter enforcing ``Limits``; ``rate_limit_args`` overrides ``max_retries``."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic,
                 on_give_up: Callable[[], None] | None = None) -> None:
        self.limits = limits
        self._on_give_up = on_give_up
        self._clock = clock
        self._overall = Bucket(limits.overall, max(limits.burst, int(limits.overall)), clock)
        self._chats: dict[str, Bucket] = {}
        self._paused_until = 0.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        self._chats.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        retries = self.limits.max_retries if rate_limit_args is None else rate_limit_args
        chat = data.get("chat_id")
        counted = chat is not None and _counted(endpoint)
        waited = 0.0
        for attempt in range(retries + 1):
            await self._wait_out_pause()
            if counted:
                await self._chat_bucket(str(chat)).take()
                await self._overall.take()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                delay = retry_seconds(error)
                # Even a request given up leaves the pause: the others must honour it too.
                self._paused_until = max(self._paused_until, self._clock() + delay)
                if attempt == retries or waited + delay > self.limits.max_retry_wait:
                    self._give_up(endpoint, attempt + 1, waited)
                    raise
                waited += delay
                log.warning("Telegram answered 429 to %s: pausing all requests for %.1f s "
                            "(retry %d of %d)", endpoint, delay, attempt + 1, retries)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _give_up(self, endpoint: str, answers: int, waited: float) -> None:
        log.error("gave up %s after %d answers 429 (%.1f s waited, limits: %d retries, %.0f s)",
                  endpoint, answers, waited, self.limits.max_retries, self.limits.max_retry_wait)
        if self._on_give_up is not None:
            self._on_give_up()

    async def _wait_out_pause(self) -> None:
        while (wait := self._paused_until - self._clock()) > 0:
            await asyncio.sleep(wait)

    def _chat_bucket(self, chat: str) -> Bucket:
        bucket = self._chats.get(chat)
        if bucket is None:
            if len(self._chats) > 4096:  # forget chats that have been quiet long enough
                self._chats = {key: b for key, b in self._chats.items() if not b.idle()}
            group = chat.startswith("-") or chat.startswith("@")
            rate = self.limits.per_group if group else self.limits.per_chat
            bucket = self._chats[chat] = Bucket(rate, self.limits.burst, self._clock)
        return bucket


def retry_seconds(error: RetryAfter) -> float:
    """Seconds Telegram asked us to wait, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        # PTB 22 warns that ``retry_after`` becomes a timedelta; either type is handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    return seconds + 0.1  # Telegram rounds down; a little extra avoids a second 429


def _counted(endpoint: str) -> bool:
    return endpoint.startswith(COUNTED_PREFIXES) and endpoint not in UNCOUNTED
