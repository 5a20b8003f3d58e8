"""The customer side of the Telegram channel: messages, commands and buttons -> the responder.

A chat is a session (``tg:<chat id>``, channel ``telegram``): the same decision policy,
conversation log and feedback as the web chat. Private chats get every message answered; in
groups the bot answers only messages addressed to it (a mention, a reply to it, a command).
Messages it cannot read (stickers, photos, voice, files, edits) get a short polite reply;
service messages and channel posts are ignored.

Handoff to a person is the core's: a request for a person, or the third fallback in a row,
queues the conversation (the reply says so), and while it is queued or a person has it, the
responder stores the customer's messages (``relayed``) and the bot answers nothing but an
occasional "passed on". This channel only adds the staff chat (``handoff.StaffRelay``), when
one is configured: the request goes there, and so does everything the customer writes. What
the bot cannot read is stored in words (``contents.customer_words``), so the console shows it.

Example::

    customers = Customers(responder, conversations, relay, desk)
    application.add_handlers(customers.handlers())
"""
from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AbstractAsyncContextManager, nullcontext

from telegram import Bot, CallbackQuery, Chat, InlineKeyboardMarkup, Message, MessageEntity, Update, User
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.channels.telegram.buttons import Pick, PickFromTurn, Vote, parse_callback, without_votes
from bot.channels.telegram.contents import customer_words, unreadable_kind
from bot.channels.telegram.handoff import CHANNEL, StaffRelay
from bot.channels.telegram.outbox import Typing, send_reply, send_text
from bot.core.actions import Action
from bot.core.handoff import HandoffDesk
from bot.core.replies import HUMAN, PROBLEM_REPLIES, WITH_STAFF_ALREADY, Reply
from bot.core.responder import Responder
from knowledge.claims import Claims, chat_told, keyboard_used
from knowledge.conversations.handoffs import WAITING, Handoff
from knowledge.conversations.log import ConversationLog, DuplicateFeedback
from knowledge.errors import EntryNotFound

log = logging.getLogger(__name__)
HELP = ("Ask me a question in your own words, about orders, delivery, returns, payments or your "
        "account, and I'll answer from our help pages.\n\n"
        "When I'm not sure what you mean, I'll offer a few topics to choose from. After an "
        "answer, tap 👍 or 👎 to tell us whether it helped.\n\n"
        "/human: talk to a person\n/help: show this message")
WELCOME = "Hello! I'm the support assistant. " + HELP
UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do, or just type your question."
EDITED = "I only see new messages, not edits. If you changed your question, please send it again."
CANNOT_READ = {
    "sticker": "Nice sticker! I can only read text, though. What can I help you with?",
    "photo": "Thanks for the picture. I can't look at images, I'm afraid: please describe your "
             "question in words, or send /human to show it to a person.",
    "voice": "I can't listen to audio messages yet. Could you type your question?",
    "file": "I can't open files or videos, I'm afraid. Please type your question, or send /human "
            "to share it with a person.",
    "other": "I can only read text messages. What can I help you with?",
}
ALREADY_WITH_PERSON = ("You're already waiting for a person from our support team; they'll "
                       "reply here. Anything you write now goes straight to them.")
WITH_PERSON = "You're talking to a person now; just write your message."
EXPIRED = "That button no longer works. Please ask your question again."
THANKS = {1: "Thanks for your feedback!",
          -1: "Thanks for telling us. Sorry it didn't help: try other words, or send /human for a person."}
ALREADY_RATED = "You've already rated this answer."
MESSAGE = filters.UpdateType.MESSAGE  # new messages only: not edits, not channel posts
TOO_FAST = PROBLEM_REPLIES["rate"]
TOO_FAST_EVERY_S = 60.0  # a chat over a limit is told once a minute at most, not once a message
PICKED_S = 7 * 24 * 3600  # a keyboard chosen from stays used this long (Telegram keeps old keyboards)


def session_id(chat_id: int) -> str:
    """The conversation of a chat: ``5001`` -> ``"tg:5001"``."""
    return f"tg:{chat_id}"


def chat_of(session: str) -> int | None:
    """The chat of a Telegram conversation, ``"tg:5001"`` -> ``5001``; None for another channel's."""
    prefix, _, chat = session.partition(":")
    return int(chat) if prefix == "tg" and chat.lstrip("-").isdigit() else None


