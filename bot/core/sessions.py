"""Per-conversation memory: what was last discussed, a pending question, how often the bot
failed lately, and a rate limit; in the database, so that every replica sees the same.

A message takes a token from its rate limit and reads its conversation's memory and open
handoff in one micro-batch shared with the concurrent messages (``admit``): on PostgreSQL one
round trip for the batch. The memory the reply leaves is written with the turn, in the turn
log's transaction (``TurnRecord.state``). So a message costs no database round trip of its own,
and the next message of the conversation reads what this one left on whichever replica it
reaches. Conversations quiet for a day are forgotten (``bot.core.housekeeping``), as a restart
forgot them when this lived in memory.

Example::

    sessions = Sessions(DialogueStates(database), rate_limit_per_minute=30)
    await sessions.start()
    arrival = await sessions.admit("web:abc")   # .allowed False once over 30 a minute
    remember(arrival.context, reply)   # what the reply changes: topic, offered choices, streak
    dump(arrival.context)              # JSON for the turn's record
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
from knowledge.conversations.dialogue import DialogueStates, Stored, load_query
from knowledge.conversations.handoffs import Handoff, WaitingNote, waiting_query
from knowledge.limits import Bucket, Hit, hit_query, session_key
from knowledge.pipeline import run_together


@dataclass
class Context:
    """What the bot remembers about one conversation."""

    last_faq: str | None = None  # the topic of the last answer
    choices: tuple[str, ...] = ()  # FAQ ids offered as buttons, awaiting a pick
    handler: str | None = None  # a handler waiting for the next message
    handler_state: Mapping[str, str] = field(default_factory=dict)
    streak: Streak = Streak()  # fallbacks in a row: when to say "still", when to call a person
    offered_person: bool = False  # the last reply showed "Talk to a person" (shown again after a reload)
    asked_person: bool = False  # and asked whether they want one: "yes" takes it
    last_answer: tuple[int | None, str, float] | None = None  # (turn id, question, epoch time) of an FAQ answer
    clarified: str = ""  # the message the offered ``choices`` answer
    rehearsed_handoff: bool = False  # Try it handed over: what follows would go to staff, not the bot
    last_handler: str | None = None  # the handler that wrote the last reply ("order_status": a status given)


@dataclass(frozen=True)
class Pending:
    """A handler that asked a question: the next message goes to it, with ``state``."""

    handler: str
    state: Mapping[str, str]


def remember(context: Context, reply: Reply, pending: Pending | None = None, text: str = "") -> None:
    """Change ``context`` as sending ``reply`` does: the one place a reply changes a conversation.

    ``pending`` is the handler that wrote a handler or handoff reply, if it asked a question.
    A refused message changes nothing but the streak; a clarification or fallback leaves a
    pending question pending, an answer or another handler's reply (a new topic) drops it.
    ``text`` is the message replied to, kept with the choices a clarification offers.
    """
    context.streak = context.streak.after(reply.action, reply.escalate)
    if reply.action == Action.REJECTED:
        return
    context.offered_person = any(button.payload == HUMAN for button in reply.buttons)
    context.asked_person = reply.asks_person
    if reply.action in (Action.HANDLER, Action.HANDOFF, Action.ANSWER):
        # A handler's question stays pending only through its own replies: an answer or another
        # handler means the customer changed the topic, and the question is dropped.
        context.handler = pending.handler if pending else None
        context.handler_state = dict(pending.state) if pending else {}
    if reply.action == Action.ANSWER:
        context.last_faq = reply.faq_id
    context.last_handler = reply.handler if reply.action == Action.HANDLER else None
    context.choices = reply.choices  # offered by a clarification; every other reply withdraws them
    context.clarified = text if reply.action == Action.CLARIFY else ""  # not an answer's related questions


@dataclass(frozen=True)
class Arrival:
    """What a message finds when it arrives: within its rate limit or not, the conversation's
    memory, its open handoff (None when the bot has it) with what a message relayed in it is told,
    and the hit on its client's own limit when it came with one (a web chat's address:
    ``bot.channels.admission``)."""

    allowed: bool
    context: Context
    handoff: Handoff | None
    client: Hit | None = None
    note: WaitingNote | None = None  # with ``handoff``


class OverLimit(Exception):
    """The message's client is over its own limit (``Arrival.client``): refuse it, store nothing."""

    def __init__(self, hit: Hit, bucket: Bucket) -> None:
        super().__init__(f"{bucket.key} is over its limit")
        self.retry_after = hit.retry_after(bucket)


