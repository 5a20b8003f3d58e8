"""Per-conversation memory: what was last discussed, a pending question, how often the bot
failed lately, and a rate limit; in the database, so that every replica sees the same.

A message reads its conversation's memory and takes a token from its rate limit in one
micro-batched transaction shared with the concurrent messages (``admit``); the memory the reply
leaves is written with the turn, in the turn log's transaction (``TurnRecord.state``). So a
message costs no database round trip of its own, and the next message of the conversation
reads what this one left on whichever replica it reaches. Conversations quiet for a day are
forgotten (``bot.core.housekeeping``), as a restart forgot them when this lived in memory.

Example::

    sessions = Sessions(DialogueStates(database), RateLimits(database), rate_limit_per_minute=30)
    await sessions.start()
    allowed, context = await sessions.admit("web:abc")   # False once over 30 a minute
    remember(context, reply)       # what the reply changes: topic, offered choices, streak
    dump(context)                  # JSON for the turn's record
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.actions import Action
from bot.core.batcher import Batcher
from bot.core.replies import HUMAN, Reply
from bot.core.streak import Streak
from knowledge.conversations.dialogue import DialogueStates, Stored
from knowledge.limits import Bucket, RateLimits


@dataclass
class Context:
    """What the bot remembers about one conversation."""

    last_faq: str | None = None  # the topic of the last answer
    choices: tuple[str, ...] = ()  # FAQ ids offered as buttons, awaiting a pick
    handler: str | None = None  # a handler waiting for the next message
    handler_state: Mapping[str, str] = field(default_factory=dict)
    streak: Streak = Streak()  # fallbacks in a row: when to say "still", when to call a person
    offered_person: bool = False  # the last reply offered "Talk to a person": "yes" takes it
    last_answer: tuple[int | None, str, float] | None = None  # (turn id, question, epoch time) of an FAQ answer


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
    """Dialogue memory and the per-conversation rate limit; see the module docstring."""

    def __init__(self, states: DialogueStates, limits: RateLimits, rate_limit_per_minute: int = 30) -> None:
        self.states = states
        self.limits = limits
        self.rate_limit = rate_limit_per_minute
        self._admissions: Batcher[str, tuple[bool, Context]] = Batcher(
            self._admit_many, max_batch=512, max_wait_ms=0, name="sessions")

    async def start(self) -> None:
        await self._admissions.start()

    async def close(self) -> None:
        await self._admissions.close()

    async def admit(self, session_id: str) -> tuple[bool, Context]:
        """Count one message (False: over the per-minute limit) and read the conversation's memory."""
        return await self._admissions.submit(session_id)

    async def read(self, session_id: str) -> Context:
        """The conversation's memory, counting nothing (to look at it: the console, tests)."""
        stored = await asyncio.to_thread(self.states.load_many, [session_id])
        return load(stored.get(session_id))

    async def save(self, session_id: str, context: Context) -> None:
        """Store memory that no logged turn carries (the console's Try it conversations)."""
        await asyncio.to_thread(self.states.save, session_id, dump(context))

    def _admit_many(self, session_ids: list[str]) -> list[tuple[bool, Context]]:
        buckets = [Bucket(f"session:{session_id}", self.rate_limit, self.rate_limit / 60) for session_id in session_ids]
        hits = self.limits.hit_many(buckets)
        stored = self.states.load_many(session_ids)
        return [(hit.allowed, load(stored.get(session_id))) for hit, session_id in zip(hits, session_ids)]


def dump(context: Context) -> str:
    """The memory as stored: JSON; the last answer's turn id is the row's (the turn that wrote it)."""
    answered = context.last_answer
    return json.dumps({
        "last_faq": context.last_faq, "choices": list(context.choices), "handler": context.handler,
        "handler_state": dict(context.handler_state),
        "streak": [context.streak.fallbacks, context.streak.unanswered], "offered_person": context.offered_person,
        "last_answer": [answered[1], answered[2]] if answered else None,
    }, separators=(",", ":"))


def load(stored: Stored | None) -> Context:
    """The memory ``dump`` wrote (a new conversation's when there is none)."""
    if stored is None:
        return Context()
    data = json.loads(stored.state)
    fallbacks, unanswered = data["streak"]
    answered = data["last_answer"]
    return Context(last_faq=data["last_faq"], choices=tuple(data["choices"]), handler=data["handler"],
                   handler_state=dict(data["handler_state"]), streak=Streak(int(fallbacks), bool(unanswered)),
                   offered_person=bool(data["offered_person"]),
                   last_answer=(stored.turn_id, answered[0], float(answered[1])) if answered else None)
