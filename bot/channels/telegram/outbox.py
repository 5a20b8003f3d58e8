"""Sending to a chat: replies split to Telegram's limit with their keyboard, and "typing...".

Example::

    async with Typing(bot, chat_id):
        reply = await responder.respond(session_id, "telegram", text)
    await send_reply(bot, chat_id, reply)
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.channels.telegram.buttons import reply_keyboard
from bot.channels.telegram.formatting import split_message, to_html
from bot.core.replies import Reply

log = logging.getLogger(__name__)
TYPING_EVERY_S = 4.5  # Telegram shows "typing..." for 5 s or until the next message
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # answers link to help pages; no big cards


async def send_text(bot: Bot, chat_id: int | str, text: str, *,
                    keyboard: InlineKeyboardMarkup | None = None,
                    reply_to: int | None = None,
                    render: Callable[[str], str] = to_html) -> list[Message]:
    """Send plain text (Markdown links allowed) as one or more HTML messages, in order.

    The keyboard goes on the last message; ``reply_to`` quotes a message with the first
    (in groups, so the answer is threaded under the question). ``render`` turns text into
    HTML: ``formatting.escape`` shows Markdown as typed (for text a customer wrote).
    """
    chunks = split_message(text, render=render)
    sent: list[Message] = []
    for number, chunk in enumerate(chunks):
        last = number == len(chunks) - 1
        sent.append(await bot.send_message(
            chat_id, chunk, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_markup=keyboard if last else None,
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None and number == 0 else None))
    return sent


async def send_reply(bot: Bot, chat_id: int | str, reply: Reply, *,
                     reply_to: int | None = None, text: str | None = None) -> list[Message]:
    """Send a responder reply (or ``text`` in its place) with its buttons and feedback row."""
    return await send_text(bot, chat_id, reply.text if text is None else text,
                           keyboard=reply_keyboard(reply), reply_to=reply_to)


class Typing:
    """Show "typing..." in a chat until the block ends, renewing it while the answer takes.

    Leaving waits for the first chat action to be sent, so the indicator can never arrive
    after the answer and linger. A failed chat action is logged and otherwise ignored: it is
    cosmetic and must not cost the customer the answer.
    """

    def __init__(self, bot: Bot, chat_id: int | str) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Typing:
        self._task = asyncio.create_task(self._keep_typing(), name="telegram-typing")
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        assert self._task is not None
        if kind is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first.wait(), timeout=5)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self.bot.send_chat_action(self.chat_id, ChatAction.TYPING)
            except TelegramError as error:
                log.info("could not show typing in a chat: %s", type(error).__name__)
                return
            finally:
                self._first.set()
            await asyncio.sleep(TYPING_EVERY_S)
