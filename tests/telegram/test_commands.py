"""``supportbot telegram set-webhook`` / ``delete-webhook`` against the fake Bot API."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from tests.telegram.conftest import SECRET
from tests.telegram.fake_api import TOKEN, FakeTelegram

URL = "https://bot.example.com/telegram/webhook"


@pytest.fixture()
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeTelegram) -> pytest.MonkeyPatch:
    for name, value in {"TOKEN": TOKEN, "API_URL": fake.url, "WEBHOOK_SECRET": SECRET}.items():
        monkeypatch.setenv(f"SUPPORTBOT_TELEGRAM_{name}", value)
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, ["telegram", *argv])  # the command runs its own event loop


async def test_set_and_delete_the_webhook(environment: pytest.MonkeyPatch, fake: FakeTelegram,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert await run("set-webhook", URL) == 0
    (call,) = fake.sent(method="setWebhook")
    assert call.params["url"] == URL and call.params["secret_token"] == SECRET
    assert call.params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert await run("delete-webhook") == 0
    assert fake.webhook_url == ""
    out = capsys.readouterr().out
    assert f"webhook set: {URL}" in out and "webhook deleted" in out
    assert TOKEN not in out and SECRET not in out


@pytest.mark.parametrize("argv,unset,message", [
    (("set-webhook", "http://bot.example.com/telegram/webhook"), None, "only calls https://"),
    (("set-webhook", "https://bot.example.com/hook"), None, "ending in it"),
    (("set-webhook", URL), "WEBHOOK_SECRET", "set SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET first"),
    (("delete-webhook",), "TOKEN", "SUPPORTBOT_TELEGRAM_TOKEN: not set"),
])
async def test_mistakes_are_one_clear_line(environment: pytest.MonkeyPatch, fake: FakeTelegram,
                                           argv: tuple[str, ...], unset: str | None, message: str) -> None:
    if unset:
        environment.delenv(f"SUPPORTBOT_TELEGRAM_{unset}")
    with pytest.raises(SystemExit, match=message) as raised:
        await run(*argv)
    assert str(raised.value).startswith(f"supportbot telegram {argv[0]}: error:")
    assert fake.sent(method="setWebhook") == []


async def test_a_rejected_token_is_reported_without_the_token(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SUPPORTBOT_TELEGRAM_TOKEN", "999:WRONG-token-abcdefghijklmnopqrstu")
    with pytest.raises(SystemExit, match="rejected SUPPORTBOT_TELEGRAM_TOKEN") as raised:
        await run("set-webhook", URL)
    assert "WRONG" not in str(raised.value)
