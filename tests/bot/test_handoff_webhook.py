"""The handoff webhook against a real helpdesk on loopback: signatures, retries, what is never
retried, an unreachable helpdesk, a bounded shutdown, and logs that never hold customer text."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from bot.core import webhook as webhook_module
from bot.core.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhook,
    sign,
    verify,
)

SECRET = "helpdesk-shared-secret-0123"
CUSTOMER_TEXT = "my card 4111 1111 1111 1111 was charged twice"
PAYLOAD = {"session": "web:4f2a9c", "channel": "web", "text": CUSTOMER_TEXT}
FAST = {"attempts": 4, "backoff_s": 0.01, "timeout_s": 2.0}


class Helpdesk:
    """A receiving server's handler: records each request, answers with the next scripted status."""

    def __init__(self, *statuses: int, headers: Mapping[str, str] | None = None) -> None:
        self.statuses = list(statuses)  # then 200 for ever
        self.headers = dict(headers or {})
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.release = asyncio.Event()  # for a helpdesk told to hang
        self.hang = False

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if self.hang:
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, headers=self.headers if status != 200 else None)

    @property
    def deliveries(self) -> list[str]:
        return [headers[DELIVERY_HEADER] for headers, _ in self.requests]


Serve = Callable[[Helpdesk], Awaitable[str]]


@pytest.fixture()
def serve(aiohttp_server: AiohttpServer) -> Serve:
    """Start ``helpdesk`` on loopback; the URL its hook answers at (with a token in the query)."""
    async def start(helpdesk: Helpdesk) -> str:
        app = web.Application()
        app.router.add_post("/hooks/supportbot", helpdesk.handle)
        app.router.add_post("/elsewhere", helpdesk.handle)
        server = await aiohttp_server(app)
        return str(server.make_url("/hooks/supportbot?token=url-token-77"))

    return start


@pytest.fixture()
async def webhooks() -> AsyncIterator[list[Webhook]]:
    """Webhooks a test made; any it left open are closed afterwards."""
    made: list[Webhook] = []
    yield made
    for hook in made:
        await hook.close(timeout_s=0.1)


async def started(made: list[Webhook], url: str, **options: float) -> Webhook:
    hook = Webhook(url, SECRET, **{**FAST, **options})  # type: ignore[arg-type]
    made.append(hook)
    await hook.start()
    return hook


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once it is closed


# --- delivery ------------------------------------------------------------------------------------

async def test_the_helpdesk_verifies_the_signature_and_gets_the_payload(serve: Serve, webhooks: list[Webhook]) -> None:
    helpdesk = Helpdesk()
    hook = await started(webhooks, await serve(helpdesk))
    hook.send("handoff.waiting", {**PAYLOAD, "event": "spoofed"})
    await hook.close()
    assert (hook.delivered, hook.failed) == (1, 0)
    [(headers, body)] = helpdesk.requests
    assert verify(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert headers[SIGNATURE_HEADER] == sign(SECRET, headers[TIMESTAMP_HEADER], body)
    assert headers[EVENT_HEADER] == "handoff.waiting" and headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["event"] == "handoff.waiting", "the event's own fields win over the payload's"
    assert sent["delivery"] == headers[DELIVERY_HEADER]
    assert {key: sent[key] for key in PAYLOAD} == PAYLOAD and sent["sent_at"].endswith("+00:00")
    assert b": " not in body and CUSTOMER_TEXT.encode() in body, "compact UTF-8 JSON"


async def test_two_500s_then_200_deliver_once_under_one_delivery_id(serve: Serve, webhooks: list[Webhook]) -> None:
    helpdesk = Helpdesk(500, 503)
    hook = await started(webhooks, await serve(helpdesk))
    hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    assert len(helpdesk.requests) == 3 and len(set(helpdesk.deliveries)) == 1
    assert (hook.delivered, hook.failed) == (1, 0)
    assert all(verify(SECRET, h[TIMESTAMP_HEADER], b, h[SIGNATURE_HEADER]) for h, b in helpdesk.requests)


async def test_each_event_has_its_own_delivery_id(serve: Serve, webhooks: list[Webhook]) -> None:
    helpdesk = Helpdesk()
    hook = await started(webhooks, await serve(helpdesk))
    for _ in range(3):
        hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    assert hook.delivered == 3 and len(set(helpdesk.deliveries)) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 307])
