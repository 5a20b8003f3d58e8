"""The handoff desk: the runtime's one way to call in a person, for every channel.

The state lives in the database (``knowledge.conversations.handoffs``); the desk adds what the
running bot needs around it:

- ``state(session_id)``: is a person handling this conversation? Asked once per message, so
  concurrent messages share one query (micro-batched like the turn log).
- ``open``, ``claim``, ``post``, ``close``: the state changes, each followed by a wake-up of
  whoever is watching (the console inbox, a customer's web chat page) and, for channels that
  push messages themselves (Telegram), delivery of what staff wrote.
- wake-ups are in-process signals; a watcher also re-reads the database every few seconds, so
  changes made through another replica arrive too, only later.
- ``notify``: called when a conversation starts waiting (the signed helpdesk webhook).

Example::

    desk = HandoffDesk(Handoffs(database))
    await desk.start()
    opened = await desk.open("web:abc", "web", "asked for a person")
    await desk.post(opened.handoff.id, "ana", "Hi, I'm Ana.", "console")   # the page hears it
    await desk.close(opened.handoff.id, "ana")
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.core.batcher import Batcher
from knowledge.conversations.handoffs import WITH_STAFF, Cursor, Handoff, Handoffs, Line, Opened

log = logging.getLogger(__name__)
NOTIFIED_LINES = 20  # of the conversation so far, sent with "handoff.waiting"
INBOX = "inbox"  # the topic every change wakes; a conversation's own topic is its session id
Delivery = Callable[[Handoff, Line], Awaitable[None]]
Notify = Callable[[str, Mapping[str, object]], None]


class DeliveryFailed(Exception):
    """A channel could not deliver a staff message; the message says why, for staff."""


@dataclass(frozen=True)
class Posted:
    """A staff message stored, and whether its channel delivered it (None: the customer's
    page fetches it itself, as the web chat does)."""

    line: Line
    handoff: Handoff
    delivered: bool | None
    problem: str | None = None


class Wakeups:
    """In-process signals by topic: ``wait`` returns when a topic it watches is ``ring``-ed."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self.closed = False

    def ring(self, *topics: str) -> None:
        for topic in topics:
            for event in self._waiting.get(topic, ()):
                event.set()

    async def wait(self, topics: Iterable[str], timeout: float) -> bool:
        """Wait for a ring of one of ``topics`` or ``timeout``; False once closing."""
        if self.closed:
            return False
        event, names = asyncio.Event(), list(topics)
        for topic in names:
            self._waiting.setdefault(topic, set()).add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            for topic in names:
                waiting = self._waiting.get(topic)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiting[topic]
        return not self.closed

    def close(self) -> None:
        """Release every waiter (shutting down: open event streams end)."""
        self.closed = True
        for events in self._waiting.values():
            for event in events:
                event.set()


