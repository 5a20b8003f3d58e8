"""Human handoff over Telegram: a staff chat takes over a customer's conversation.

When a customer asks for a person (``/human``, the handoff intent, the "Talk to a person"
button, or the bot failing them several times in a row), ``StaffRelay.begin`` posts the request
with the recent transcript to the staff chat (``SUPPORTBOT_TELEGRAM_STAFF_CHAT``) and marks the
conversation as handed off in the database. From then on:

- the customer's messages are forwarded to the staff chat instead of being answered;
- a staff member's reply to any of that customer's messages in the staff chat is copied to the
  customer (text, photos, files alike);
- ``/done`` sent as a reply to one of them hands the customer back to the bot.

Which staff message stands for which customer is stored too (``knowledge.conversations.handoffs``), so all of
this survives a restart. The bot must be a member of the staff chat; with Telegram's privacy
mode on it still sees replies to its own messages and commands, which is all it needs.
"""
from __future__ import annotations

import asyncio
import enum
import logging

from telegram import Bot, Chat, Message, Update, User
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.channels.telegram.formatting import escape
from bot.channels.telegram.outbox import send_text
from knowledge.conversations.handoffs import Handoffs, Relay
from knowledge.conversations.log import ConversationLog, LoggedTurn

log = logging.getLogger(__name__)
TRANSCRIPT_TURNS = 10
TRANSCRIPT_LINE_CHARS = 500
BACK_TO_BOT = ("You're chatting with the support assistant again. Ask me anything, or send "
               "/human if you'd like to talk to a person.")
STAFF_HELP = ("This is the staff chat. When a customer asks for a person, I post their request "
              "here and forward what they write.\n"
              "- Reply to any of their messages to answer them (text, photos and files work).\n"
              "- Reply /done to one of their messages to hand them back to me.")
NOT_A_CUSTOMER = "I can't tell which customer that reply is for. Reply to a request or a forwarded message."
DONE_HOW = "Send /done as a reply to one of the customer's messages, so I know whom to hand back."


class Outcome(enum.Enum):
    STARTED = "started"  # the request is in the staff chat
    ALREADY = "already"  # a person had the conversation already
    UNAVAILABLE = "unavailable"  # no staff chat configured, or it cannot be reached


class StaffRelay:
    """Both sides of a handoff; ``staff_chat`` None means handoff is not configured."""

    def __init__(self, handoffs: Handoffs, conversations: ConversationLog, staff_chat: int | None) -> None:
        self.handoffs = handoffs
        self.conversations = conversations
        self.staff_chat = staff_chat

    async def is_handed_off(self, session_id: str) -> bool:
        if self.staff_chat is None:  # nobody could answer: the bot keeps the conversation
            return False
        return await asyncio.to_thread(self.handoffs.is_handed_off, session_id)

    async def begin(self, bot: Bot, chat: Chat, user: User | None, session_id: str, reason: str) -> Outcome:
        """Post the request with the transcript to the staff chat and stop auto-answering."""
        if self.staff_chat is None:
            return Outcome.UNAVAILABLE
        if await self.is_handed_off(session_id):
            return Outcome.ALREADY
        turns = await asyncio.to_thread(self.conversations.turns, session_id, TRANSCRIPT_TURNS)
        try:  # customer text is shown as typed: no links made from it
            posted = await send_text(bot, self.staff_chat, request_text(chat, user, reason, turns),
                                     render=escape)
        except TelegramError as error:
            log.error("could not post a handoff request to the staff chat: %s: %s",
                      type(error).__name__, error)
            return Outcome.UNAVAILABLE
        await asyncio.to_thread(self.handoffs.start, session_id, "telegram")
        for message in posted:
            await self._remember(message.message_id, session_id, chat.id)
        log.info("conversation handed off to the staff chat (%s)", reason)
        return Outcome.STARTED

    async def pass_on(self, bot: Bot, message: Message, session_id: str) -> None:
        """Forward a handed-off customer's message (of any kind) to the staff chat."""
        assert self.staff_chat is not None
        forwarded = await bot.forward_message(self.staff_chat, message.chat_id, message.message_id)
        await self._remember(forwarded.message_id, session_id, message.chat_id)

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A staff message that replies to another: copy it to the customer it stands for."""
        message = update.effective_message
        if message is None or message.reply_to_message is None:
            return
        relay = await self._relay_for(message.reply_to_message)
        if relay is None:
            if _is_from(message.reply_to_message, context.bot):
                await message.reply_text(NOT_A_CUSTOMER)
            return  # staff talking among themselves
        try:
            await context.bot.copy_message(int(relay.user_chat), message.chat_id, message.message_id)
        except Forbidden:
            await message.reply_text("Not delivered: the customer has blocked the bot or left the chat.")
            return
        await self._remember(message.message_id, relay.session_id, int(relay.user_chat))

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/done`` as a reply to a customer's message: hand that customer back to the bot."""
        message = update.effective_message
        if message is None:
            return
        relay = await self._relay_for(message.reply_to_message) if message.reply_to_message else None
        if relay is None:
            await message.reply_text(DONE_HOW)
            return
        if not await asyncio.to_thread(self.handoffs.end, relay.session_id):
            await message.reply_text("That conversation is already back with the bot.")
            return
        await send_text(context.bot, int(relay.user_chat), BACK_TO_BOT)
        await message.reply_text("Done: the bot answers this customer again.")
        log.info("conversation handed back to the bot")

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


def request_text(chat: Chat, user: User | None, reason: str, turns: list[LoggedTurn]) -> str:
    """The staff-chat post for a handoff: who, why, and the conversation so far."""
    who = user.full_name if user else (chat.title or chat.full_name or "A customer")
    handle = f" (@{user.username})" if user and user.username else ""
    where = "" if chat.type == Chat.PRIVATE else f" in the group “{chat.title}”"
    lines = [f"🙋 {who}{handle}{where}: {reason}", f"Chat {chat.id}", ""]
    if turns:
        lines.append("Recent conversation:")
        for turn in turns:
            lines.append(f"👤 {_clip(turn.record.text)}")
            lines.append(f"🤖 {_clip(turn.record.reply)}")
        lines.append("")
    lines.append("Reply to this message to answer them; reply /done to hand them back to the bot.")
    return "\n".join(lines)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TRANSCRIPT_LINE_CHARS else text[:TRANSCRIPT_LINE_CHARS - 1] + "…"


def _is_from(message: Message, bot: Bot) -> bool:
    return message.from_user is not None and message.from_user.id == bot.id
