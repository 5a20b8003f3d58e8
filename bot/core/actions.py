"""What the bot did with a message: the one list of actions every part of the runtime uses.

The values are the strings the chat API returns, the turn log stores and the metrics label
with, so an ``Action`` can go anywhere a string went. The policy decides the first four;
a handler asking for a person (or too many fallbacks in a row) makes ``HANDOFF``; text
refused before any model saw it is ``REJECTED``; a message written while a person has the
conversation is ``RELAYED`` to them, never answered by the bot.

Example::

    >>> Action.FALLBACK == "fallback", f"{Action.CLARIFY}"
    (True, 'clarify')
"""
from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    ANSWER = "answer"  # an FAQ answer
    CLARIFY = "clarify"  # a few FAQ entries offered as choices
    FALLBACK = "fallback"  # nothing fitted: say so, offer a person
    HANDLER = "handler"  # a handler wrote the reply
    HANDOFF = "handoff"  # a handler called in a person
    REJECTED = "rejected"  # empty, oversized or rate-limited: a clear reply, no model involved
    RELAYED = "relayed"  # written while a person has the conversation: for staff, not answered
