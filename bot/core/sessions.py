"""Per-conversation memory: what was last discussed, a pending question, and a rate limit.

Kept in process memory with a bound on how many sessions it remembers (least recently used
go first); losing it on restart only costs a pending follow-up question.

Example::

    sessions = Sessions(max_sessions=10_000, rate_limit_per_minute=30)
    context = sessions.get("web:abc")
    sessions.allow("web:abc")        # False once the session sent too many messages
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class Context:
    """What the bot remembers about one conversation."""

    last_faq: str | None = None  # the topic of the last answer
    choices: tuple[str, ...] = ()  # FAQ ids offered as buttons, awaiting a pick
    handler: str | None = None  # a handler waiting for the next message
    handler_state: Mapping[str, str] = field(default_factory=dict)
    fallbacks_in_a_row: int = 0
    recent: deque[float] = field(default_factory=deque)  # message times, for the rate limit


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
