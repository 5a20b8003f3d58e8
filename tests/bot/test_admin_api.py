from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.models.store import activate, current_version
from tests.bot.service import admin_headers, demo_settings
from tests.bot.test_chat_api import say
from tests.bot.toy_bundle import build_toy_bundle
from tests.fakes import KeywordModel

NEW_ENTRY = {"faq_id": "loyalty-points", "question": "How do loyalty points work?",
             "answer": "You earn one point per euro spent.", "alternatives": ["what are reward points"],
             "tags": ["promotions"]}


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-wrong-token"},
                                     {"Authorization": "test-admin-token-0123456789"}])
async def test_missing_or_wrong_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    response = await client.post("/admin/faq", json=NEW_ENTRY, headers=headers)
    assert response.status == 401
    assert (await client.get("/admin/faq/loyalty-points", headers=admin_headers())).status == 404


async def test_admin_api_is_off_without_a_token(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, admin_token="")
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    response = await client.get("/admin/faq", headers={"Authorization": "Bearer "})
    assert response.status == 401 and "SUPPORTBOT_ADMIN_TOKEN" in (await response.json())["error"]


async def test_created_entry_is_answered_right_away(client: TestClient) -> None:
    assert (await say(client, "what are reward points"))["faq_id"] != "loyalty-points"
    response = await client.post("/admin/faq", json=NEW_ENTRY, headers=admin_headers())
    assert response.status == 201
    created = await response.json()
    assert created["revision"] == 1 and created["updated_by"] == "admin-api (as tester)"
    reply = await say(client, "what are reward points")
    assert reply["faq_id"] == "loyalty-points" and reply["reply"] == NEW_ENTRY["answer"]


async def test_edit_conflict_invalid_and_unknown(client: TestClient) -> None:
    await client.post("/admin/faq", json=NEW_ENTRY, headers=admin_headers())
    url = "/admin/faq/loyalty-points"
    ok = await client.put(url, json={"base_revision": 1, "answer": "Two points per euro."}, headers=admin_headers())
    assert ok.status == 200 and (await ok.json())["revision"] == 2
    stale = await client.put(url, json={"base_revision": 1, "answer": "Stale."}, headers=admin_headers())
    assert stale.status == 409 and (await stale.json())["current_revision"] == 2
    invalid = await client.put(url, json={"base_revision": 2, "answer": ""}, headers=admin_headers())
    assert invalid.status == 400 and (await invalid.json())["problems"][0]["field"] == "answer"
    unknown_field = await client.put(url, json={"base_revision": 2, "colour": "red"}, headers=admin_headers())
    assert unknown_field.status == 400
    missing = await client.put("/admin/faq/nope", json={"base_revision": 1, "answer": "x"}, headers=admin_headers())
    assert missing.status == 404
    assert (await say(client, "what are reward points"))["reply"] == "Two points per euro."


async def test_remove_history_revert_restore(client: TestClient) -> None:
    await client.post("/admin/faq", json=NEW_ENTRY, headers=admin_headers())
    url = "/admin/faq/loyalty-points"
    assert (await client.delete(url, headers=admin_headers())).status == 200
    assert (await say(client, "what are reward points"))["faq_id"] != "loyalty-points"
    history = await (await client.get(url + "/history", headers=admin_headers())).json()
    assert [h["action"] for h in history] == ["create", "remove"]
    restored = await client.post(url + "/restore", headers=admin_headers())
    assert restored.status == 200
    assert (await say(client, "what are reward points"))["faq_id"] == "loyalty-points"
    await client.put(url, json={"base_revision": 3, "answer": "Changed."}, headers=admin_headers())
    reverted = await client.post(url + "/revert", json={"revision": 1}, headers=admin_headers())
    assert (await reverted.json())["answer"] == NEW_ENTRY["answer"]


