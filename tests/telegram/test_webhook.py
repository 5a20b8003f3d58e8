"""Webhook mode: Telegram posts updates to our aiohttp route, guarded by the secret token."""
from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp.test_utils import TestClient

from bot.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes import KeywordModel
from tests.telegram.conftest import SECRET, USER, StartBot
from tests.telegram.fake_api import FakeTelegram


class GatedModel(KeywordModel):
    """Once the test closes the gate (after the start-up checks, which read phrases with the
    model), answers only when it opens again: shows the route does not wait for answers."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def infer(self, texts: list[str]):
        self.gate.wait(timeout=10)
        return super().infer(texts)


async def deliver(client: TestClient, update: dict, secret: str | None = SECRET) -> int:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    response = await client.post(WEBHOOK_PATH, json=update, headers=headers)
    return response.status


async def test_an_update_is_acknowledged_at_once_and_answered_after(start_bot: StartBot, fake: FakeTelegram) -> None:
    model = GatedModel()
    client = await start_bot(model=model, telegram_webhook_secret=SECRET)
    model.gate.clear()
    assert not fake.sent(method="deleteWebhook") and not fake.sent(method="getUpdates"), "webhook mode never polls"
    assert await deliver(client, fake.text_update(USER, "How long does delivery take?")) == 200
    assert fake.sent(USER) == [], "acknowledged before the answer exists"
    model.gate.set()
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"]


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789abc", SECRET[:-1], SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_403_and_ignored(start_bot: StartBot, fake: FakeTelegram,
                                                            secret: str | None) -> None:
    client = await start_bot(telegram_webhook_secret=SECRET)
    assert await deliver(client, fake.text_update(USER, "hello"), secret) == 403
    assert await deliver(client, fake.text_update(USER, "How long does delivery take?")) == 200
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"], "only the update with the right secret was answered"
    assert len(fake.sent(USER)) == 1


async def test_a_repeated_update_is_answered_once(start_bot: StartBot, fake: FakeTelegram) -> None:
    client = await start_bot(telegram_webhook_secret=SECRET)
    update = fake.text_update(USER, "hello")
    assert [await deliver(client, update) for _ in range(3)] == [200, 200, 200]
    await deliver(client, fake.text_update(USER, "How long does delivery take?"))
    await fake.wait_sent(USER, count=2)
    assert len(fake.sent(USER)) == 2


async def test_a_repeat_reaching_another_replica_is_dropped_there(start_bot: StartBot, fake: FakeTelegram) -> None:
    # Two replicas on one database behind a load balancer: Telegram's redelivery may reach either.
    first, second = await start_bot(telegram_webhook_secret=SECRET), await start_bot(telegram_webhook_secret=SECRET)
    update = fake.text_update(USER, "hello")
    answers = [await (await replica.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})).json()
               for replica in (first, second, first)]
    assert answers == [{"ok": True}, {"ok": True, "repeat": True}, {"ok": True, "repeat": True}]
    assert await deliver(second, fake.text_update(USER, "How long does delivery take?")) == 200
    hello, delivery = await fake.wait_sent(USER, count=2)
    assert "3-5 business days" in delivery.params["text"] and len(fake.sent(USER)) == 2


@pytest.mark.parametrize("body,reason", [(b"not json", "not valid JSON"), (b"[1]", "JSON object"),
                                         (b'{"update_id": 7, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
                                          "nested too deeply"),
                                         (b'{"update_id": 7, "text": "caf\xe9"}', "not UTF-8 text"),
                                         (b'{"message": {}}', "update_id"), (b'{"update_id": "7"}', "update_id")])
async def test_a_malformed_body_is_400(start_bot: StartBot, body: bytes, reason: str) -> None:
    client = await start_bot(telegram_webhook_secret=SECRET)
    response = await client.post(WEBHOOK_PATH, data=body, headers={SECRET_HEADER: SECRET,
                                                                    "Content-Type": "application/json"})
    assert response.status == 400 and reason in (await response.json())["error"]


@pytest.mark.parametrize("update,reason", [
    ({"update_id": 7, "message": "hi"}, "message must be an object"),
    ({"update_id": 7, "callback_query": "hi"}, "callback_query must be an object"),
    ({"update_id": 7, "edited_message": ["hi"]}, "edited_message must be an object"),
    ({"update_id": 7, "message": {"message_id": 1, "date": 0, "text": "hi"}}, "message.chat is missing"),
    ({"update_id": 7, "callback_query": {"id": "1", "data": "p:human"}}, "callback_query needs an id and from"),
    ({"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"},
                                  "poll": {"id": "p", "question": "q"}}}, "cannot read it"),
])
async def test_an_update_of_the_wrong_shape_is_400_naming_the_field(start_bot: StartBot, fake: FakeTelegram,
                                                                    update: dict, reason: str) -> None:
    client = await start_bot(telegram_webhook_secret=SECRET)
    response = await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
    assert response.status == 400 and reason in (await response.json())["error"]
    # The same update_id, corrected, is a new delivery: it was not remembered while unreadable.
    assert await deliver(client, {"update_id": 7, "message": fake.message(USER, "How long does delivery take?")}) == 200
    (answer,) = await fake.wait_sent(USER)
    assert "3-5 business days" in answer.params["text"]
    metrics = await (await client.get("/metrics")).text()
    assert 'supportbot_telegram_dropped_updates_total{reason="unreadable"} 1.0' in metrics


@pytest.mark.parametrize("raw", [b"\xff\xfe-not-utf8", "sécret-0123456789abcdef".encode(), SECRET.encode() + b"\x80"])
async def test_a_secret_header_that_is_not_ascii_is_403_before_anything_else(start_bot: StartBot, fake: FakeTelegram,
                                                                             raw: bytes) -> None:
    client = await start_bot(telegram_webhook_secret=SECRET)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    body = b'{"update_id": 1, "message": "read only after the secret"}'
    writer.write(b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + SECRET_HEADER.encode() + b": " + raw + b"\r\nContent-Length: " + str(len(body)).encode()
                 + b"\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    status = (await reader.readline()).split()[1]
    writer.close()
    assert status == b"403"
    assert await deliver(client, fake.text_update(USER, "How long does delivery take?")) == 200, "the server carries on"
