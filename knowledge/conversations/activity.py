"""What the bot has been doing, day by day, from the conversation log (for the staff overview).

Days are UTC calendar days, read from the turns' ISO timestamps.

Example::

    activity = Activity(Database.open("sqlite:///data/supportbot.db"))
    for day in activity.per_day(days=14):
        print(day.day, day.questions, day.answered, day.fell_back)
    activity.feedback(days=14)              # Feedback(up=12, down=3)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from knowledge.database import Database, feedback, turns


@dataclass(frozen=True)
class DayActivity:
    day: str  # YYYY-MM-DD
    questions: int = 0  # every message the bot answered somehow
    answered: int = 0  # from the FAQ
    clarified: int = 0  # offered a choice of FAQ entries
    fell_back: int = 0
    handed_off: int = 0
    handled: int = 0  # by a handler (greeting, order status, ...)
    rejected: int = 0  # empty, too long, rate limited


@dataclass(frozen=True)
class Feedback:
    up: int
    down: int


FIELD_BY_ACTION = {"answer": "answered", "clarify": "clarified", "fallback": "fell_back",
                   "handoff": "handed_off", "handler": "handled", "rejected": "rejected"}


class Activity:
    """Daily counts over the conversation log."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def per_day(self, days: int = 14, today: date | None = None) -> list[DayActivity]:
        """One row per day for the last ``days`` days (today included), oldest first."""
        first, last = _window(days, today)
        day = func.substr(turns.c.created_at, 1, 10)
        query = (select(day.label("day"), turns.c.action, func.count().label("n"))
                 .where(day >= first.isoformat(), day <= last.isoformat())
                 .group_by(day, turns.c.action))
        counts: dict[str, dict[str, int]] = {}
        with self.database.connect() as conn:
            for row in conn.execute(query):
                if row.action == "relayed":  # written to a person, not a question for the bot
                    continue
                field = FIELD_BY_ACTION.get(row.action)
                per = counts.setdefault(row.day, {})
                per["questions"] = per.get("questions", 0) + int(row.n)
                if field:
                    per[field] = per.get(field, 0) + int(row.n)
        return [DayActivity((first + timedelta(days=i)).isoformat(),
                            **counts.get((first + timedelta(days=i)).isoformat(), {}))
                for i in range((last - first).days + 1)]

    def feedback(self, days: int = 14, today: date | None = None) -> Feedback:
        """Thumbs up and down given in the last ``days`` days."""
        first, _ = _window(days, today)
        query = (select(feedback.c.value, func.count()).where(feedback.c.created_at >= first.isoformat())
                 .group_by(feedback.c.value))
        with self.database.connect() as conn:
            totals = {int(value): int(n) for value, n in conn.execute(query)}
        return Feedback(up=totals.get(1, 0), down=totals.get(-1, 0))


def _window(days: int, today: date | None) -> tuple[date, date]:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    last = today or datetime.now(UTC).date()
    return last - timedelta(days=days - 1), last
