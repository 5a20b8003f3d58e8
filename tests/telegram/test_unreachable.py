"""Telegram being unreachable at start-up must not take the web chat down with it."""
from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from bot.app import create_app
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel
from tests.telegram.fake_api import TOKEN


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


async def test_web_chat_serves_while_telegram_is_unreachable(tmp_path: Path, aiohttp_client,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = demo_settings(tmp_path, telegram_token=TOKEN,
                             telegram_api_url=f"http://127.0.0.1:{closed_port()}")
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram.channel"):
        client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    assert any("cannot reach Telegram" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    response = await client.post("/api/chat", json={"session_id": "web-user-0001", "text": "hello"})
    assert response.status == 200 and (await response.json())["action"] == "handler"
