"""The Telegram staff chat: where support staff see and answer customers who asked for a person.

The handoff itself is the runtime's (``bot.core.handoff.HandoffDesk``): the core queues the
conversation when a customer asks for a person (``/human``, in words, the "Talk to a person"
button) or the bot fails them three times in a row, and from then on stores their messages
without answering them. Staff answer from the console inbox and, when
``SUPPORTBOT_TELEGRAM_STAFF_CHAT`` is set, from a Telegram group as well:

- ``begin`` posts the request with the recent conversation to the staff chat;
- ``pass_on`` forwards what the customer writes (text, photos, files alike);
- a staff member's reply to any of that customer's messages is stored as theirs in the
  conversation (so the console shows it) and copied to the customer. If someone else is
  answering the conversation (in the console, or another staff member here), the reply is
  refused with the reason, so nobody answers twice by accident;
- ``/done`` sent as a reply to one of them hands the customer back to the bot;
- ``note``: what happens elsewhere (someone takes the conversation in the console, hands it
  back) is said here too (``delivery.py``).

Which staff message stands for which customer is stored (``Handoffs.remember``), so all of this
survives a restart. The bot must be a member of the staff chat; with Telegram's privacy mode on
it still sees replies to its own messages and commands, which is all it needs.
"""
from __future__ import annotations

import asyncio
import logging

from telegram import Bot, Chat, Message, Update, User
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.channels.telegram.contents import staff_words
from bot.channels.telegram.formatting import escape
from bot.channels.telegram.outbox import send_text
from bot.core.handoff import HandoffDesk
from knowledge.conversations.handoffs import HandoffConflict, Line, Relay

log = logging.getLogger(__name__)
CHANNEL = "telegram"
TRANSCRIPT_LINES = 20
TRANSCRIPT_LINE_CHARS = 500
BACK_TO_BOT = ("You're chatting with the support assistant again. Ask me anything, or send "
               "/human if you'd like to talk to a person.")
STAFF_HELP = ("This is the staff chat. When a customer asks for a person, I post their request "
              "here and forward what they write.\n"
              "- Reply to any of their messages to answer them (text, photos and files work). "
              "The first to answer has the conversation; it shows in the console too.\n"
              "- Reply /done to one of their messages to hand them back to me.")
NOT_A_CUSTOMER = "I can't tell which customer that reply is for. Reply to a request or a forwarded message."
DONE_HOW = "Send /done as a reply to one of the customer's messages, so I know whom to hand back."
BACK_WITH_BOT = "Not sent: that conversation is back with the bot. The customer can send /human to ask for a person again."
SOMEONE_ELSE = ("Not sent: {} is answering this conversation. To answer it yourself, take it over "
                "in the console.")
NOT_SENT = "Not sent: {}."
BLOCKED = "Not delivered: the customer has blocked the bot or left the chat."
ALREADY_BACK = "That conversation is already back with the bot."


