"""When the support team answers handoffs: staffed hours in the team's time zone.

A team writes its hours as weekdays and a time span, several parts separated by ``;``::

    Mon-Fri 09:00-17:00; Sat 10:00-14:00    a range of days, then a second part
    Fri-Mon 08:00-12:00                     a range may wrap past Sunday
    Mon,Wed,Fri 00:00-24:00                 a list of days; 24:00 ends the day
    Fri 22:00-02:00                         ends before it starts: runs past midnight and
                                            belongs to the day it starts (Friday night)

The times are wall-clock times in the team's zone (``SUPPORTBOT_TIMEZONE``), so an opening at
09:00 stays at 09:00 when the clocks change. On the night the clocks spring forward, a time
they skip opens (or closes) at the jump; on the night they fall back, a time that happens
twice means its first occurrence. Empty text means always staffed.

Example::

    hours = StaffedHours.parse("Mon-Fri 09:00-17:00", "Europe/Berlin")
    saturday = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    hours.is_open(saturday)        # False
    hours.next_opening(saturday)   # 2024-06-03 09:00+02:00: Monday morning in Berlin
    away_text(hours, saturday)     # "Our support team is away right now. A person will be
                                   #  back on Monday at 09:00 (Europe/Berlin). ..."
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.settings import PREFIX, Settings, SettingsError, parse_timezone

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # index: datetime.weekday()
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_MINUTES = 24 * 60
EXAMPLE = "Mon-Fri 09:00-17:00"
CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")
# An opening is at most a week ahead; two weeks leave room for a span the clocks skip once.
LOOKAHEAD_DAYS = 15

OPEN_TEXT = "A person from our support team will reply here shortly."
AWAY_TEXT = ("Our support team is away right now. A person will be back {when} ({zone}). "
             "Leave your message here and they'll reply when they're back.")


@dataclass(frozen=True)
class Span:
    """Some weekdays' hours: from ``start`` to ``end``, in minutes after the day's midnight."""

    days: str  # as written, in canonical case: "Mon-Fri", "Mon,Wed,Fri"
    weekdays: frozenset[int]  # 0 is Monday, as datetime.weekday()
    start: int  # 0..1439
    end: int  # 1..1440; at or before ``start``: the span ends on the next day

    def __str__(self) -> str:
        return f"{self.days} {_clock(self.start)}-{_clock(self.end)}"

    def staffed(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        """From when to when (UTC) the span that starts on ``day`` is staffed; None on other days."""
        if day.weekday() not in self.weekdays:
            return None
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return _instant(day, self.start, zone), _instant(end_day, self.end, zone)


@dataclass(frozen=True)
class StaffedHours:
    """Weekly hours in one IANA time zone; no spans at all means always staffed."""

    spans: tuple[Span, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        parse_timezone(self.timezone)  # ValueError naming it

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> StaffedHours:
        """Parse ``"Mon-Fri 09:00-17:00; Sat 10:00-14:00"``; ``ValueError`` says what is wrong.

        >>> StaffedHours.parse("mon - fri 9:00-17:00", "Europe/Berlin").describe()
        'Mon-Fri 09:00-17:00 (Europe/Berlin)'
        """
        parse_timezone(timezone)
        if not text.strip():
            return cls((), timezone)
        parts = [part.strip() for part in text.split(";") if part.strip()]
        if not parts:
            raise ValueError(f"no hours in {text!r} (write them like {EXAMPLE!r}, or leave it empty for always)")
        return cls(tuple(_parse_span(part) for part in parts), timezone)

    @classmethod
    def always(cls) -> StaffedHours:
        """Staffed around the clock: what empty text parses to."""
        return cls()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances

    def is_open(self, now: datetime) -> bool:
        """Is someone there at ``now`` (timezone-aware, in any zone)?"""
        if not self.spans:
            return True
        moment = _utc(now)
        return any(start <= moment < end for start, end in self._staffed_around(moment, range(-1, 2)))

    def next_opening(self, now: datetime) -> datetime | None:
        """When people are next there, in the team's zone; None when they are there now."""
        if self.is_open(now):
            return None
        moment = _utc(now)
        starts = [start for start, _ in self._staffed_around(moment, range(-1, LOOKAHEAD_DAYS)) if start > moment]
        return min(starts).astimezone(self.zone)  # never empty: every span has a weekday

    def describe(self) -> str:
        """``"Mon-Fri 09:00-17:00; Sat 10:00-14:00 (Europe/Berlin)"``, or ``"always"``."""
        if not self.spans:
            return "always"
        return "; ".join(str(span) for span in self.spans) + f" ({self.timezone})"

    def _staffed_around(self, moment: datetime, offsets: range) -> Iterator[tuple[datetime, datetime]]:
        """Every staffed stretch (UTC) of a span starting ``offsets`` days from ``moment``'s local date."""
        zone = self.zone
        today = moment.astimezone(zone).date()
        for offset in offsets:
            for span in self.spans:
                stretch = span.staffed(today + timedelta(days=offset), zone)
                if stretch is not None and stretch[0] < stretch[1]:  # empty: the clocks skipped all of it
                    yield stretch