class HandoffDesk:
    """Handoff state changes for the running bot; see the module docstring."""

    def __init__(self, handoffs: Handoffs, away: Callable[[], str | None] = lambda: None,
                 notify: Notify | None = None) -> None:
        self.handoffs = handoffs
        self.away = away  # the reply outside staffed hours; None while staffed
        self.notify = notify
        self.wakeups = Wakeups()
        self._deliveries: dict[str, Delivery] = {}
        self._lookups: Batcher[str, Handoff | None] = Batcher(self._open_for, max_batch=512, max_wait_ms=0,
                                                               name="handoff-state")

    async def start(self) -> None:
        await self._lookups.start()

    async def shutdown(self) -> None:
        self.wakeups.close()
        await self._lookups.close()

    def deliver_with(self, channel: str, delivery: Delivery) -> None:
        """``channel`` pushes staff messages and state changes to its customers itself."""
        self._deliveries[channel] = delivery

    async def state(self, session_id: str) -> Handoff | None:
        """The conversation's open handoff, or None when the bot has it."""
        return await self._lookups.submit(session_id)

    async def open(self, session_id: str, channel: str, reason: str) -> Opened:
        opened = await asyncio.to_thread(self.handoffs.open, session_id, channel, reason)
        if opened.created:
            log.info("conversation %d waits for a person (%s)", opened.handoff.id, reason)
            self.wakeups.ring(INBOX, session_id)
            if self.notify is not None:
                lines = await asyncio.to_thread(self.handoffs.transcript, session_id, None, NOTIFIED_LINES)
                self.notify("handoff.waiting", {"handoff": handoff_json(opened.handoff), "position": opened.position,
                                                "transcript": [line.as_json() for line in lines]})
        return opened

    async def claim(self, handoff_id: int, staff: str, take_over: bool = False, source: str = "console") -> Handoff:
        before = await asyncio.to_thread(self.handoffs.get, handoff_id)
        handoff = await asyncio.to_thread(self.handoffs.claim, handoff_id, staff, take_over, source)
        if not _has(before, staff):  # claiming what one has already tells nobody anything
            await self._changed(handoff, "claimed", staff)
        return handoff

    async def post(self, handoff_id: int, author: str, text: str, source: str,
                   take_over: bool = False) -> Posted:
        """Store a staff message and deliver it where the channel needs that."""
        before = await asyncio.to_thread(self.handoffs.get, handoff_id)
        line = await asyncio.to_thread(self.handoffs.post, handoff_id, author, text, source, take_over)
        handoff = await asyncio.to_thread(self.handoffs.get, handoff_id)
        self.wakeups.ring(INBOX, handoff.session_id)
        delivery = self._deliveries.get(handoff.channel)
        if delivery is None or source == handoff.channel:  # fetched by the page, or sent already
            return Posted(line, handoff, None)
        if not _has(before, author):  # the message claimed it: say who joined, first
            await self._changed(handoff, "claimed", author)
        try:
            await delivery(handoff, line)
        except DeliveryFailed as error:
            return Posted(line, handoff, False, str(error))
        return Posted(line, handoff, True)

    async def close(self, handoff_id: int, by: str, source: str = "console", take_over: bool = False) -> Handoff:
        handoff = await asyncio.to_thread(self.handoffs.close, handoff_id, by, source, take_over)
        log.info("conversation %d handed back to the bot", handoff_id)
        await self._changed(handoff, "closed", by)
        return handoff

    def customer_wrote(self, session_id: str) -> None:
        """A turn of a handed-off conversation was stored: wake its watchers."""
        self.wakeups.ring(INBOX, session_id)

    async def _changed(self, handoff: Handoff, kind: str, author: str) -> None:
        self.wakeups.ring(INBOX, handoff.session_id)
        delivery = self._deliveries.get(handoff.channel)
        if delivery is None:
            return
        try:
            at = (handoff.closed_at if kind == "closed" else handoff.claimed_at) or ""
            await delivery(handoff, Line("event", "", at, Cursor(), author=author, kind=kind))
        except DeliveryFailed as error:
            log.warning("could not tell the customer of handoff %d that it was %s: %s", handoff.id, kind, error)

    def _open_for(self, session_ids: list[str]) -> list[Handoff | None]:
        found = self.handoffs.open_for(session_ids)
        return [found.get(session_id) for session_id in session_ids]


def _has(handoff: Handoff, staff: str) -> bool:
    """Does ``staff`` have the conversation already?"""
    return handoff.state == WITH_STAFF and handoff.claimed_by == staff


def handoff_json(handoff: Handoff) -> dict[str, object]:
    """A handoff as the admin API and the webhook show it."""
    return {"id": handoff.id, "session_id": handoff.session_id, "channel": handoff.channel,
            "reason": handoff.reason, "state": handoff.state, "opened_at": handoff.opened_at,
            "claimed_by": handoff.claimed_by, "claimed_at": handoff.claimed_at,
            "first_reply_at": handoff.first_reply_at, "closed_at": handoff.closed_at,
            "closed_by": handoff.closed_by}