class Customers:
    """PTB callbacks for customers' chats, bound to the runtime's responder and log."""

    def __init__(self, responder: Responder, conversations: ConversationLog, relay: StaffRelay,
                 desk: HandoffDesk, claims: Claims) -> None:
        self.responder = responder
        self.conversations = conversations
        self.relay = relay
        self.desk = desk  # whether a person has a conversation: asked of it every time, never kept
        # Chats told TOO_FAST, keyboards chosen from: in the database, once whichever replica answers.
        self.claims = claims

    async def tell_too_fast(self, bot: Bot, chat_id: int) -> None:
        """Say once (a minute) that the chat sends faster than it can be answered.

        Every further note would take one of the chat's sending slots (about 1/s) and make the
        backlog longer still, so the rest are left unsaid.
        """
        if not await asyncio.to_thread(self.claims.take, chat_told(chat_id), TOO_FAST_EVERY_S):
            return
        await send_text(bot, chat_id, TOO_FAST)

    def handlers(self) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
        """In order: the first handler that matches an update handles it."""
        return [
            CommandHandler("start", self.on_start, filters=MESSAGE),
            CommandHandler("help", self.on_help, filters=MESSAGE),
            CommandHandler("human", self.on_human, filters=MESSAGE),
            MessageHandler(MESSAGE & filters.COMMAND, self.on_unknown_command),
            MessageHandler(MESSAGE & filters.TEXT, self.on_text),
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.on_edited),
            MessageHandler(MESSAGE & ~filters.StatusUpdate.ALL, self.on_unreadable),
            CallbackQueryHandler(self.on_button),
        ]

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message:
            await send_text(context.bot, update.message.chat_id, WELCOME, reply_to=_quote(update.message))

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message:
            await send_text(context.bot, update.message.chat_id, HELP, reply_to=_quote(update.message))

    async def on_human(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        handoff = await self.desk.state(session_id(message.chat_id))
        if handoff is not None:  # asking again changes nothing: say who has the conversation
            await send_text(context.bot, message.chat_id, already(handoff), reply_to=_quote(message))
            return
        await self._answer(context.bot, message.chat, update.effective_user, "/human", HUMAN, _quote(message))

    async def on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        # In groups a bare /command may be meant for another bot: answer only if it names us.
        if message and (message.chat.type == Chat.PRIVATE or _names_bot(message, context.bot)):
            await send_text(context.bot, message.chat_id, UNKNOWN_COMMAND, reply_to=_quote(message))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or not addressed(message, context.bot):
            return
        text = strip_mention(message.text or "", context.bot.username)
        await self._answer(context.bot, message.chat, update.effective_user, text, None, _quote(message),
                           message)

    async def on_unreadable(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice, files, locations...: a polite word, or on to the staff."""
        message = update.message
        if message is None or not addressed(message, context.bot):
            return
        polite = CANNOT_READ[unreadable_kind(message)]
        if await self.desk.state(session_id(message.chat_id)) is None:
            await send_text(context.bot, message.chat_id, polite, reply_to=_quote(message))
            return
        await self._pass_on(context.bot, message, customer_words(message), polite)

    async def on_edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.edited_message
        if message is None or message.chat.type != Chat.PRIVATE:
            return  # an edit in a group is not addressed to anyone
        if await self.desk.state(session_id(message.chat_id)) is None:
            await send_text(context.bot, message.chat_id, EDITED, reply_to=message.message_id)
            return
        await self._pass_on(context.bot, message, customer_words(message, edited=True), EDITED)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        callback = parse_callback(query.data)
        if query.message is None or callback is None:
            await query.answer(EXPIRED)
            return
        chat = query.message.chat
        session = session_id(chat.id)
        if isinstance(callback, Vote):
            await self._vote(query, session, callback)
            return
        if await self.desk.state(session) is not None:
            await query.answer(WITH_PERSON)
            return
        payload = callback.payload if isinstance(callback, Pick) else await self._logged_choice(session, callback)
        if payload is None:
            await query.answer(EXPIRED)
            return
        if not await asyncio.to_thread(self.claims.take, keyboard_used(chat.id, query.message.message_id), PICKED_S):
            await query.answer()  # a second tap on the same keyboard (a double tap): answered already
            return
        await query.answer()  # stops the spinner on the button at once
        await _drop_keyboard(query)  # a choice is made once
        await self._answer(context.bot, chat, update.effective_user, "", payload, None)

    async def _answer(self, bot: Bot, chat: Chat, user: User | None, text: str, choice: str | None,
                      reply_to: int | None, message: Message | None = None) -> None:
        """Respond to a text (``message``) or a button; a handed-off customer's text goes to the staff chat."""
        session = session_id(chat.id)
        handed_off = await self.desk.state(session) is not None
        # The bot answers a handed-off customer nothing: no "typing..." then.
        typing: AbstractAsyncContextManager[object] = nullcontext() if handed_off else Typing(bot, chat.id)
        async with typing:
            reply = await self.responder.respond(session, CHANNEL, text, choice)
        if reply.action == Action.RELAYED:
            await self._relayed(bot, chat.id, reply, message, reply_to)
        elif reply.action == Action.REJECTED and reply.text == TOO_FAST:
            await self.tell_too_fast(bot, chat.id)
        else:
            await send_reply(bot, chat.id, reply, reply_to=reply_to)
            if reply.handoff:  # this message queued the conversation for a person
                await self.relay.begin(bot, chat, user, session)

    async def _pass_on(self, bot: Bot, message: Message, words: str, otherwise: str) -> None:
        """Something the bot cannot read, from a handed-off customer: stored in ``words`` (so the
        console shows it) and forwarded to the staff chat. ``otherwise`` is the polite reply if
        the conversation went back to the bot a moment ago."""
        reply = await self.responder.respond(session_id(message.chat_id), CHANNEL, words)
        if reply.action == Action.RELAYED:
            await self._relayed(bot, message.chat_id, reply, message, _quote(message))
        elif reply.action == Action.REJECTED and reply.text == TOO_FAST:
            await self.tell_too_fast(bot, message.chat_id)
        else:
            text = reply.text if reply.action == Action.REJECTED else otherwise
            await send_text(bot, message.chat_id, text, reply_to=_quote(message))

    async def _relayed(self, bot: Bot, chat_id: int, reply: Reply, message: Message | None,
                       reply_to: int | None) -> None:
        """A handed-off customer's message is stored: on to the staff chat, and the reply, if any."""
        if message is not None:
            await self.relay.pass_on(bot, message, session_id(chat_id))
        if reply.text:  # a "passed on" now and then while the customer waits, else silence
            await send_text(bot, chat_id, reply.text, reply_to=reply_to)

    async def _vote(self, query: CallbackQuery, session: str, vote: Vote) -> None:
        try:
            await asyncio.to_thread(self.conversations.add_feedback, vote.turn_id, session, vote.value)
        except EntryNotFound:
            await query.answer(EXPIRED)
            return
        except DuplicateFeedback:
            await query.answer(ALREADY_RATED)
            return
        await query.answer(THANKS[vote.value])
        message = query.message if isinstance(query.message, Message) else None  # None: too old to read
        shown = message.reply_markup if message is not None else None
        # A thumb tapped on a keyboard whose related question was picked a moment before (the
        # customer's app still showed it) must not bring the used questions back.
        used = message is not None and shown is not None and await asyncio.to_thread(
            self.claims.held, keyboard_used(message.chat.id, message.message_id))
        await _drop_keyboard(query, None if used else without_votes(shown))

    async def _logged_choice(self, session: str, pick: PickFromTurn) -> str | None:
        """The FAQ choice a logged turn offered at ``pick.index`` (for ids too long to carry)."""
        turns = await asyncio.to_thread(self.conversations.turns, session, 200)
        turn = next((t for t in turns if t.id == pick.turn_id), None)
        if turn is None or pick.index >= len(turn.record.choices):
            return None
        return f"faq:{turn.record.choices[pick.index]}"


def already(handoff: Handoff) -> str:
    """The reply to ``/human`` while the conversation waits for a person, or one has it."""
    return ALREADY_WITH_PERSON if handoff.state == WAITING else WITH_STAFF_ALREADY.format(handoff.claimed_by)


def addressed(message: Message, bot: Bot) -> bool:
    """Is the message for the bot? Always in a private chat; in a group, only if it says so."""
    if message.chat.type == Chat.PRIVATE:
        return True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    return _names_bot(message, bot)


def _names_bot(message: Message, bot: Bot) -> bool:
    handle = f"@{bot.username}".lower()
    mentions = {**message.parse_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND]),
                **message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND])}
    return any(value.lower() == handle or value.lower().endswith(handle) for value in mentions.values())


def strip_mention(text: str, username: str) -> str:
    """``"@shop_bot where is my order?"`` -> ``"where is my order?"``."""
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE).strip()


def _quote(message: Message) -> int | None:
    """In groups the answer quotes the question, so it is clear whom it answers."""
    return None if message.chat.type == Chat.PRIVATE else message.message_id


async def _drop_keyboard(query: CallbackQuery, keep: InlineKeyboardMarkup | None = None) -> None:
    """Remove the message's buttons, or all but ``keep``."""
    try:
        await query.edit_message_reply_markup(reply_markup=keep)
    except BadRequest as error:  # already edited (a double tap) or too old to edit: cosmetic
        log.info("could not remove a keyboard: %s", error)
