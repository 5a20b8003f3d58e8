"""Hostile input at the web chat, the admin API and the bundle commands, one exact request each.

Each case sends what an attacker sent (issue 14) through the real app and checks the status,
the reason, and that nothing else was lost or wrongly stored.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.batcher import Batcher
from bot.core.text import normalise_text
from bot.models.manifest import digest_tree, read_manifest, write_manifest
from bot.models.store import activate, check_version_name, current_version
from bot.settings import Settings
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from tests.bot.service import admin_headers, demo_settings
from tests.bot.toy_bundle import build_toy_bundle
from tests.fakes import KeywordModel
from tests.raw_http import raw_request

POISON = '{"session_id": "abcdefgh", "text": "\\ud800"}'  # a lone surrogate, as JSON escapes it
HUGE = "9" * 4301


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    # Every request here comes from 127.0.0.1: the per-address flood limit is tested in test_floods.py.
    return demo_settings(tmp_path, address_rate_per_minute=1_000_000, max_in_flight=1_000)


@pytest.fixture()
async def client(settings: Settings, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


def stored_turns(settings: Settings) -> dict[int, TurnRecord]:
    database = Database.open(settings.database_url)
    try:
        return {turn.id: turn.record for turn in ConversationLog(database).turns(limit=100_000)}
    finally:
        database.close()


async def post_raw(client: TestClient, path: str, body: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    response = await client.post(path, data=body.encode(), headers={"Content-Type": "application/json",
                                                                     **(headers or {})})
    return response.status, await response.json()


# -- 1: one bad message never costs another customer's turn ------------------------------------


async def test_poison_message_among_normal_traffic_loses_no_turn(client: TestClient, settings: Settings) -> None:
    async def normal(number: int) -> tuple[str, dict]:
        session = f"normal-{number:04d}"
        status, reply = await post_raw(client, "/api/chat", json.dumps({"session_id": session,
                                                                        "text": f"hello number {number}"}))
        assert status == 200, reply
        return session, reply

    async def poison() -> tuple[int, dict]:
        return await post_raw(client, "/api/chat", POISON)

    tasks = [normal(n) for n in range(60)] + [poison() for _ in range(5)]
    results = await asyncio.gather(*tasks)
    for status, reply in results[60:]:
        assert status == 200 and reply["action"] == "rejected"
    stored = stored_turns(settings)
    for session, reply in results[:60]:
        assert stored[reply["turn_id"]].session_id == f"web:{session}"
    # The poison's turns are stored too, with normalised (here: empty) text only.
    assert [r.text for r in stored.values() if r.session_id == "web:abcdefgh"] == [""] * 5


@pytest.mark.parametrize("body", [
    '{"session_id": "abcdefgh", "text": "' + "x" * 20_000 + '\\ud800"}',
])
async def test_bad_text_on_every_refusal_path_is_stored_normalised(client: TestClient, settings: Settings,
                                                                   body: str) -> None:
    status, reply = await post_raw(client, "/api/chat", body)
    assert status == 200, reply
    (record,) = stored_turns(settings).values()
    assert record.text.isprintable() and "\ud800" not in record.text and len(record.text) <= 200


@pytest.mark.parametrize("body", [
    '{"session_id": "abcdefgh", "text": "hi \\ud800", "choice": "\\udfff"}',
    '{"session_id": "abcdefgh", "choice": "\\udfff"}',
])
async def test_a_bad_choice_is_refused_before_anything_is_stored(
        client: TestClient, settings: Settings, body: str) -> None:
    status, reply = await post_raw(client, "/api/chat", body)
    assert status == 400 and "choice" in reply["error"], reply
    assert stored_turns(settings) == {}


async def test_bad_text_beside_a_good_choice_is_not_stored(client: TestClient, settings: Settings) -> None:
    status, reply = await post_raw(client, "/api/chat", '{"session_id": "abcdefgh", "text": "hi \\ud800", '
                                                        '"choice": "human"}')
    assert status == 200 and reply["action"] == "handoff", reply
    assert [r.text for r in stored_turns(settings).values()] == ["Talk to a person"]


async def test_rate_limited_bad_text_is_stored_normalised(settings: Settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(settings.with_changes(rate_limit_per_minute=1),
                                             model_loader=lambda s: KeywordModel()))
    for _ in range(2):
        status, reply = await post_raw(client, "/api/chat", '{"session_id": "abcdefgh", "text": "a\\ud800b\\u200b"}')
        assert status == 200, reply
    assert reply["action"] == "rejected"
    assert [r.text for r in stored_turns(settings).values()] == ["ab", "ab"]


async def test_a_write_batch_fails_only_the_caller_of_the_bad_record(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'log.db'}")
    log = ConversationLog(database)
    sizes: list[int] = []

    def record(records: list[TurnRecord]) -> list[int]:
        sizes.append(len(records))
        return log.record(records)

    batcher: Batcher[TurnRecord, int] = Batcher(record, max_batch=64, max_wait_ms=5, name="turn-log")
    await batcher.start()
    good = [TurnRecord(f"web:s{n}", "web", f"text {n}", "answer", "reply", 1.0) for n in range(20)]
    bad = [dataclasses.replace(good[0], text="\ud800"), dataclasses.replace(good[0], action="bogus")]
    results = await asyncio.gather(*[batcher.submit(r) for r in [*good[:10], *bad, *good[10:]]],
                                   return_exceptions=True)
    await batcher.close()
    assert sizes[0] == len(results)  # they did share a batch
    assert all(isinstance(r, Exception) for r in results[10:12])
    ids = [r for r in results[:10] + results[12:] if isinstance(r, int)]
    assert len(ids) == 20
    assert sorted(t.record.text for t in log.turns()) == sorted(r.text for r in good)
    database.close()


# -- 2, 3: malformed input is a 400 naming the field, never a 500 --------------------------------


@pytest.mark.parametrize(("path", "body"), [
    ("/api/chat", '{"session_id": "abcdefgh", "text": "hi", "n": ' + HUGE + "}"),
    ("/api/feedback", '{"session_id": "abcdefgh", "turn_id": ' + HUGE + ', "value": "up"}'),
    ("/admin/faq", '{"faq_id": "x", "question": "q", "answer": "a", "n": ' + HUGE + "}"),
])
async def test_a_huge_json_integer_is_a_400(client: TestClient, path: str, body: str) -> None:
    status, reply = await post_raw(client, path, body, admin_headers())
    assert status == 400 and "JSON" in reply["error"]


# About 60 KB of brackets, under the 64 KB body limit: deeper than Python's parser recurses.
DEEP = '{"session_id": "sess-walk-0002", "x": ' + "[" * 30_000 + "]" * 30_000 + "}"


@pytest.mark.parametrize("path", ["/api/chat", "/api/feedback", "/admin/faq"])
async def test_deeply_nested_json_is_a_400_not_a_crash(client: TestClient, settings: Settings, path: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    status, reply = await post_raw(client, path, DEEP, admin_headers())
    assert status == 400 and reply["error"] == "the body's JSON is nested too deeply", reply
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert stored_turns(settings) == {}


async def test_a_body_in_an_unknown_charset_is_a_400(client: TestClient, settings: Settings) -> None:
    for path in ("/api/chat", "/admin/faq"):
        response = await client.post(path, data=b'{"session_id": "abcdefgh", "text": "hi"}',
                                     headers={"Content-Type": "application/json; charset=klingon", **admin_headers()})
        assert response.status == 400, path
        assert (await response.json())["error"] == "the body's charset 'klingon' is unknown (send UTF-8)"
    # a codec that exists but decodes nothing: it raises a bare UnicodeError
    response = await client.post("/api/chat", data=b'{"session_id": "abcdefgh", "text": "hi"}',
                                 headers={"Content-Type": "application/json; charset=undefined"})
    assert response.status == 400
    assert (await response.json())["error"] == "the body's charset 'undefined' cannot be used (send UTF-8)"
    assert stored_turns(settings) == {}


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"{bad", "application/json", "the body is not valid JSON: Expecting property name"),
    (b'{"session_id": "abcdefgh", "text": "hi"', "application/json", "the body is not valid JSON: Expecting"),
    (b"", "application/json", "the body is not valid JSON: Expecting value"),
    (b'{"session_id": "abcdefgh", "text": "caf\xe9"}', "application/json", "the body is not UTF-8 text"),
    (b'{"text": "\xff"}', "application/json; charset=utf-16", "the body is not utf-16 text"),
    (b"[1, 2]", "application/json", "the body must be a JSON object"),
    (b'"hello"', "application/json", "the body must be a JSON object"),
])
async def test_a_body_that_is_not_a_json_object_is_a_400_that_says_what_is_wrong(
        client: TestClient, settings: Settings, body: bytes, content_type: str, reason: str) -> None:
    for path in ("/api/chat", "/admin/faq"):
        response = await client.post(path, data=body, headers={"Content-Type": content_type, **admin_headers()})
        assert response.status == 400 and (await response.json())["error"].startswith(reason), path
    assert stored_turns(settings) == {}


@pytest.mark.parametrize("turn_id", [2**63, 2**64, -(2**63) - 1])
async def test_feedback_turn_id_beyond_the_database_range_is_a_400(client: TestClient, turn_id: int) -> None:
    status, reply = await post_raw(client, "/api/feedback", json.dumps(
        {"session_id": "abcdefgh", "turn_id": turn_id, "value": "up"}))
    assert status == 400 and "turn_id" in reply["error"]


async def test_admin_revision_numbers_beyond_the_database_range_are_a_400(client: TestClient) -> None:
    edit = await client.put("/admin/faq/shipping-times", json={"base_revision": 2**63, "answer": "x"},
                            headers=admin_headers())
    assert edit.status == 400 and "base_revision" in (await edit.json())["error"]
    edit = await client.put("/admin/faq/shipping-times", json={"base_revision": 2**63 - 1, "answer": "x"},
                            headers=admin_headers())
    assert edit.status in (400, 409)
    revert = await client.post("/admin/faq/shipping-times/revert", json={"revision": 2**70}, headers=admin_headers())
    assert revert.status == 400 and "revision" in (await revert.json())["error"]
    for raw in ("%C2%B2", "1" * 30, "-1"):  # "²" passes str.isdigit() but not int()
        remove = await client.delete(f"/admin/faq/shipping-times?base_revision={raw}", headers=admin_headers())
        assert remove.status == 400 and "base_revision" in (await remove.json())["error"]
    assert (await client.get("/admin/faq/shipping-times", headers=admin_headers())).status == 200


@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"\xc3\x28", "Bearer é".encode(), b"Bearer \x80" * 50])
async def test_non_ascii_bytes_in_the_authorization_header_are_a_401(client: TestClient, value: bytes) -> None:
    assert client.port is not None
    status, _ = await raw_request(client.port, b"GET", b"/admin/faq", [(b"Authorization", value)])
    assert status == 401


@pytest.mark.parametrize(("field", "value"), [
    ("question", None), ("question", ["x"]), ("answer", 7), ("alternatives", "abc"), ("alternatives", [1, 2]),
    ("tags", {"a": 1}), ("tags", "ab"), ("enabled", "no"), ("enabled", 1), ("language", 7), ("faq_id", 12),
])
async def test_admin_fields_of_the_wrong_type_are_refused_by_name(client: TestClient, field: str,
                                                                  value: object) -> None:
    before = await (await client.get("/admin/faq", headers=admin_headers())).json()
    created = await client.post("/admin/faq", json={"faq_id": "new-entry", "question": "Is this new?",
                                                    "answer": "Yes.", field: value}, headers=admin_headers())
    assert created.status == 400 and field in (await created.json())["error"]
    if field != "faq_id":
        edited = await client.put("/admin/faq/shipping-times", json={"base_revision": 1, field: value},
                                  headers=admin_headers())
        assert edited.status == 400 and field in (await edited.json())["error"]
    after = await (await client.get("/admin/faq", headers=admin_headers())).json()
    assert after == before


async def test_admin_fields_of_the_right_type_are_stored_as_given(client: TestClient) -> None:
    created = await client.post("/admin/faq", json={"faq_id": "new-entry", "question": "Is this new?",
                                                    "answer": "Yes.", "alternatives": ["Is it fresh?"],
                                                    "tags": ["news"], "enabled": False, "language": "pt-BR"},
                                headers=admin_headers())
    assert created.status == 201, await created.text()
    entry = await created.json()
    assert (entry["alternatives"], entry["tags"], entry["enabled"], entry["language"]) == \
        (["Is it fresh?"], ["news"], False, "pt-BR")


def _resign(bundle: Path) -> None:
    """Rewrite the manifest's checksums so a tampered bundle passes verification."""
    manifest = read_manifest(bundle)
    write_manifest(bundle, dataclasses.replace(manifest, files=digest_tree(bundle)))


