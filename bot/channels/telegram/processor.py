"""Update processing order: each chat's updates one after another, different chats in parallel.

PTB's default processes every update in turn, so one slow answer holds up every other chat;
its concurrent mode could answer a chat's two quick messages out of order. ``PerChatProcessor``
runs updates concurrently across chats but in arrival order within a chat (a customer's
messages, button presses and the staff replies to them).

PTB runs ``do_process_update`` under a semaphore of ``max_concurrent_updates`` places. An
update for a chat that is already being served does not wait for its turn there (it would hold
a place for as long as the chat's backlog takes, and a chat sending faster than its replies
may go out, about 1/s, would soon hold them all): it is put in the chat's backlog and the call
returns. The update that found the chat idle serves the backlog, in order, holding one place.
So a chat holds at most one place whatever it sends. A backlog holds at most ``max_backlog``
updates; further ones are dropped and reported to ``on_overflow`` once per backlog (the
channel tells the customer once, and counts every drop).

``drain`` ends it in bounded time: updates arriving afterwards are dropped, queued backlogs are
dropped and counted, updates in flight get ``timeout`` seconds to finish, then are cancelled.

Example::

    processor = PerChatProcessor(256, max_backlog=10, on_overflow=tell_customer, on_drop=count)
    Application.builder().token(token).concurrent_updates(processor).build()
    ...
    await processor.drain(timeout=10)   # before application.stop()
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)
MAX_BACKLOG = 10  # waiting behind the one being answered: a burst of lines a person sends, not a flood
Overflow = Callable[[int], Coroutine[Any, Any, None]]  # the chat whose backlog overflowed
Drop = Callable[[str, int], None]  # why ("backlog" or "shutdown"), how many
Lease = Callable[[int], AbstractAsyncContextManager[object]]  # the chat, held by this replica meanwhile


@dataclass
class _Chat:
    """A chat being served: the task serving it and what waits behind it."""

    task: asyncio.Task[Any] | None
    backlog: deque[Awaitable[Any]] = field(default_factory=deque)
    warned: bool = False  # on_overflow already called for this backlog


class PerChatProcessor(BaseUpdateProcessor):
    """At most ``max_concurrent_updates`` chats at once, one update at a time per chat."""

    def __init__(self, max_concurrent_updates: int, max_backlog: int = MAX_BACKLOG,
                 on_overflow: Overflow | None = None, on_drop: Drop | None = None,
                 lease: Lease | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._lease = lease  # one replica at a time per chat (``bot.channels.telegram.leases``)
        if max_backlog < 0:
            raise ValueError(f"max_backlog must be >= 0, got {max_backlog}")
        self.max_backlog = max_backlog
        self._on_overflow = on_overflow
        self._on_drop = on_drop
        self._chats: dict[int, _Chat] = {}
        self._notices: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def closing(self) -> bool:
        return self._closing

    def backlog(self, chat: int) -> int:
        """Updates of ``chat`` waiting behind the one in flight."""
        state = self._chats.get(chat)
        return len(state.backlog) if state else 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if self._closing:
            _discard(coroutine)
            self._dropped("shutdown", 1)
            return
        chat = _chat_of(update)
        if chat is None:
            await coroutine
            return
        state = self._chats.get(chat)
        if state is not None:  # the chat is being served: queue behind it, holding no place
            self._enqueue(chat, state, coroutine)
            return
        state = self._chats[chat] = _Chat(asyncio.current_task())
        state.backlog.append(coroutine)
        try:
            while state.backlog and not self._closing:
                async with self._lease(chat) if self._lease else nullcontext():
                    await _run_queued(state.backlog.popleft())
        finally:
            del self._chats[chat]
            if state.backlog:  # closing, or cancelled by drain
                self._dropped("shutdown", len(state.backlog))
                for left in state.backlog:
                    _discard(left)

    def _enqueue(self, chat: int, state: _Chat, coroutine: Awaitable[Any]) -> None:
        if len(state.backlog) < self.max_backlog:
            state.backlog.append(coroutine)
            return
        _discard(coroutine)
        self._dropped("backlog", 1)
        if not state.warned and self._on_overflow is not None:
            state.warned = True
            log.warning("a Telegram chat sends faster than it can be answered: dropping its "
                        "messages beyond a backlog of %d", self.max_backlog)
            task = asyncio.create_task(self._on_overflow(chat), name="telegram-overflow-notice")
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

    def _dropped(self, reason: str, count: int) -> None:
        if self._on_drop is not None:
            self._on_drop(reason, count)

    async def drain(self, timeout: float) -> None:
        """Stop taking updates, drop every backlog, give updates in flight ``timeout`` s."""
        self._closing = True
        queued = sum(len(state.backlog) for state in self._chats.values())
        for state in self._chats.values():
            for left in state.backlog:
                _discard(left)
            state.backlog.clear()
        self._dropped("shutdown", queued)
        tasks = {state.task for state in self._chats.values() if state.task is not None} | self._notices
        log.info("Telegram channel stopping: %d update(s) in flight, %d queued dropped", len(tasks), queued)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("Telegram channel: %d update(s) did not finish within %.0f s and were cancelled",
                        len(late), timeout)
            await asyncio.wait(late, timeout=1)

    async def initialize(self) -> None:
        self._closing = False

    async def shutdown(self) -> None:
        """Nothing to close; ``drain`` ended what was running."""


async def _run_queued(coroutine: Awaitable[Any]) -> None:
    """Run one update of a chat; its failure must not cost the updates behind it."""
    try:
        await coroutine
    except Exception as error:  # PTB's own error handling already ran; this only keeps the queue going
        log.error("a queued Telegram update failed: %s", type(error).__name__)


def _discard(coroutine: Awaitable[Any]) -> None:
    """Drop an update's coroutine without running it (and without 'never awaited' warnings)."""
    if isinstance(coroutine, Coroutine):
        coroutine.close()


def _chat_of(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None
