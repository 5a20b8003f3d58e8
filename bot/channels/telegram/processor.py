"""Update processing order: each chat's updates one after another, different chats in parallel.

PTB's default processes every update in turn, so one slow answer holds up every other chat;
its concurrent mode could answer a chat's two quick messages out of order. ``PerChatProcessor``
runs updates concurrently across chats but in arrival order within a chat (a customer's
messages, button presses and the staff replies to them).

Example::

    Application.builder().token(token).concurrent_updates(PerChatProcessor(256)).build()
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerChatProcessor(BaseUpdateProcessor):
    """At most ``max_concurrent_updates`` updates at once, one at a time per chat."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # chat -> updates holding or waiting for its lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = _chat_of(update)
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat, asyncio.Lock())
        self._users[chat] = self._users.get(chat, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat] -= 1
            if not self._users[chat]:  # nobody waits: forget the chat so the dict stays small
                del self._users[chat], self._locks[chat]

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close; PTB waits for running updates itself."""


def _chat_of(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None
