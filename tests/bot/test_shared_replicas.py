"""Two replicas of the bot on one database, in one test process: whatever one learns about a
conversation or a client, the other knows at the next message. On SQLite and PostgreSQL.

Each replica is a full ``create_app`` with its own data directory (its own FAQ index) and only
the database in common, as two processes behind a load balancer would be.
"""
from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.models.store import activate
from bot.settings import Settings
from knowledge.database import Database
from knowledge.faq.formats import read_faq_file
from knowledge.faq.store import FaqStore
from tests.bot.service import ADMIN_TOKEN, DEMO_FAQ, admin_headers
from tests.bot.toy_bundle import build_toy_bundle
from tests.fakes import KeywordModel

SIGNIN_TOKEN = re.compile(r'name="signin_token" value="([^"]+)"')


@pytest.fixture()
async def replicas(database_url: str, tmp_path: Path, aiohttp_client) -> tuple[TestClient, TestClient]:
    return await _replicas(database_url, tmp_path, aiohttp_client)


async def _replicas(database_url: str, tmp_path: Path, aiohttp_client, **changes: object) -> tuple[TestClient, TestClient]:
    with Database.open(database_url) as database:
        FaqStore(database).import_entries(read_faq_file(DEMO_FAQ).entries, "test")
    clients = []
    for name in ("a", "b"):
        settings = Settings(data_dir=tmp_path / name, db=database_url, admin_token=ADMIN_TOKEN, max_wait_ms=1.0,
                            review_sample_rate=0.0, rate_limit_per_minute=5, address_rate_per_minute=8
                            ).with_changes(**changes)
        clients.append(await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel())))
    return clients[0], clients[1]


async def _say(client: TestClient, session: str, text: str | None = None, **extra: object) -> dict:
    body = {"session_id": session, **({"text": text} if text is not None else {}), **extra}
    response = await client.post("/api/chat", json=body)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_conversation_continues_on_the_other_replica(replicas: tuple[TestClient, TestClient]) -> None:
    a, b = replicas
    asked = await _say(a, "shared-0001", "what is my order status")
    assert asked["action"] == "handler" and "order number" in asked["reply"]
    answered = await _say(b, "shared-0001", "it's NW-100002")  # b answers a's pending question
    assert "NW-100002 is shipped" in answered["reply"]
    for client in (a, b, a):  # the fallback streak counts across replicas: the third calls a person
        reply = await _say(client, "shared-0002", "what's the weather like in Lisbon tomorrow")
    assert reply["handoff"] is True and reply["action"] == "handoff"


async def test_rate_limits_count_on_every_replica_together(replicas: tuple[TestClient, TestClient]) -> None:
    a, b = replicas
    actions = [(await _say(client, "shared-0003", "hello"))["action"] for client in (a, b) * 3]
    assert actions == ["handler"] * 5 + ["rejected"]  # 5 a minute for the conversation, wherever it writes
    statuses = []
    for n, client in enumerate((a, b) * 3):  # 8 a minute per address: 6 messages above were the first
        response = await client.post("/api/chat", json={"session_id": f"fresh-{n:04d}", "text": "hi"})
        statuses.append(response.status)
    assert statuses == [200, 200, 429, 429, 429, 429]


async def test_a_sign_in_form_from_one_replica_works_once_on_the_other(replicas: tuple[TestClient, TestClient]) -> None:
    a, b = replicas
    page = await a.get("/console/signin")
    token = SIGNIN_TOKEN.search(await page.text())
    assert token is not None
    cookie = {"Cookie": f"supportbot_console_signin={page.cookies['supportbot_console_signin'].value}"}
    form = {"signin_token": token.group(1), "name": "nobody", "password": "wrong"}
    first = await b.post("/console/signin", data=form, headers=cookie, allow_redirects=False)
    again = await a.post("/console/signin", data=form, headers=cookie, allow_redirects=False)
    assert first.status == 401 and again.status == 403  # checked (wrong password) once, then used up


async def _answer_within(client: TestClient, question: str, faq_id: str, seconds: float) -> float:
    """Ask until the answer is ``faq_id``; how long that took (fails after ``seconds``)."""
    started = loop_time = asyncio.get_running_loop().time()
    n = 0
    while loop_time - started < seconds:
        n += 1
        reply = await _say(client, f"poll-{n:06d}", question)
        if reply["faq_id"] == faq_id:
            return loop_time - started
        await asyncio.sleep(0.05)
        loop_time = asyncio.get_running_loop().time()
    raise AssertionError(f"{faq_id} was not answered within {seconds} s")


async def test_an_faq_edit_through_one_replica_is_answered_by_the_other_within_2_s(
        database_url: str, tmp_path: Path, aiohttp_client) -> None:
    a, b = await _replicas(database_url, tmp_path, aiohttp_client, address_rate_per_minute=100_000)
    question = "Do you sell gift vouchers for birthdays?"
    assert (await _say(b, "voucher-0001", question))["faq_id"] != "gift-vouchers"
    added = await a.post("/admin/faq", headers=admin_headers(), json={
        "faq_id": "gift-vouchers", "question": question, "answer": "Yes: gift vouchers from 10 to 200 euros."})
    assert added.status == 201, await added.text()
    assert (await _say(a, "voucher-0002", question))["faq_id"] == "gift-vouchers"  # a: at once
    assert await _answer_within(b, question, "gift-vouchers", 2.0) < 2.0
    health = await (await b.get("/healthz")).json()
    assert health["faq_revision"] == (await (await a.get("/healthz")).json())["faq_revision"]


async def test_a_replica_swaps_to_an_activated_bundle_only_once_it_verifies(tmp_path: Path, aiohttp_client) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, max_wait_ms=1.0, review_sample_rate=0.0)
    build_toy_bundle(settings.bundles_dir, "v1")
    activate(settings.bundles_dir, "v1")
    client = await aiohttp_client(create_app(settings))
    broken = build_toy_bundle(settings.bundles_dir, "v2", seed=2)
    (broken / "encoder" / "model.onnx").write_bytes(b"not the file the manifest's checksum names")
    pointer = settings.bundles_dir / ".current.test"
    os.symlink("v2", pointer)
    os.replace(pointer, settings.bundles_dir / "current")  # moved by hand: `bundles activate` would refuse it
    await asyncio.sleep(1.5)
    assert (await (await client.get("/healthz")).json())["bundle_version"] == "v1"
    build_toy_bundle(settings.bundles_dir, "v3", seed=3)
    activate(settings.bundles_dir, "v3")
    for _ in range(40):
        if (await (await client.get("/healthz")).json())["bundle_version"] == "v3":
            break
        await asyncio.sleep(0.05)
    assert (await (await client.get("/healthz")).json())["bundle_version"] == "v3"