async def test_bundle_reload_swaps_and_keeps_the_old_one_on_failure(
    tmp_path: Path, aiohttp_client
) -> None:
    settings = demo_settings(tmp_path)
    build_toy_bundle(settings.bundles_dir, "v1", seed=0)
    build_toy_bundle(settings.bundles_dir, "v2", seed=1)
    broken = build_toy_bundle(settings.bundles_dir, "v3", seed=2)
    activate(settings.bundles_dir, "v1")
    (broken / "encoder" / "model.onnx").write_bytes(b"tampered")
    client = await aiohttp_client(create_app(settings))
    assert (await (await client.get("/healthz")).json())["bundle_version"] == "v1"
    swapped = await client.post("/admin/reload", json={"version": "v2"}, headers=admin_headers())
    assert swapped.status == 200 and await swapped.json() == {"previous": "v1", "serving": "v2"}
    assert current_version(settings.bundles_dir) == "v2"
    failed = await client.post("/admin/reload", json={"version": "v3"}, headers=admin_headers())
    assert failed.status == 422 and (await failed.json())["serving"] == "v2"
    assert current_version(settings.bundles_dir) == "v2"
    assert (await say(client, "hello"))["bundle_version"] == "v2"
    bad_name = await client.post("/admin/reload", json={"version": "../v1"}, headers=admin_headers())
    assert bad_name.status == 422


async def test_swaps_under_concurrent_traffic_drop_nothing(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path)
    build_toy_bundle(settings.bundles_dir, "v1", seed=0)
    build_toy_bundle(settings.bundles_dir, "v2", seed=1)
    activate(settings.bundles_dir, "v1")
    client = await aiohttp_client(create_app(settings))
    questions = ["How long does delivery take?", "hello", "where is my order", "refund money back"]
    statuses: list[int] = []

    async def user(number: int) -> None:
        for i in range(15):
            response = await client.post("/api/chat", json={"session_id": f"load-user-{number:03d}",
                                                            "text": questions[(number + i) % 4]})
            statuses.append(response.status)
            await response.read()

    async def staff() -> None:
        await client.post("/admin/faq", json=NEW_ENTRY, headers=admin_headers())
        for revision in range(1, 10):
            response = await client.put("/admin/faq/loyalty-points", headers=admin_headers(),
                                        json={"base_revision": revision, "answer": f"Version {revision}."})
            assert response.status == 200
        reload = await client.post("/admin/reload", json={"version": "v2"}, headers=admin_headers())
        assert reload.status == 200

    await asyncio.gather(staff(), *(user(n) for n in range(8)))
    assert statuses == [200] * 120
    # The toy bundle's encoder knows none of these words, so check what is served, not ranking.
    health = await (await client.get("/healthz")).json()
    assert health["bundle_version"] == "v2" and health["faq_revision"] == 52 + 10
    entry = await (await client.get("/admin/faq/loyalty-points", headers=admin_headers())).json()
    assert entry["answer"] == "Version 9."


@pytest.mark.parametrize(("author", "recorded"), [(None, "admin-api"), ("ana", "admin-api (as ana)"),
                                                  ("deploy-bot@ci", "admin-api (as deploy-bot@ci)")])
async def test_changes_are_attributed_to_the_token_not_to_a_name_the_caller_picks(
        client: TestClient, author: str | None, recorded: str) -> None:
    headers = {"Authorization": admin_headers()["Authorization"], **({"X-Supportbot-Author": author} if author else {})}
    created = await client.post("/admin/faq", json=NEW_ENTRY, headers=headers)
    assert created.status == 201, await created.text()
    history = await (await client.get("/admin/faq/loyalty-points/history", headers=headers)).json()
    assert [rev["author"] for rev in history] == [recorded]


@pytest.mark.parametrize("author", ["", "ana\u202e", "a" * 65, "ana (as the boss)"])
async def test_an_author_claim_that_is_not_a_plain_name_is_refused(client: TestClient, author: str) -> None:
    headers = {**admin_headers(), "X-Supportbot-Author": author}
    response = await client.post("/admin/faq", json=NEW_ENTRY, headers=headers)
    assert response.status == 400 and "X-Supportbot-Author" in (await response.json())["error"]
    assert (await client.get("/admin/faq/loyalty-points", headers=admin_headers())).status == 404