class Sessions:
    """Dialogue memory and the per-conversation rate limit; see the module docstring."""

    def __init__(self, states: DialogueStates, rate_limit_per_minute: int = 30) -> None:
        self.states = states
        self.rate_limit = rate_limit_per_minute
        self._admissions: Batcher[tuple[str, Bucket | None], Arrival] = Batcher(
            self._admit_many, max_batch=512, max_wait_ms=0, name="sessions")

    async def start(self) -> None:
        await self._admissions.start()

    async def close(self) -> None:
        await self._admissions.close()

    async def admit(self, session_id: str, client: Bucket | None = None) -> Arrival:
        """Count one message (not ``allowed``: over the per-minute limit) and read the conversation's
        memory and open handoff; take a token from ``client``'s bucket too, when given."""
        return await self._admissions.submit((session_id, client))

    async def read(self, session_id: str) -> Context:
        """The conversation's memory, counting nothing (to look at it: the console, tests)."""
        stored = await asyncio.to_thread(self.states.load_many, [session_id])
        return load(stored.get(session_id))

    async def save(self, session_id: str, context: Context) -> None:
        """Store memory that no logged turn carries (the console's Try it conversations)."""
        await asyncio.to_thread(self.states.save, session_id, dump(context))

    def _admit_many(self, items: list[tuple[str, Bucket | None]]) -> list[Arrival]:
        # Every hit and both reads of the batch in one round trip (``knowledge.pipeline``).
        session_ids = [session_id for session_id, _ in items]
        clients = [client for _, client in items if client is not None]
        with self.states.database.statements() as conn:
            dialect = conn.dialect.name
            buckets = [Bucket(session_key(session_id), self.rate_limit, self.rate_limit / 60) for session_id in session_ids]
            results = run_together(conn, [*(hit_query(dialect, bucket) for bucket in [*buckets, *clients]),
                                          load_query(dialect, session_ids), waiting_query(dialect, session_ids)])
        hits, client_hits = iter(results[:len(buckets)]), iter(results[len(buckets):-2])
        stored, waiting = results[-2:]
        arrivals = []
        for session_id, client in items:
            handoff, note = waiting.get(session_id, (None, None))
            arrivals.append(Arrival(next(hits).allowed, load(stored.get(session_id)), handoff,
                                    next(client_hits) if client is not None else None, note))
        return arrivals


def dump(context: Context) -> str:
    """The memory as stored: JSON; the last answer's turn id is the row's (the turn that wrote it)."""
    answered = context.last_answer
    return json.dumps({
        "last_faq": context.last_faq, "choices": list(context.choices), "handler": context.handler,
        "handler_state": dict(context.handler_state),
        "streak": [context.streak.fallbacks, context.streak.unanswered], "offered_person": context.offered_person,
        "asked_person": context.asked_person,
        "last_answer": [answered[1], answered[2]] if answered else None, "clarified": context.clarified,
        "rehearsed_handoff": context.rehearsed_handoff, "last_handler": context.last_handler,
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
                   # memories stored before the two were told apart: every offer was a question
                   asked_person=bool(data.get("asked_person", data["offered_person"])),
                   last_answer=(stored.turn_id, answered[0], float(answered[1])) if answered else None,
                   clarified=str(data.get("clarified") or ""),  # absent from memories stored before it
                   rehearsed_handoff=bool(data.get("rehearsed_handoff")),
                   last_handler=data.get("last_handler"))  # absent from memories stored before it