BROKEN_FILES = {
    "onnx": ("encoder/model.onnx", b"this is not an ONNX model"),
    "npz": ("intent/head.npz", b"this is not a zip file"),
    "tokenizer": ("encoder/tokenizer.json", b'{"model": {"type": "nonsense"}}'),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_FILES))
async def test_reload_of_a_bundle_with_valid_checksums_but_broken_files_is_a_422(
        tmp_path: Path, aiohttp_client, broken: str) -> None:
    settings = demo_settings(tmp_path)
    build_toy_bundle(settings.bundles_dir, "v1", seed=0)
    bad = build_toy_bundle(settings.bundles_dir, "v2", seed=1)
    name, content = BROKEN_FILES[broken]
    (bad / name).write_bytes(content)
    _resign(bad)
    activate(settings.bundles_dir, "v1")
    client = await aiohttp_client(create_app(settings))
    response = await client.post("/admin/reload", json={"version": "v2"}, headers=admin_headers())
    assert response.status == 422 and (await response.json())["serving"] == "v1"
    assert name in (await response.json())["error"]
    assert current_version(settings.bundles_dir) == "v1"
    status, reply = await post_raw(client, "/api/chat", '{"session_id": "abcdefgh", "text": "hello"}')
    assert status == 200 and reply["bundle_version"] == "v1"