def away_text(hours: StaffedHours, now: datetime) -> str:
    """The reply to a customer who asks for a person while nobody is there.

    "Today" and "tomorrow" are the team's, and the zone is named, as the customer may be elsewhere.

    Example::

        away_text(StaffedHours.parse("Mon-Fri 09:00-17:00"), datetime(2024, 6, 3, 18, 0, tzinfo=UTC))
        # "Our support team is away right now. A person will be back tomorrow at 09:00 (UTC). ..."
    """
    opening = hours.next_opening(now)
    if opening is None:  # open after all (the hours may have begun since the caller looked)
        return OPEN_TEXT
    days = (opening.date() - _utc(now).astimezone(hours.zone).date()).days
    day = DAY_NAMES[opening.weekday()]
    when = {0: "today", 1: "tomorrow"}.get(days, f"on {day}" if days < 7 else f"next {day}")
    return AWAY_TEXT.format(when=f"{when} at {opening:%H:%M}", zone=hours.timezone)


def staffed_hours_from(settings: Settings) -> StaffedHours:
    """``SUPPORTBOT_STAFFED_HOURS`` in ``SUPPORTBOT_TIMEZONE``; ``SettingsError`` names the wrong one.

    The settings cannot check the grammar themselves (they may not import the core): call this
    at start, beside ``Settings.from_env``.
    """
    try:
        parse_timezone(settings.timezone)
    except ValueError as error:
        raise SettingsError(f"{PREFIX}TIMEZONE: {error}") from None
    try:
        return StaffedHours.parse(settings.staffed_hours, settings.timezone)
    except ValueError as error:
        raise SettingsError(f"{PREFIX}STAFFED_HOURS: {error}") from None


def _parse_span(part: str) -> Span:
    words = re.sub(r"\s*([-,])\s*", r"\1", part).split()  # "Mon - Fri" is "Mon-Fri"
    if len(words) != 2:
        hint = " (separate parts with ';')" if len(words) > 2 else ""
        raise ValueError(f"expected days and a time span such as {EXAMPLE!r}, got {part!r}{hint}")
    days, weekdays = _parse_days(words[0], part)
    start, end = _parse_times(words[1], part)
    return Span(days, weekdays, start, end)


def _parse_days(word: str, part: str) -> tuple[str, frozenset[int]]:
    """``"mon-fri,sun"`` -> ``("Mon-Fri,Sun", {0, 1, 2, 3, 4, 6})``; a range may wrap: ``Fri-Mon``."""
    names: list[str] = []
    weekdays: set[int] = set()
    for item in word.split(","):
        ends = [_weekday(name, part) for name in item.split("-")]
        if len(ends) > 2:
            raise ValueError(f"bad range of days {item!r} in {part!r} (use two days, like Mon-Fri)")
        first, last = ends[0], ends[-1]
        weekdays.update((first + k) % 7 for k in range((last - first) % 7 + 1))
        names.append("-".join(DAYS[day] for day in ends))
    return ",".join(names), frozenset(weekdays)


def _weekday(name: str, part: str) -> int:
    for index, day in enumerate(DAYS):
        if name.lower() == day.lower():
            return index
    raise ValueError(f"unknown day {name!r} in {part!r} (use Mon..Sun)")


def _parse_times(word: str, part: str) -> tuple[int, int]:
    ends = word.split("-")
    if len(ends) != 2:
        raise ValueError(f"expected a time span such as 09:00-17:00 in {part!r}, got {word!r}")
    start, end = (_minutes(clock, part) for clock in ends)
    if start == DAY_MINUTES:
        raise ValueError(f"a span cannot start at 24:00, in {part!r} (start at 00:00)")
    if start == end:
        raise ValueError(f"the span starts and ends at {ends[0]} in {part!r} (use 00:00-24:00 for a whole day)")
    return start, end


def _minutes(clock: str, part: str) -> int:
    """``"09:30"`` -> 570; ``24:00`` is allowed (it ends a day)."""
    match = CLOCK.fullmatch(clock)
    hours, minutes = (int(match[1]), int(match[2])) if match else (-1, -1)
    if not (0 <= hours <= 23 and 0 <= minutes <= 59) and (hours, minutes) != (24, 0):
        raise ValueError(f"bad time {clock!r} in {part!r} (use HH:MM from 00:00 to 24:00)")
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _utc(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware, such as datetime.now(UTC)")
    return now.astimezone(UTC)


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) the clock in ``zone`` shows ``minutes`` after ``day``'s midnight or later."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first of a time that happens twice
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _clock_jump(wall, zone)


def _clock_jump(wall: datetime, zone: ZoneInfo) -> datetime:
    """When the clocks spring forward over ``wall`` (a time they skip), to the second, in UTC."""
    # Read with the offset after and before the change, a skipped time gives a moment just before
    # and one just after the jump: halve the stretch between them.
    before, after = sorted(int(wall.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1))
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)
