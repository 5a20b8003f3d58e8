"""Handlers: plain async functions that answer an intent without the FAQ.

A handler takes a ``HandlerTurn`` and returns a ``HandlerReply``. On a ``rehearsal`` (staff
trying the bot in the console) it must answer as it would but change nothing outside the bot
(book nothing, send nothing). To ask a follow-up question
it returns ``state``: the next message of that conversation then goes to the same handler
(``continuing=True``) with that state, until it returns without state.

Example::

    async def opening_hours(turn: HandlerTurn) -> HandlerReply:
        return HandlerReply("We are open Mon-Fri 8:00-18:00 CET.")

    handlers = {**builtin_handlers(), "opening_hours": opening_hours}
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bot.core.phrases import phrase_key

# Said to take an answer in, not to accept an offer ("Would you like to talk to a person?")
ACKNOWLEDGEMENTS = frozenset({"got it", "gotcha", "makes sense", "fair enough", "lol fair enough",
                              "ok fair enough", "noted", "understood", "i see"})

HANDOFF_TEXT = "I've asked a member of our support team to take over. They'll reply here as soon as they can."
FALLBACK_TEXT = ("I'm sorry, I'm not sure I understood that. Could you rephrase it? "
                 "If you'd rather talk to a person, just say so.")


@dataclass(frozen=True)
class HandlerTurn:
    text: str
    session_id: str
    continuing: bool = False  # True when this handler asked the previous question
    state: Mapping[str, str] = field(default_factory=dict)
    asked_person: bool = False  # the bot's last reply asked whether they want a person ("yes" accepts)
    rehearsal: bool = False  # the console's Try it: answer, but change nothing outside the bot
    # The customer's earlier messages in this conversation (also earlier visits: a Telegram chat
    # or a web chat's browser keeps its id), newest last; read from the log only when called.
    earlier: Callable[[], Awaitable[list[str]]] = field(default=lambda: _nothing(), repr=False)


@dataclass(frozen=True)
class HandlerReply:
    text: str
    state: Mapping[str, str] | None = None  # set: the handler wants the next message too
    handoff: bool = False  # a person should take over this conversation
    offer_person: bool = False  # show "Talk to a person" with the reply
    # The reply asks whether the customer wants a person, so a plain "yes" or "ok" accepts. Not so
    # where a person is only mentioned beside an answer ("are you a bot?"): "ok" then acknowledges.
    asks_person: bool = False


Handler = Callable[[HandlerTurn], Awaitable[HandlerReply]]


async def _nothing() -> list[str]:
    return []


HOLD_ON = "hold_on"  # the built-in handler of a message that asks the bot to wait


async def greeting(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply("Hello! I'm the support assistant. Ask me about orders, delivery, "
                        "returns, payments or your account.")


async def goodbye(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply("Goodbye, and thanks for getting in touch!")


async def thanks(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply("You're welcome! Is there anything else I can help with?")


async def hold_on(turn: HandlerTurn) -> HandlerReply:
    """ "hang on let me find it": the customer is looking something up (run by a word rule,
    ``bot.core.followups.holds_on``, not by an intent)."""
    return HandlerReply("Sure, take your time. I'm here when you're ready.")


async def human_handoff(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply(HANDOFF_TEXT, handoff=True)


async def bot_identity(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply("I'm the shop's virtual assistant: a bot that answers from our help pages. "
                        "If you'd rather talk to a person, just say so.", offer_person=True)


async def complaint(turn: HandlerTurn) -> HandlerReply:
    return HandlerReply("I'm sorry this hasn't helped. Would you like to talk to a person from our "
                        "support team? Or tell me in other words what you need and I'll try again.",
                        offer_person=True, asks_person=True)


async def affirm(turn: HandlerTurn) -> HandlerReply:
    """A "yes" or "ok": accepting a person the bot asked about hands over; otherwise it moves on.
    An acknowledgement ("got it", "fair enough") accepts nothing: asked about a person, the
    customer is asked what else they need."""
    if turn.asked_person and phrase_key(turn.text) not in ACKNOWLEDGEMENTS:
        return HandlerReply(HANDOFF_TEXT, handoff=True)
    return HandlerReply("Great! Is there anything else I can help with?")


async def deny(turn: HandlerTurn) -> HandlerReply:
    if turn.asked_person:
        return HandlerReply("Alright. Tell me your question in other words and I'll try again.")
    return HandlerReply("OK. Is there anything else I can help with?")


def builtin_handlers() -> dict[str, Handler]:
    """The handlers every bot has, by the name routing tables use."""
    return {"greeting": greeting, "goodbye": goodbye, "thanks": thanks, "human_handoff": human_handoff,
            "bot_identity": bot_identity, "complaint": complaint, "affirm": affirm, "deny": deny,
            HOLD_ON: hold_on}
