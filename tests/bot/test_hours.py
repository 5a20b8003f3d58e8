"""Staffed hours: the grammar, open or closed at the edges, the next opening across weekends,
overnight spans and clock changes, and the customer's "away" reply."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.hours import OPEN_TEXT, Span, StaffedHours, away_text

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = "Mon-Fri 09:00-17:00"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,described,weekdays", [
    ("Mon-Fri 09:00-17:00; Sat 10:00-14:00", "Mon-Fri 09:00-17:00; Sat 10:00-14:00", [{0, 1, 2, 3, 4}, {5}]),
    ("mon - fri 9:00 - 17:00", "Mon-Fri 09:00-17:00", [{0, 1, 2, 3, 4}]),
    ("Fri-Mon 08:00-12:00", "Fri-Mon 08:00-12:00", [{4, 5, 6, 0}]),
    ("Mon,Wed,Fri 00:00-24:00", "Mon,Wed,Fri 00:00-24:00", [{0, 2, 4}]),
    ("Mon-Tue,Sun 08:00-09:00;", "Mon-Tue,Sun 08:00-09:00", [{0, 1, 6}]),
    ("Fri 22:00-02:00", "Fri 22:00-02:00", [{4}]),
    ("Sun-Sun 10:00-11:00", "Sun-Sun 10:00-11:00", [{6}]),
])
def test_parse_reads_days_ranges_lists_and_spans(text: str, described: str, weekdays: list[set[int]]) -> None:
    hours = StaffedHours.parse(text, "Europe/Berlin")
    assert hours.describe() == f"{described} (Europe/Berlin)"
    assert [set(span.weekdays) for span in hours.spans] == weekdays
    assert StaffedHours.parse(described, "Europe/Berlin") == hours, "describe() parses back to the same hours"


def test_times_become_minutes_and_an_end_before_the_start_runs_past_midnight() -> None:
    assert StaffedHours.parse("Mon 09:30-24:00").spans == (Span("Mon", frozenset({0}), 570, 1440),)
    overnight = StaffedHours.parse("Fri 22:00-02:00").spans[0]
    assert (overnight.start, overnight.end) == (1320, 120)


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_text_is_always_staffed(text: str) -> None:
    hours = StaffedHours.parse(text, "Europe/Berlin")
    assert hours.spans == () and hours.describe() == "always"
    assert StaffedHours.always().describe() == "always"
    now = utc(2024, 6, 1, 3, 0)
    assert hours.is_open(now) and StaffedHours.always().is_open(now)
    assert hours.next_opening(now) is None


@pytest.mark.parametrize("text,message", [
    ("Mnn-Fri 09:00-17:00", "unknown day 'Mnn' in 'Mnn-Fri 09:00-17:00' (use Mon..Sun)"),
    ("Monday 09:00-17:00", "unknown day 'Monday' in 'Monday 09:00-17:00' (use Mon..Sun)"),
    ("Mon,,Fri 09:00-17:00", "unknown day '' in 'Mon,,Fri 09:00-17:00' (use Mon..Sun)"),
    ("Mon-Fri-Sat 09:00-17:00",
     "bad range of days 'Mon-Fri-Sat' in 'Mon-Fri-Sat 09:00-17:00' (use two days, like Mon-Fri)"),
    ("Mon", "expected days and a time span such as 'Mon-Fri 09:00-17:00', got 'Mon'"),
    ("Mon 09:00-12:00 Tue 10:00-11:00", "expected days and a time span such as 'Mon-Fri 09:00-17:00', "
                                        "got 'Mon 09:00-12:00 Tue 10:00-11:00' (separate parts with ';')"),
    ("Mon 09:00", "expected a time span such as 09:00-17:00 in 'Mon 09:00', got '09:00'"),
    ("Mon 9am-5pm", "bad time '9am' in 'Mon 9am-5pm' (use HH:MM from 00:00 to 24:00)"),
    ("Mon 09:00-25:00", "bad time '25:00' in 'Mon 09:00-25:00' (use HH:MM from 00:00 to 24:00)"),
    ("Mon 09:60-10:00", "bad time '09:60' in 'Mon 09:60-10:00' (use HH:MM from 00:00 to 24:00)"),
    ("Mon 24:30-10:00", "bad time '24:30' in 'Mon 24:30-10:00' (use HH:MM from 00:00 to 24:00)"),
    ("Mon 24:00-02:00", "a span cannot start at 24:00, in 'Mon 24:00-02:00' (start at 00:00)"),
    ("Mon 09:00-09:00", "the span starts and ends at 09:00 in 'Mon 09:00-09:00' (use 00:00-24:00 for a whole day)"),
    (" ; ; ", "no hours in ' ; ; ' (write them like 'Mon-Fri 09:00-17:00', or leave it empty for always)"),
    ("Mon-Fri 09:00-17:00; Sat 10-14", "bad time '10' in 'Sat 10-14' (use HH:MM from 00:00 to 24:00)"),
])
def test_parse_errors_say_what_is_wrong_and_where(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        StaffedHours.parse(text)


@pytest.mark.parametrize("zone", ["Europe/Berln", "", "Europe", "../etc/passwd", "utc"])
def test_an_unknown_time_zone_is_an_error_naming_it(zone: str) -> None:
    with pytest.raises(ValueError, match=f"^unknown time zone {re.escape(repr(zone))} "):
        StaffedHours.parse(WEEKDAYS, zone)
    with pytest.raises(ValueError, match="unknown time zone"):
        StaffedHours.parse("", zone)  # the zone is checked even when the hours are always


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        StaffedHours.parse(WEEKDAYS).is_open(datetime(2024, 6, 3, 10, 0))


# --- open or closed --------------------------------------------------------------------------

@pytest.mark.parametrize("now,open_", [
    (utc(2024, 6, 3, 8, 59, 59), False),  # Monday, a second early
    (utc(2024, 6, 3, 9, 0), True),  # the opening minute is staffed
    (utc(2024, 6, 3, 16, 59, 59), True),
    (utc(2024, 6, 3, 17, 0), False),  # the end is not
    (utc(2024, 6, 7, 12, 0), True),  # Friday
    (utc(2024, 6, 8, 12, 0), False),  # Saturday
    (utc(2024, 6, 9, 12, 0), False),  # Sunday
])
def test_is_open_at_the_edges(now: datetime, open_: bool) -> None:
    assert StaffedHours.parse(WEEKDAYS).is_open(now) is open_


def test_24_00_ends_the_day() -> None:
    hours = StaffedHours.parse("Mon 20:00-24:00")
    assert hours.is_open(utc(2024, 6, 3, 23, 59, 59))
    assert not hours.is_open(utc(2024, 6, 4, 0, 0))


def test_an_overnight_span_belongs_to_the_day_it_starts() -> None:
    hours = StaffedHours.parse("Fri 22:00-02:00")
    assert not hours.is_open(utc(2024, 6, 7, 21, 59))
    assert hours.is_open(utc(2024, 6, 7, 22, 0))
    assert hours.is_open(utc(2024, 6, 8, 1, 59))  # Saturday night, still Friday's span
    assert not hours.is_open(utc(2024, 6, 8, 2, 0))
    assert not hours.is_open(utc(2024, 6, 8, 23, 0)), "Saturday night is not staffed"
    assert not hours.is_open(utc(2024, 6, 7, 1, 0)), "nor is the night into Friday"
    assert hours.next_opening(utc(2024, 6, 8, 3, 0)) == utc(2024, 6, 14, 22, 0)


def test_sunday_night_runs_into_monday() -> None:
    hours = StaffedHours.parse("Sun 22:00-02:00")
    assert hours.is_open(utc(2024, 6, 3, 1, 0))
    assert not hours.is_open(utc(2024, 6, 3, 2, 0))


def test_a_wrapping_range_covers_the_weekend() -> None:
    hours = StaffedHours.parse("Fri-Mon 08:00-12:00")
    assert [hours.is_open(utc(2024, 6, day, 10, 0)) for day in range(3, 10)] == [
        True, False, False, False, True, True, True]  # Mon .. Sun


# --- the next opening ------------------------------------------------------------------------

def test_next_opening_is_none_while_open() -> None:
    assert StaffedHours.parse(WEEKDAYS).next_opening(utc(2024, 6, 3, 12, 0)) is None


def test_next_opening_skips_the_weekend_and_answers_in_the_teams_zone() -> None:
    hours = StaffedHours.parse(f"{WEEKDAYS}; Sat 10:00-14:00", "Europe/Berlin")
    friday_evening = berlin(2024, 6, 7, 17, 0)
    assert hours.next_opening(friday_evening) == berlin(2024, 6, 8, 10, 0)
    saturday_afternoon = berlin(2024, 6, 8, 14, 0)
    opening = hours.next_opening(saturday_afternoon)
    assert opening == berlin(2024, 6, 10, 9, 0)
    assert opening is not None and opening.tzinfo == BERLIN and (opening.hour, opening.minute) == (9, 0)


def test_the_same_moment_in_any_zone_gets_the_same_answer() -> None:
    hours = StaffedHours.parse(WEEKDAYS, "Europe/Berlin")
    moment = utc(2024, 6, 3, 6, 30)  # 08:30 in Berlin: not yet
    for zone in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"):
        now = moment.astimezone(ZoneInfo(zone))
        assert not hours.is_open(now)
        assert hours.next_opening(now) == utc(2024, 6, 3, 7, 0)
    assert hours.is_open(utc(2024, 6, 3, 7, 0)) and hours.is_open(berlin(2024, 6, 3, 9, 0))
    assert not StaffedHours.parse(WEEKDAYS, "UTC").is_open(berlin(2024, 6, 3, 9, 0)), "07:00 UTC"


# --- clock changes: Europe/Berlin springs forward on 31 March 2024 and falls back on 27 October

@pytest.mark.parametrize("friday,monday_utc", [
    (berlin(2024, 3, 29, 18, 0), utc(2024, 4, 1, 7, 0)),  # winter time Friday, summer time Monday
    (berlin(2024, 10, 25, 18, 0), utc(2024, 10, 28, 8, 0)),  # and back
])
def test_an_opening_stays_at_9_local_across_the_change(friday: datetime, monday_utc: datetime) -> None:
    hours = StaffedHours.parse(WEEKDAYS, "Europe/Berlin")
    opening = hours.next_opening(friday)
    assert opening == monday_utc
    assert opening is not None and (opening.hour, opening.minute) == (9, 0)
    assert not hours.is_open(monday_utc - timedelta(seconds=1)) and hours.is_open(monday_utc)


def test_a_span_over_the_spring_night_is_an_hour_shorter() -> None:
    hours = StaffedHours.parse("Sun 01:00-04:00", "Europe/Berlin")
    assert hours.next_opening(utc(2024, 3, 30, 12, 0)) == utc(2024, 3, 31, 0, 0)  # 01:00 winter time
    assert hours.is_open(utc(2024, 3, 31, 1, 59))  # 03:59 summer time
    assert not hours.is_open(utc(2024, 3, 31, 2, 0))  # 04:00 summer time


def test_a_span_over_the_autumn_night_is_an_hour_longer() -> None:
    hours = StaffedHours.parse("Sun 01:00-04:00", "Europe/Berlin")
    assert hours.next_opening(utc(2024, 10, 26, 12, 0)) == utc(2024, 10, 26, 23, 0)  # 01:00 summer time
    assert hours.is_open(utc(2024, 10, 27, 2, 59))  # 03:59 winter time
    assert not hours.is_open(utc(2024, 10, 27, 3, 0))


def test_a_skipped_opening_time_opens_at_the_jump() -> None:
    hours = StaffedHours.parse("Sun 02:30-04:00", "Europe/Berlin")
    assert hours.next_opening(utc(2024, 3, 30, 12, 0)) == berlin(2024, 3, 31, 3, 0)  # 01:00 UTC
    assert not hours.is_open(utc(2024, 3, 31, 0, 59, 59))


def test_a_span_the_clocks_skip_entirely_waits_a_week() -> None:
    hours = StaffedHours.parse("Sun 02:00-02:30", "Europe/Berlin")
    assert hours.next_opening(utc(2024, 3, 30, 12, 0)) == berlin(2024, 4, 7, 2, 0)


def test_a_repeated_opening_time_opens_the_first_time() -> None:
    hours = StaffedHours.parse("Sun 02:30-05:00", "Europe/Berlin")
    opening = hours.next_opening(utc(2024, 10, 26, 12, 0))
    # Compared in UTC: Python never calls a time that happens twice equal to one in another zone.
    assert opening is not None and opening.astimezone(UTC) == utc(2024, 10, 27, 0, 30)  # 02:30 summer time
    assert (opening.hour, opening.minute, opening.fold) == (2, 30, 0)
    assert hours.is_open(berlin(2024, 10, 27, 2, 15, fold=1))  # the second 02:15 is inside


# --- the reply ---------------------------------------------------------------------------------

@pytest.mark.parametrize("now,when", [
    (berlin(2024, 6, 3, 7, 0), "today at 09:00"),  # Monday morning
    (berlin(2024, 6, 3, 18, 0), "tomorrow at 09:00"),  # Monday evening
    (berlin(2024, 6, 7, 17, 30), "on Monday at 09:00"),  # Friday evening
    (utc(2024, 6, 9, 23, 30), "today at 09:00"),  # Sunday in UTC, already Monday in Berlin
])
def test_away_text_says_when_someone_is_back(now: datetime, when: str) -> None:
    hours = StaffedHours.parse(WEEKDAYS, "Europe/Berlin")
    assert away_text(hours, now) == (
        f"Our support team is away right now. A person will be back {when} (Europe/Berlin). "
        "Leave your message here and they'll reply when they're back.")


def test_away_text_says_next_when_the_day_is_a_week_away() -> None:
    hours = StaffedHours.parse("Mon 09:00-10:00", "UTC")
    assert "be back next Monday at 09:00 (UTC)." in away_text(hours, utc(2024, 6, 3, 11, 0))


def test_away_text_while_open_promises_a_person_soon() -> None:
    assert away_text(StaffedHours.parse(WEEKDAYS), utc(2024, 6, 3, 12, 0)) == OPEN_TEXT
    assert away_text(StaffedHours.always(), utc(2024, 6, 3, 3, 0)) == OPEN_TEXT


# --- properties ----------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
spans = st.builds(lambda days, start, end: f"{','.join(sorted(days))} {start}-{end}",
                  st.sets(st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]), min_size=1),
                  st.sampled_from(["00:00", "01:30", "02:00", "02:30", "08:00", "09:00", "17:00", "22:00", "23:59"]),
                  st.sampled_from(["00:00", "01:00", "02:15", "03:00", "12:00", "17:00", "24:00"]))
hours_texts = st.lists(spans, min_size=1, max_size=3).map("; ".join).filter(
    lambda text: all(part.split()[1].split("-")[0] != part.split()[1].split("-")[1] for part in text.split("; ")))
moments = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(text=hours_texts, zone=st.sampled_from(ZONES), now=moments)
def test_next_opening_is_the_first_staffed_moment_after_now(text: str, zone: str, now: datetime) -> None:
    hours = StaffedHours.parse(text, zone)
    opening = hours.next_opening(now)
    if opening is None:
        assert hours.is_open(now)
        return
    assert opening > now, "never before now"
    assert hours.is_open(opening), "someone is there at the opening"
    # In UTC: arithmetic on a zone's datetime is wall-clock arithmetic, which a clock change skews.
    assert not hours.is_open(opening.astimezone(UTC) - timedelta(microseconds=1)), "and nobody just before it"
    assert opening.tzinfo == ZoneInfo(zone)