async def test_a_client_error_or_a_redirect_is_not_retried(serve: Serve, webhooks: list[Webhook], status: int,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    helpdesk = Helpdesk(status, headers={"Location": "/elsewhere"})
    hook = await started(webhooks, await serve(helpdesk))
    hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    assert len(helpdesk.requests) == 1, "not retried, and a redirect is not followed"
    assert (hook.delivered, hook.failed) == (0, 1)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    delivery = helpdesk.deliveries[0]
    assert warning.getMessage() == (f"handoff webhook: event handoff.waiting delivery {delivery} failed: "
                                    f"HTTP {status} after 1 attempt")


async def test_429_waits_as_long_as_retry_after_says(serve: Serve, webhooks: list[Webhook]) -> None:
    helpdesk = Helpdesk(429, headers={"Retry-After": "1"})
    hook = await started(webhooks, await serve(helpdesk), backoff_s=0.0)
    began = time.monotonic()
    hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    assert len(helpdesk.requests) == 2 and hook.delivered == 1
    assert time.monotonic() - began >= 0.9


async def test_a_long_retry_after_is_capped(serve: Serve, webhooks: list[Webhook],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_module, "MAX_RETRY_AFTER_S", 0.05)
    helpdesk = Helpdesk(503, headers={"Retry-After": "3600"})
    hook = await started(webhooks, await serve(helpdesk))
    hook.send("handoff.waiting", PAYLOAD)
    await asyncio.wait_for(hook.close(timeout_s=5.0), timeout=3.0)
    assert hook.delivered == 1


async def test_a_slow_helpdesk_times_out_and_is_tried_again(serve: Serve, webhooks: list[Webhook]) -> None:
    helpdesk = Helpdesk()
    helpdesk.hang = True
    hook = await started(webhooks, await serve(helpdesk), timeout_s=0.2, attempts=2)
    hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    helpdesk.release.set()
    assert len(helpdesk.requests) == 2 and len(set(helpdesk.deliveries)) == 1
    assert (hook.delivered, hook.failed) == (0, 1)


# --- failures never reach the caller ---------------------------------------------------------------

async def test_an_unreachable_helpdesk_fails_after_the_attempts(webhooks: list[Webhook],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    hook = await started(webhooks, f"http://127.0.0.1:{closed_port()}/hook", attempts=3)
    began = time.monotonic()
    hook.send("handoff.waiting", PAYLOAD)  # returns at once, raises nothing
    assert time.monotonic() - began < 0.5
    await asyncio.wait_for(hook.close(timeout_s=2.0), timeout=3.0)
    assert (hook.delivered, hook.failed) == (0, 1)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().endswith("failed: ClientConnectorError after 3 attempts")


async def test_close_gives_up_on_a_hanging_helpdesk_within_its_bound(serve: Serve, webhooks: list[Webhook],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    helpdesk = Helpdesk()
    helpdesk.hang = True
    hook = await started(webhooks, await serve(helpdesk), timeout_s=60.0)
    hook.send("handoff.waiting", PAYLOAD)
    await asyncio.sleep(0.1)  # the request is in flight
    began = time.monotonic()
    await hook.close(timeout_s=0.2)
    assert time.monotonic() - began < 1.0
    helpdesk.release.set()
    assert (hook.delivered, hook.failed) == (0, 1)
    assert "not sent; stopped at shutdown" in caplog.text


async def test_send_outside_start_and_close_or_with_bad_input_only_counts_a_failure(
        serve: Serve, webhooks: list[Webhook]) -> None:
    url = await serve(Helpdesk())
    early = Webhook(url, SECRET)
    early.send("handoff.waiting", PAYLOAD)  # not started
    hook = await started(webhooks, url)
    hook.send("handoff.waiting", {"text": object()})  # not JSON
    hook.send("handoff.waiting", {"score": float("nan")})
    hook.send("Handoff waiting\r\nX-Evil: 1", PAYLOAD)  # not a header-safe event name
    await hook.close()
    hook.send("handoff.waiting", PAYLOAD)  # closed
    assert (early.failed, hook.failed, hook.delivered) == (1, 4, 0)


async def test_an_unexpected_error_is_counted_and_logged_by_its_class_only(
        serve: Serve, webhooks: list[Webhook], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: object) -> None:
        raise KeyError(CUSTOMER_TEXT)

    hook = await started(webhooks, await serve(Helpdesk()))
    monkeypatch.setattr(hook, "_post", broken)
    hook.send("handoff.waiting", PAYLOAD)
    await hook.close()
    assert (hook.delivered, hook.failed) == (0, 1)
    assert "failed: unexpected KeyError" in caplog.text and CUSTOMER_TEXT not in caplog.text


@pytest.mark.parametrize("url", ["ftp://helpdesk.example.com/hook", "helpdesk.example.com/hook?token=abc"])
def test_a_bad_url_or_no_secret_is_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError, match="^url: expected an http\\(s\\) URL with a host$"):
        Webhook(url, SECRET)
    with pytest.raises(ValueError, match="^secret: "):
        Webhook("https://helpdesk.example.com/hook", "")
    assert SECRET not in repr(Webhook("https://helpdesk.example.com/hook?token=abc", SECRET))


# --- logs ------------------------------------------------------------------------------------------

async def test_logs_never_hold_the_payload_the_secret_or_the_urls_query(
        serve: Serve, webhooks: list[Webhook], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    helpdesk = Helpdesk(500, 400)
    hook = await started(webhooks, await serve(helpdesk))
    hook.send("handoff.waiting", PAYLOAD)
    unreachable = await started(webhooks, f"http://127.0.0.1:{closed_port()}/hook?token=url-token-77", attempts=2)
    unreachable.send("handoff.waiting", PAYLOAD)
    unreachable.send("handoff.waiting", {"text": CUSTOMER_TEXT, "bad": object()})
    await hook.close()
    await unreachable.close()
    assert hook.failed == 1 and unreachable.failed == 2
    # Every log but the helpdesk's own access log (the receiving side, here in the same process).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "HTTP 500" in logged and "HTTP 400" in logged and "ClientConnectorError" in logged
    for secret in (CUSTOMER_TEXT, "4111", SECRET, "url-token-77", "web:4f2a9c"):
        assert secret not in logged


async def test_plain_http_to_another_host_is_warned_about_once_at_start(caplog: pytest.LogCaptureFixture) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook",
                "https://helpdesk.example.com/hook", "http://helpdesk.example.com/hook?token=abc"):
        hook = Webhook(url, SECRET)
        await hook.start()
        await hook.close()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == ("handoff webhook to helpdesk.example.com uses http://: events, with customer text, "
                       "are sent unencrypted")


# --- verify --------------------------------------------------------------------------------------

BODY = b'{"event":"handoff.waiting","text":"hello"}'
NOW = 1_700_000_000.0


def test_verify_accepts_a_fresh_signature_and_nothing_changed() -> None:
    timestamp = str(int(NOW))
    signature = sign(SECRET, timestamp, BODY)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, timestamp, BODY, signature, now=NOW)
    assert verify(SECRET, timestamp, BODY, signature, now=NOW + 299)
    assert not verify(SECRET, timestamp, BODY.replace(b"hello", b"hellO"), signature, now=NOW), "tampered body"
    assert not verify(SECRET, str(int(NOW) + 1), BODY, signature, now=NOW), "tampered timestamp"
    assert not verify("another-secret-0123456", timestamp, BODY, signature, now=NOW), "wrong secret"


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_verify_rejects_old_and_future_timestamps(age: float) -> None:
    timestamp = str(int(NOW))
    assert not verify(SECRET, timestamp, BODY, sign(SECRET, timestamp, BODY), now=NOW + age)


@pytest.mark.parametrize("timestamp,signature", [
    ("1700000000", ""), ("1700000000", "sha256="), ("1700000000", "sha256=é"), ("1700000000", "sha256=\ud800"),
    ("1700000000.0", None), (" 1700000000", None), ("-1", None), ("", None), ("9" * 5000, None), ("１７", None),
])
def test_verify_rejects_malformed_headers_without_raising(timestamp: str, signature: str | None) -> None:
    assert not verify(SECRET, timestamp, BODY, signature if signature is not None else sign(SECRET, timestamp, BODY),
                      now=NOW)
