"""Handoff settings: staffed hours, their time zone and the handoff webhook, each error naming
its variable (and never echoing the webhook's URL or secret)."""
from __future__ import annotations

import re

import pytest

from bot.core.hours import StaffedHours, staffed_hours_from
from bot.settings import Settings, SettingsError

SECRET = "s" * 16
URL = "https://helpdesk.example.com/hooks/supportbot?token=abc123"


def from_env(**values: str) -> Settings:
    return Settings.from_env({f"SUPPORTBOT_{name.upper()}": value for name, value in values.items()})


def test_the_defaults_are_always_staffed_in_utc_without_a_webhook() -> None:
    settings = from_env()
    assert (settings.staffed_hours, settings.timezone, settings.handoff_webhook_url) == ("", "UTC", "")
    assert staffed_hours_from(settings) == StaffedHours.always()


def test_hours_and_zone_come_from_the_environment() -> None:
    settings = from_env(staffed_hours="Mon-Fri 09:00-17:00; Sat 10:00-14:00", timezone="Europe/Berlin")
    assert staffed_hours_from(settings).describe() == "Mon-Fri 09:00-17:00; Sat 10:00-14:00 (Europe/Berlin)"


def test_an_unknown_time_zone_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match=re.escape(
            "SUPPORTBOT_TIMEZONE: unknown time zone 'Europe/Berln' (use an IANA name such as Europe/Berlin or UTC)")):
        from_env(timezone="Europe/Berln")


def test_bad_hours_name_the_variable_with_the_parsers_message() -> None:
    settings = from_env(staffed_hours="Mnn-Fri 09:00-17:00")  # the grammar is the core's: checked there
    with pytest.raises(SettingsError, match=re.escape(
            "SUPPORTBOT_STAFFED_HOURS: unknown day 'Mnn' in 'Mnn-Fri 09:00-17:00' (use Mon..Sun)")):
        staffed_hours_from(settings)


def test_staffed_hours_from_names_the_zone_when_the_zone_is_wrong() -> None:
    settings = Settings().with_changes(staffed_hours="Mon 09:00-17:00", timezone="Mars/Olympus")  # not validated
    with pytest.raises(SettingsError, match="^SUPPORTBOT_TIMEZONE: unknown time zone 'Mars/Olympus'"):
        staffed_hours_from(settings)


def test_a_webhook_with_its_secret_is_accepted_and_the_secret_is_not_shown() -> None:
    settings = from_env(handoff_webhook_url=URL, handoff_webhook_secret=SECRET)
    assert settings.handoff_webhook_url == URL and settings.handoff_webhook_secret == SECRET
    assert SECRET not in repr(settings)
    assert from_env(handoff_webhook_url="http://127.0.0.1:9000/hook", handoff_webhook_secret=SECRET)


@pytest.mark.parametrize("url", ["helpdesk.example.com/hook", "ftp://helpdesk.example.com/hook", "https://",
                                 "https:///path", "https://helpdesk.example.com:99999/hook",
                                 "https://helpdesk.example.com:0/hook", "https://help desk.example.com/hook",
                                 "https://[::1/hook"])
def test_a_webhook_url_must_be_http_with_a_host(url: str) -> None:
    with pytest.raises(SettingsError) as error:
        from_env(handoff_webhook_url=url, handoff_webhook_secret=SECRET)
    assert str(error.value) == ("SUPPORTBOT_HANDOFF_WEBHOOK_URL: expected an http(s) URL with a host, such as "
                                "https://helpdesk.example.com/hooks/supportbot"), "the URL itself is not echoed"


@pytest.mark.parametrize("secret", ["", "x" * 15])
def test_a_webhook_needs_a_secret_of_16_characters(secret: str) -> None:
    with pytest.raises(SettingsError, match="^SUPPORTBOT_HANDOFF_WEBHOOK_SECRET: expected at least 16 characters "
                                            "when SUPPORTBOT_HANDOFF_WEBHOOK_URL is set") as error:
        from_env(handoff_webhook_url=URL, handoff_webhook_secret=secret)
    assert "abc123" not in str(error.value), "the URL's token is not echoed"
    if secret:
        assert secret not in str(error.value)