class StaffRelay:
    """The staff chat's side of handoffs; ``staff_chat`` None: there is none (the console only)."""

    def __init__(self, desk: HandoffDesk, staff_chat: int | None) -> None:
        self.desk = desk
        self.handoffs = desk.handoffs
        self.staff_chat = staff_chat

    async def begin(self, bot: Bot, chat: Chat, user: User | None, session_id: str) -> None:
        """Post the request with the recent conversation to the staff chat (the core queued it)."""
        handoff = await self.desk.state(session_id)
        if self.staff_chat is None or handoff is None:  # no staff chat, or handed back already
            return
        lines = await asyncio.to_thread(self.handoffs.transcript, session_id)
        try:  # customer text is shown as typed: no links made from it
            posted = await send_text(bot, self.staff_chat, request_text(chat, user, handoff.reason, lines),
                                     render=escape)
        except TelegramError as error:  # the handoff stands: the console inbox shows it
            log.error("could not post handoff %d to the staff chat: %s: %s", handoff.id,
                      type(error).__name__, error)
            return
        for message in posted:
            await self._remember(message.message_id, session_id, chat.id)
        log.info("handoff %d posted to the staff chat", handoff.id)

    async def pass_on(self, bot: Bot, message: Message, session_id: str) -> None:
        """Forward a handed-off customer's message (of any kind) to the staff chat, if there is one."""
        if self.staff_chat is None:
            return
        try:
            forwarded = await bot.forward_message(self.staff_chat, message.chat_id, message.message_id)
        except TelegramError as error:  # stored in the conversation all the same: the console has it
            log.error("could not forward a customer's message to the staff chat: %s: %s",
                      type(error).__name__, error)
            return
        await self._remember(forwarded.message_id, session_id, message.chat_id)

    async def note(self, bot: Bot, session_id: str, user_chat: int, text: str) -> None:
        """Tell the staff chat about a customer's conversation; replies to the note reach them."""
        if self.staff_chat is None:
            return
        try:
            posted = await send_text(bot, self.staff_chat, text, render=escape)
        except TelegramError as error:
            log.warning("could not post a note to the staff chat: %s", type(error).__name__)
            return
        for message in posted:
            await self._remember(message.message_id, session_id, user_chat)

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A staff message that replies to another: store it as theirs and copy it to the customer."""
        message = update.effective_message
        if message is None or message.reply_to_message is None:
            return
        relay = await self._relay_for(message.reply_to_message)
        if relay is None:
            if _is_from(message.reply_to_message, context.bot):
                await message.reply_text(NOT_A_CUSTOMER)
            return  # staff talking among themselves
        handoff = await self.desk.state(relay.session_id)
        if handoff is None:
            await message.reply_text(BACK_WITH_BOT)
            return
        try:
            await self.desk.post(handoff.id, staff_name(message), staff_words(message), source=CHANNEL)
        except HandoffConflict as error:
            await message.reply_text(refusal(error))
            return
        except ValueError as error:  # empty, or longer than a staff message may be
            await message.reply_text(NOT_SENT.format(error))
            return
        try:
            await context.bot.copy_message(int(relay.user_chat), message.chat_id, message.message_id)
        except Forbidden:
            await message.reply_text(BLOCKED)
            return
        await self._remember(message.message_id, relay.session_id, int(relay.user_chat))

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/done`` as a reply to a customer's message: hand that customer back to the bot.

        The customer hears it, and the staff chat reads who did it, from the desk's delivery
        (``delivery.py``), as when it is done in the console.
        """
        message = update.effective_message
        if message is None:
            return
        relay = await self._relay_for(message.reply_to_message) if message.reply_to_message else None
        if relay is None:
            await message.reply_text(DONE_HOW)
            return
        handoff = await self.desk.state(relay.session_id)
        if handoff is None:
            await message.reply_text(ALREADY_BACK)
            return
        try:
            # The staff chat is one shared place: /done there ends it whoever had it, as before.
            await self.desk.close(handoff.id, staff_name(message), source=CHANNEL, take_over=True)
        except HandoffConflict:  # closed a moment ago, perhaps in the console
            await message.reply_text(ALREADY_BACK)

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(STAFF_HELP)

    async def ignore(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything else in the staff chat is the staff's own conversation."""

    async def _relay_for(self, message: Message) -> Relay | None:
        assert self.staff_chat is not None
        return await asyncio.to_thread(self.handoffs.relay_for, str(self.staff_chat), message.message_id)

    async def _remember(self, staff_message_id: int, session_id: str, user_chat: int) -> None:
        relay = Relay(str(self.staff_chat), staff_message_id, session_id, str(user_chat))
        await asyncio.to_thread(self.handoffs.remember, relay)


def staff_name(message: Message) -> str:
    """Who wrote a staff-chat message, as the conversation records them: their Telegram name."""
    return message.from_user.full_name if message.from_user else "a staff member"


def refusal(error: HandoffConflict) -> str:
    """Why a staff-chat reply was not sent, for the staff chat."""
    return SOMEONE_ELSE.format(error.claimed_by) if error.claimed_by else NOT_SENT.format(error)


def request_text(chat: Chat, user: User | None, reason: str, lines: list[Line]) -> str:
    """The staff-chat post for a handoff: who, why, and the conversation so far."""
    who = user.full_name if user else (chat.title or chat.full_name or "A customer")
    handle = f" (@{user.username})" if user and user.username else ""
    where = "" if chat.type == Chat.PRIVATE else f" in the group “{chat.title}”"
    out = [f"🙋 {who}{handle}{where}: {reason}", f"Chat {chat.id}", ""]
    shown = [line for line in lines if line.role != "event"][-TRANSCRIPT_LINES:]
    if shown:
        out.append("Recent conversation:")
        out.extend(_transcript_line(line) for line in shown)
        out.append("")
    out.append("Reply to this message to answer them; reply /done to hand them back to the bot.")
    return "\n".join(out)


def _transcript_line(line: Line) -> str:
    if line.role == "customer":
        return f"👤 {_clip(line.text)}"
    if line.role == "staff":
        return f"🧑‍💼 {line.author}: {_clip(line.text)}"
    return f"🤖 {_clip(line.text)}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TRANSCRIPT_LINE_CHARS else text[:TRANSCRIPT_LINE_CHARS - 1] + "…"


def _is_from(message: Message, bot: Bot) -> bool:
    return message.from_user is not None and message.from_user.id == bot.id
