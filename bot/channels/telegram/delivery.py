"""What staff do outside Telegram, delivered to Telegram customers (``HandoffDesk.deliver_with``).

A staff member answering a Telegram customer from the console (or through the admin API) writes
to the desk, not to Telegram; the desk calls ``StaffDelivery`` with what happened:

- a staff message: sent to the customer's chat under the person's name ("👤 ana from our
  support team:"), so the customer knows a person is writing, not the bot;
- ``claimed``: the customer reads that a person has joined;
- ``closed``: the customer reads that the bot answers again (``handoff.BACK_TO_BOT``).

If a staff chat is configured, it reads who took a conversation in the console and who handed
one back (there, in the console or with ``/done``), so everyone there knows who has it. A
customer who blocked the bot, or Telegram being unreachable, is a ``DeliveryFailed`` with the
reason, which the console shows to the staff member.

Example::

    desk.deliver_with("telegram", StaffDelivery(application.bot, relay, lambda: application.running))
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.channels.telegram.customers import chat_of
from bot.channels.telegram.formatting import escape
from bot.channels.telegram.handoff import BACK_TO_BOT, StaffRelay
from bot.channels.telegram.outbox import send_text
from bot.core.handoff import DeliveryFailed
from knowledge.conversations.handoffs import Handoff, Line

log = logging.getLogger(__name__)
FROM_STAFF = "👤 {} from our support team:\n{}"
JOINED = "👤 {} from our support team has joined the conversation."
TOOK = "🧑‍💼 {} took the conversation with chat {} in the console."
HANDED_BACK = "↩️ {} handed chat {} back to the bot."
BLOCKED = "the customer has blocked the bot or left the chat"
OFFLINE = "the Telegram channel is not connected to Telegram right now; try again in a minute"


class StaffDelivery:
    """The desk's delivery for Telegram conversations; ``ready`` says the channel is running."""

    def __init__(self, bot: Bot, relay: StaffRelay, ready: Callable[[], bool]) -> None:
        self.bot = bot
        self.relay = relay
        self.ready = ready

    async def __call__(self, handoff: Handoff, line: Line) -> None:
        chat = chat_of(handoff.session_id)
        if chat is None:
            raise DeliveryFailed(f"{handoff.session_id!r} is not a Telegram conversation")
        if not self.ready():
            raise DeliveryFailed(OFFLINE)
        who = line.author or "someone"
        if line.role == "staff":  # a message that claimed the conversation came after its "claimed"
            await self._send(chat, FROM_STAFF.format(who, line.text))
        elif line.kind == "claimed":
            await self.relay.note(self.bot, handoff.session_id, chat, TOOK.format(who, chat))
            await self._send(chat, JOINED.format(who))
        elif line.kind == "closed":
            await self.relay.note(self.bot, handoff.session_id, chat, HANDED_BACK.format(who, chat))
            await self._send(chat, BACK_TO_BOT)

    async def _send(self, chat: int, text: str) -> None:
        try:  # staff text is shown as written: no links made from Markdown
            await send_text(self.bot, chat, text, render=escape)
        except Forbidden:
            raise DeliveryFailed(BLOCKED) from None
        except TelegramError as error:
            log.warning("could not deliver a staff message to a Telegram chat: %s", type(error).__name__)
            raise DeliveryFailed(f"Telegram did not take the message ({error.message})") from None

