"""How often the bot has failed a customer lately, and when that calls in a person.

One count, kept per conversation in ``sessions.Context``: fallbacks in a row. Every reply
but another fallback ends the run; at ``ESCALATE_AFTER`` the fallback reply
says ``escalate`` and the count starts again. Beside it a flag remembers whether the bot has
fallen back since it last helped (an answer or a handler), so a second fallback can say
"still"; a clarification or a refused message leaves that flag as it was.

The two differ on purpose, and each keeps what a channel has always shown: the "still"
wording (every channel) survives an offer of choices, while the escalation count (acted on
by the responder: a person is called in) starts again after one. A handoff starts both
again: a person has seen the conversation, and the bot starts afresh when they hand it back.

Example::

    streak = Streak()
    for _ in range(ESCALATE_AFTER - 1):
        streak = streak.after(Action.FALLBACK, escalated=False)
    streak.escalates     # True: the next fallback calls in a person
    streak.unanswered    # True: ... and says "still"
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.core.actions import Action

ESCALATE_AFTER = 3  # fallbacks in a row before a person is called in


@dataclass(frozen=True)
class Streak:
    fallbacks: int = 0  # fallbacks in a row
    unanswered: bool = False  # a fallback since the last answer or handler reply

    @property
    def escalates(self) -> bool:
        """Would one more fallback be one too many, so that a person should take over?"""
        return self.fallbacks + 1 >= ESCALATE_AFTER

    def after(self, action: Action, escalated: bool = False) -> Streak:
        """The streak once a reply with ``action`` (and ``escalated`` as it said) is sent."""
        if action == Action.FALLBACK:
            return Streak(0 if escalated else self.fallbacks + 1, True)
        if action in (Action.CLARIFY, Action.REJECTED):
            return Streak(0, self.unanswered)
        return Streak()  # an answer or a handler's reply: the bot helped
