"""Per-conversation memory: what was last discussed, a pending question, how often the bot
failed lately, and a rate limit.

Kept in process memory with a bound on how many sessions it remembers (least recently used
go first); losing it on restart only costs a pending follow-up question.

Example::

    sessions = Sessions(max_sessions=10_000, rate_limit_per_minute=30)
    context = sessions.get("web:abc")
    sessions.allow("web:abc")        # False once the session sent too many messages
    remember(context, reply)         # what the reply changes: topic, offered choices, streak
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.core.actions import Action
from bot.core.replies import HUMAN, Reply
from bot.core.streak import Streak


@dataclass
class Context:
    """What the bot remembers about one conversation."""

    last_faq: str | None = None  # the topic of the last answer
    choices: tuple[str, ...] = ()  # FAQ ids offered as buttons, awaiting a pick
    handler: str | None = None  # a handler waiting for the next message
    handler_state: Mapping[str, str] = field(default_factory=dict)
    streak: Streak = Streak()  # fallbacks in a row: when to say "still", when to call a person
    offered_person: bool = False  # the last reply offered "Talk to a person": "yes" takes it
    last_answer: tuple[int, str, float] | None = None  # (turn id, question, monotonic time) of an FAQ answer
    recent: deque[float] = field(default_factory=deque)  # message times, for the rate limit


@dataclass(frozen=True)
class Pending:
    """A handler that asked a question: the next message goes to it, with ``state``."""

    handler: str
    state: Mapping[str, str]


def remember(context: Context, reply: Reply, pending: Pending | None = None) -> None:
    """Change ``context`` as sending ``reply`` does: the one place a reply changes a conversation.

    ``pending`` is the handler that wrote a handler or handoff reply, if it asked a question.
    A refused message changes nothing but the streak; a clarification or fallback leaves a
    pending question pending, an answer or another handler's reply (a new topic) drops it.
    """
    context.streak = context.streak.after(reply.action, reply.escalate)
    if reply.action == Action.REJECTED:
        return
    context.offered_person = any(button.payload == HUMAN for button in reply.buttons)
    if reply.action in (Action.HANDLER, Action.HANDOFF, Action.ANSWER):
        # A handler's question stays pending only through its own replies: an answer or another
        # handler means the customer changed the topic, and the question is dropped.
        context.handler = pending.handler if pending else None
        context.handler_state = dict(pending.state) if pending else {}
    if reply.action == Action.ANSWER:
        context.last_faq = reply.faq_id
    context.choices = reply.choices  # offered by a clarification; every other reply withdraws them


class Sessions:
    def __init__(self, max_sessions: int = 10_000, rate_limit_per_minute: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.rate_limit = rate_limit_per_minute
        self._clock = clock
        self._contexts: OrderedDict[str, Context] = OrderedDict()

    def get(self, session_id: str) -> Context:
        context = self._contexts.get(session_id)
        if context is None:
            context = self._contexts[session_id] = Context()
            while len(self._contexts) > self.max_sessions:
                self._contexts.popitem(last=False)
        self._contexts.move_to_end(session_id)
        return context

    def allow(self, session_id: str) -> bool:
        """Count one message; False if the session is over its per-minute limit."""
        recent = self.get(session_id).recent
        now = self._clock()
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.rate_limit:
            return False
        recent.append(now)
        return True
