"""Inline keyboards for replies, and the callback data their buttons carry.

A reply's buttons (clarification choices, "None of these", "Talk to a person") become one
button per row; an answer that invites feedback gets a thumbs up / thumbs down row. Telegram
gives a button at most 64 bytes of callback data:

- ``p:<payload>`` a choice to pass back to the responder (``p:faq:returns``, ``p:human``);
- ``t:<turn_id>:<n>`` the n-th FAQ choice offered by a logged turn, for FAQ ids too long for
  the first form (the turn's logged choices say which entry it was);
- ``v:<turn_id>:1`` / ``v:<turn_id>:-1`` feedback on a turn.

Example::

    >>> parse_callback("v:12:-1")
    Vote(turn_id=12, value=-1)
    >>> parse_callback("p:faq:returns")
    Pick(payload='faq:returns')
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.replies import Reply, is_payload

MAX_CALLBACK_BYTES = 64
THUMBS_UP = "👍 Helpful"
THUMBS_DOWN = "👎 Not helpful"
_PICK_BY_TURN = re.compile(r"^t:(\d{1,18}):(\d{1,2})$")
_VOTE = re.compile(r"^v:(\d{1,18}):(1|-1)$")


@dataclass(frozen=True)
class Pick:
    """A button whose payload goes back to the responder as ``choice``."""

    payload: str


@dataclass(frozen=True)
class PickFromTurn:
    """The ``index``-th FAQ choice that turn ``turn_id`` offered."""

    turn_id: int
    index: int


@dataclass(frozen=True)
class Vote:
    turn_id: int
    value: int  # +1 helpful, -1 not helpful


Callback = Pick | PickFromTurn | Vote


def reply_keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The inline keyboard for ``reply``, or None when it has no buttons and no feedback."""
    rows: list[list[InlineKeyboardButton]] = []
    faq_index = 0
    for button in reply.buttons:
        data = f"p:{button.payload}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            data = f"t:{reply.turn_id}:{faq_index}"
        if button.payload.startswith("faq:"):
            faq_index += 1
        rows.append([InlineKeyboardButton(button.label, callback_data=data)])
    if reply.feedback and reply.turn_id is not None:
        rows.append([InlineKeyboardButton(THUMBS_UP, callback_data=f"v:{reply.turn_id}:1"),
                     InlineKeyboardButton(THUMBS_DOWN, callback_data=f"v:{reply.turn_id}:-1")])
    return InlineKeyboardMarkup(rows) if rows else None


def without_votes(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` once the answer is rated: the thumbs go, the related questions stay."""
    rows = [row for row in (markup.inline_keyboard if markup is not None else ())
            if not any(str(button.callback_data or "").startswith("v:") for button in row)]
    return InlineKeyboardMarkup(rows) if rows else None


def parse_callback(data: str | None) -> Callback | None:
    """What a pressed button means, or None for data this bot never sent."""
    if not data:
        return None
    if data.startswith("p:") and is_payload(data[2:]):
        return Pick(data[2:])
    if match := _PICK_BY_TURN.match(data):
        return PickFromTurn(int(match[1]), int(match[2]))
    if match := _VOTE.match(data):
        return Vote(int(match[1]), int(match[2]))
    return None
