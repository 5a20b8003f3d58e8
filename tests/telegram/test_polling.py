"""Polling mode: the real PTB updater against the fake Bot API, through the whole bot."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import SettingsError
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.fakes import KeywordModel
from tests.telegram.conftest import USER, StartBot, telegram_settings
from tests.telegram.fake_api import TOKEN, FakeTelegram


async def test_a_question_is_answered_by_polling(start_bot: StartBot, fake: FakeTelegram, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = await start_bot()
    assert fake.sent(method="deleteWebhook"), "polling starts by removing any webhook"
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"] and answer.params["parse_mode"] == "HTML"
    keyboard = answer.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in keyboard[-1]] == ["👍 Helpful", "👎 Not helpful"]
    methods = [c.method for c in fake.calls if c.params.get("chat_id") == USER]
    assert methods.index("sendChatAction") < methods.index("sendMessage"), "typing shows before the answer"
    (turn,) = ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}")).turns(f"tg:{USER}")
    assert turn.record.channel == "telegram" and turn.record.faq_id == "shipping-times"
    assert (await client.post("/telegram/webhook", json={})).status == 404, "no webhook route when polling"
    await client.close()
    ours = [r.getMessage() for r in caplog.records if r.name != "aiohttp.access"]  # the fake's own log
    assert ours and not [line for line in ours if TOKEN in line], "the token never reaches the logs"


async def test_a_rejected_token_stops_the_start_with_a_clear_error(tmp_path: Path, fake: FakeTelegram) -> None:
    settings = telegram_settings(tmp_path, fake, telegram_token="999:WRONG-token-abcdefghijklmnopqrstu")
    client = TestClient(TestServer(create_app(settings, model_loader=lambda s: KeywordModel())))
    try:
        with pytest.raises(SettingsError, match="TELEGRAM_TOKEN: Telegram rejected") as raised:
            await client.start_server()
    finally:
        await client.close()
    assert "WRONG" not in str(raised.value) and raised.value.__suppress_context__


@pytest.mark.parametrize("changes,variable", [
    ({"telegram_token": "not-a-token"}, "TELEGRAM_TOKEN"),
    ({"telegram_webhook_secret": "short"}, "TELEGRAM_WEBHOOK_SECRET"),
    ({"telegram_staff_chat": "@staff"}, "TELEGRAM_STAFF_CHAT"),
])
def test_bad_telegram_settings_name_the_variable(tmp_path: Path, fake: FakeTelegram,
                                                 changes: dict[str, str], variable: str) -> None:
    settings = telegram_settings(tmp_path, fake, **changes)
    with pytest.raises(SettingsError, match=f"SUPPORTBOT_{variable}"):
        create_app(settings, model_loader=lambda s: KeywordModel())
