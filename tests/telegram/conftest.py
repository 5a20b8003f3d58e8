"""Fixtures for the Telegram channel: a fake Bot API server and the bot app pointed at it."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.channels.telegram.channel import LIMITS
from bot.channels.telegram.ratelimit import Limits
from bot.core.brain import Model
from bot.settings import Settings
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel
from tests.telegram.fake_api import TOKEN, FakeTelegram

SECRET = "test-webhook-secret-0123456789"
STAFF_CHAT = -1009001
USER = 5001
# Telegram's real limits make a test that sends five messages to one group take 10 s; the
# limits themselves are tested in test_ratelimit.py.
FAST = Limits(per_chat=100.0, per_group=100.0, overall=1000.0, burst=20)

StartBot = Callable[..., Awaitable[TestClient]]


@pytest.fixture()
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


def telegram_settings(tmp_path: Path, fake: FakeTelegram, **changes: object) -> Settings:
    """Demo settings with the Telegram channel on, in polling mode unless a secret is given."""
    values: dict[str, object] = {"telegram_token": TOKEN, "telegram_api_url": fake.url, **changes}
    if not (tmp_path / "data" / "supportbot.db").exists():
        return demo_settings(tmp_path, **values)
    return Settings(data_dir=tmp_path / "data", max_wait_ms=1.0, review_sample_rate=0.0).with_changes(**values)  # a restart


@pytest.fixture()
def start_bot(tmp_path: Path, fake: FakeTelegram, aiohttp_client) -> StartBot:
    """``await start_bot(**settings)``: the bot app, started, talking to the fake server."""

    async def start(limits: Limits = FAST, model: Model | None = None, **changes: object) -> TestClient:
        settings = telegram_settings(tmp_path, fake, **changes)
        app = create_app(settings, model_loader=lambda s: model or KeywordModel())
        app[LIMITS] = limits
        return await aiohttp_client(app)

    return start