@pytest.mark.parametrize("broken", sorted(BROKEN_FILES))
def test_bundles_activate_loads_the_bundle_before_switching(tmp_path: Path, broken: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    build_toy_bundle(tmp_path, "v1", seed=0)
    bad = build_toy_bundle(tmp_path, "v2", seed=1)
    name, content = BROKEN_FILES[broken]
    (bad / name).write_bytes(content)
    _resign(bad)
    assert main(["bundles", "activate", "v1", "--dir", str(tmp_path)]) == 0
    with pytest.raises(SystemExit) as refused:
        main(["bundles", "activate", "v2", "--dir", str(tmp_path)])
    assert "refusing v2" in str(refused.value) and name in str(refused.value)
    assert current_version(tmp_path) == "v1"


# -- 6: invisible characters and trailing newlines ------------------------------------------------


@pytest.mark.parametrize("raw", ["\u200b", "\ufeff\u200b\u200c\u200d", "\u202e\u2066 \u200b\n", "\u00ad"])
def test_format_characters_are_removed_and_alone_are_empty(raw: str) -> None:
    assert normalise_text(raw, 100).problem == "empty"
    assert normalise_text(f"he\u200bllo{raw}", 100).text == "hello"


async def test_a_message_of_only_zero_width_characters_is_not_answered(client: TestClient) -> None:
    status, reply = await post_raw(client, "/api/chat", json.dumps({"session_id": "abcdefgh", "text": "\u200b" * 8}))
    assert status == 200 and reply["action"] == "rejected"
    status, reply = await post_raw(client, "/api/chat", json.dumps({"session_id": "abcdefgh", "text": "he\u200bllo"}))
    assert status == 200 and reply["intent"] == "greeting"


async def test_a_session_id_with_a_trailing_newline_is_a_400(client: TestClient) -> None:
    status, reply = await post_raw(client, "/api/chat", json.dumps({"session_id": "abcdefgh\n", "text": "hi"}))
    assert status == 400 and "session_id" in reply["error"]


@pytest.mark.parametrize("version", ["v1\n", "v1\r", "\nv1"])
def test_a_bundle_version_with_a_newline_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="bad bundle version"):
        check_version_name(version)


# -- 8: a client that goes away is not an error ------------------------------------------------


async def test_a_client_that_disconnects_mid_request_is_not_logged_as_an_error(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    # As ``supportbot serve`` runs it: a handler is not cancelled when its client goes away.
    runner = web.AppRunner(create_app(settings, model_loader=lambda s: KeywordModel()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    caplog.set_level(logging.INFO)
    try:
        for path in (b"/api/chat", b"/admin/faq", b"/api/feedback"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Authorization: Bearer test-admin-token-0123456789\r\n"
                         b"Content-Length: 5000\r\n\r\n" + b'{"session_id": "abcdefgh", "text": "')
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.close()
            await asyncio.sleep(0.2)
        status, reply = await raw_request(port, b"POST", b"/api/chat", [(b"Content-Type", b"application/json")],
                                          b'{"session_id": "abcdefgh", "text": "hello"}')
        assert status == 200, reply
    finally:
        await runner.cleanup()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
    assert sum("client closed the connection" in r.getMessage() for r in caplog.records) == 3
