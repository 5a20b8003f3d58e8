"""Floods on the web chat: a limit per client address (behind trusted proxies only), a limit on
messages in flight, refusals counted and never stored; the chat page's security headers."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.models.bundle import Inference
from bot.settings import Settings, SettingsError
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel


def _turns(settings: Settings) -> int:
    with sqlite3.connect(settings.data_dir / "supportbot.db") as db:
        return int(db.execute("select count(*) from turns").fetchone()[0])


async def _client(aiohttp_client, settings: Settings, model: KeywordModel | None = None) -> TestClient:
    model = model or KeywordModel()
    return await aiohttp_client(create_app(settings, model_loader=lambda s: model))


async def _say(client: TestClient, session: str, headers: dict[str, str] | None = None) -> int:
    response = await client.post("/api/chat", json={"session_id": session, "text": "How long does delivery take?"},
                                 headers=headers or {})
    await response.read()
    return response.status


async def _refused(client: TestClient, reason: str) -> float:
    text = await (await client.get("/metrics")).text()
    line = next((x for x in text.splitlines() if x.startswith(f'supportbot_refused_total{{reason="{reason}"}}')), None)
    return float(line.split()[-1]) if line else 0.0


async def test_fresh_session_ids_from_one_address_are_limited_and_not_stored(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, address_rate_per_minute=5)
    client = await _client(aiohttp_client, settings)
    statuses = [await _say(client, f"flood-{n:06d}") for n in range(20)]
    assert statuses == [200] * 5 + [429] * 15
    response = await client.post("/api/chat", json={"session_id": "flood-999999", "text": "hi"})
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert "address" in (await response.json())["error"]
    assert _turns(settings) == 5  # the refused 16 are counted, not stored
    assert await _refused(client, "address") == 16


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, address_rate_per_minute=3, trusted_proxies="127.0.0.0/8")
    client = await _client(aiohttp_client, settings)
    flood = {"X-Forwarded-For": "203.0.113.9"}
    assert [await _say(client, f"flood-{n:06d}", flood) for n in range(6)] == [200] * 3 + [429] * 3
    # a client cannot escape by writing addresses of its own to the left: the proxy's hop is used
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    assert await _say(client, "flood-spoofed", spoofed) == 429
    assert await _say(client, "customer-0001", {"X-Forwarded-For": "198.51.100.4"}) == 200
    assert await _say(client, "customer-0002", {"X-Forwarded-For": "2001:db8:1:2::5"}) == 200
    assert _turns(settings) == 5


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, address_rate_per_minute=3)  # no trusted proxies
    client = await _client(aiohttp_client, settings)
    statuses = [await _say(client, f"flood-{n:06d}", {"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(6)]
    assert statuses == [200] * 3 + [429] * 3


class GatedModel(KeywordModel):
    """Once the test clears ``release`` (after the start-up checks, which read phrases with the
    model), answers only when it is set again: messages stay in flight as long as a test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.release.set()

    def infer(self, texts: list[str]) -> Inference:
        self.release.wait(timeout=10)
        return super().infer(texts)


async def test_beyond_the_in_flight_limit_messages_are_shed_with_503(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, max_in_flight=2, trusted_proxies="127.0.0.1")
    model = GatedModel()
    client = await _client(aiohttp_client, settings, model)
    model.release.clear()
    waiting = [asyncio.create_task(_say(client, f"customer-{n:04d}", {"X-Forwarded-For": f"198.51.100.{n}"}))
               for n in range(2)]
    await asyncio.sleep(0.3)  # both are in the inference queue now
    shed = await client.post("/api/chat", json={"session_id": "customer-0009", "text": "hello"},
                             headers={"X-Forwarded-For": "198.51.100.9"})
    assert shed.status == 503 and shed.headers["Retry-After"] == "1"
    model.release.set()
    assert await asyncio.gather(*waiting) == [200, 200]
    assert await _say(client, "customer-0009", {"X-Forwarded-For": "198.51.100.9"}) == 200  # room again
    assert _turns(settings) == 3 and await _refused(client, "overload") == 1


async def test_the_chat_page_may_not_be_framed_or_run_foreign_scripts(tmp_path: Path, aiohttp_client) -> None:
    client = await _client(aiohttp_client, demo_settings(tmp_path))
    for path in ("/", "/static/chat.js"):
        response = await client.get(path)
        assert response.status == 200
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    console = await client.get("/console/signin")  # the console keeps its own policy
    assert "connect-src" not in console.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("variable", "value"), [("SUPPORTBOT_TRUSTED_PROXIES", "10.0.0.1, not-an-address"),
                                                  ("SUPPORTBOT_TRUST_FORWARDED_PROTO", "maybe"),
                                                  ("SUPPORTBOT_TRUST_FORWARDED_PROTO", "true"),
                                                  ("SUPPORTBOT_ADDRESS_RATE_PER_MINUTE", "0"),
                                                  ("SUPPORTBOT_MAX_IN_FLIGHT", "0")])
def test_bad_flood_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_flood_settings_are_read() -> None:
    settings = Settings.from_env({"SUPPORTBOT_TRUSTED_PROXIES": "10.0.0.1, fd00::/8",
                                  "SUPPORTBOT_TRUST_FORWARDED_PROTO": "yes", "SUPPORTBOT_MAX_IN_FLIGHT": "8"})
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.1/32", "fd00::/8"]
    assert settings.trust_forwarded_proto is True and settings.max_in_flight == 8
