from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.settings import Settings
from tests.bot.service import demo_settings
from tests.console.helpers import add_staff, sign_in
from tests.fakes import KeywordModel


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Demo FAQ in a fresh database, with the staff account ``ana``."""
    settings = demo_settings(tmp_path)
    add_staff(settings)
    return settings


@pytest.fixture()
async def client(settings: Settings, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


@pytest.fixture()
async def csrf(client: TestClient) -> str:
    """Sign ``client`` in as ana; the session's CSRF token."""
    return await sign_in(client)
