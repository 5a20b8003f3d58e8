"""A signed outgoing webhook: tells a team's helpdesk when a conversation waits for a person.

Each event is one POST of compact JSON, ``{"event": ..., "delivery": ..., "sent_at": ...,
**payload}``, with four headers::

    X-Supportbot-Event       the event, e.g. "handoff.waiting"
    X-Supportbot-Delivery    a uuid4, the same on every retry of one event: deduplicate on it
    X-Supportbot-Timestamp   unix seconds when this attempt was signed
    X-Supportbot-Signature   "sha256=" + hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)

The receiver checks both with ``verify``: a body changed on the way fails, and so does a
request captured and replayed after ``tolerance_s``. Each retry is signed afresh.

Delivery runs in the background: ``send`` returns at once and never raises. Connection
errors, timeouts, 429 and 5xx are retried with exponential backoff (``Retry-After`` seconds
are honoured, up to ``MAX_RETRY_AFTER_S``); any other answer ends the delivery: 2xx is
delivered, the rest failed. Redirects are not followed, so the signed body goes only where it
was configured to go. Logs name the event, the delivery id and the HTTP status or error class:
never the payload (it holds customer text), the secret, or the URL (its query may hold a token).

Example::

    webhook = Webhook("https://helpdesk.example.com/hooks/supportbot", secret)
    await webhook.start()
    webhook.send("handoff.waiting", {"session": "web:4f2a", "text": "I need a person"})
    await webhook.close()  # waits up to 5 s for deliveries in flight
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from bot.settings import is_http_url

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Supportbot-Signature"
TIMESTAMP_HEADER = "X-Supportbot-Timestamp"
EVENT_HEADER = "X-Supportbot-Event"
DELIVERY_HEADER = "X-Supportbot-Delivery"
MAX_RETRY_AFTER_S = 30.0  # a longer Retry-After is cut to this: the event matters now, not in an hour
EVENT_NAME = re.compile(r"[a-z0-9_.-]{1,64}")  # goes into a header and the logs


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``.

    >>> sign("s3cret", "1700000000", b"{}")[:7]
    'sha256='
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: float = 300) -> bool:
    """Did the holder of ``secret`` send ``body`` within ``tolerance_s`` of ``now``?

    What a receiver runs on the headers and the raw body, before parsing it::

        ok = verify(secret, request.headers[TIMESTAMP_HEADER], await request.read(),
                    request.headers[SIGNATURE_HEADER])
    """
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance_s:  # too old (a replay) or from the future
        return False
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class _Attempt:
    """How one POST ended; ``outcome`` is what the logs say: "HTTP 503" or an error class."""

    outcome: str
    delivered: bool = False
    retry: bool = False
    retry_after_s: float | None = None  # the receiver's Retry-After, when it gave one


class Webhook:
    """Delivers events to one URL in the background, with retries; counts what became of them."""

    def __init__(self, url: str, secret: str, attempts: int = 4, backoff_s: float = 0.5,
                 timeout_s: float = 5.0) -> None:
        if not is_http_url(url):  # not echoed: its query may hold a token
            raise ValueError("url: expected an http(s) URL with a host")
        if not secret:
            raise ValueError("secret: expected the secret the receiver checks signatures with")
        if attempts < 1 or backoff_s < 0 or timeout_s <= 0:
            raise ValueError(f"expected attempts >= 1, backoff_s >= 0 and timeout_s > 0, "
                             f"got {attempts}, {backoff_s} and {timeout_s}")
        self.url = url
        self._secret = secret
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._delivered = 0
        self._failed = 0

    def __repr__(self) -> str:
        return f"Webhook(host={urlsplit(self.url).hostname!r}, delivered={self._delivered}, failed={self._failed})"

    @property
    def delivered(self) -> int:
        return self._delivered

    @property
    def failed(self) -> int:
        return self._failed

    async def start(self) -> None:
        """Open the HTTP session; warn once if events would cross the network unencrypted."""
        if self._session is not None:
            return
        host = urlsplit(self.url).hostname or ""
        if urlsplit(self.url).scheme == "http" and not _is_loopback(host):
            log.warning("handoff webhook to %s uses http://: events, with customer text, are sent unencrypted", host)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    def send(self, event: str, payload: Mapping[str, object]) -> None:
        """Deliver ``event`` in the background; returns at once and never raises.

        The payload's keys sit beside ``event``, ``delivery`` and ``sent_at``, which win a clash.
        """
        delivery = str(uuid.uuid4())
        if self._session is None or self._closing:
            self._give_up(event, delivery, "webhook not started" if self._session is None else "webhook closed")
            return
        if not EVENT_NAME.fullmatch(event):
            self._give_up("?", delivery, "event name is not lowercase letters, digits, '.', '_' or '-'")
            return
        try:
            body = _body(event, delivery, payload)
            task = asyncio.get_running_loop().create_task(self._deliver(self._session, event, delivery, body))
        except (TypeError, ValueError, RuntimeError) as error:  # not JSON, or no event loop: say which, not what
            self._give_up(event, delivery, type(error).__name__)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Wait up to ``timeout_s`` for deliveries in flight, give up the rest, close the session."""
        self._closing = True
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _deliver(self, session: aiohttp.ClientSession, event: str, delivery: str, body: bytes) -> None:
        outcome = "not sent"
        try:
            for attempt in range(1, self.attempts + 1):
                result = await self._post(session, event, delivery, body)
                outcome = result.outcome
                if result.delivered:
                    self._delivered += 1
                    return
                if not result.retry or attempt == self.attempts:
                    break
                wait_s = self._wait_s(attempt, result.retry_after_s)
                log.info("handoff webhook: event %s delivery %s: %s, retrying in %.1f s",
                         event, delivery, outcome, wait_s)
                await asyncio.sleep(wait_s)
        except asyncio.CancelledError:
            self._give_up(event, delivery, f"{outcome}; stopped at shutdown")
            raise
        except Exception as error:  # a bug of ours: nobody awaits this task, so count and log it here
            self._give_up(event, delivery, f"unexpected {type(error).__name__}")
            return
        self._give_up(event, delivery, f"{outcome} after {attempt} attempt{'s' if attempt > 1 else ''}")

    async def _post(self, session: aiohttp.ClientSession, event: str, delivery: str, body: bytes) -> _Attempt:
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", EVENT_HEADER: event, DELIVERY_HEADER: delivery,
                   TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(self._secret, timestamp, body)}
        try:
            async with session.post(self.url, data=body, headers=headers, allow_redirects=False) as response:
                status, retry_after = response.status, response.headers.get("Retry-After", "")
        except (aiohttp.ClientError, TimeoutError) as error:  # the class only: messages name the URL
            return _Attempt(type(error).__name__, retry=True)
        return _Attempt(f"HTTP {status}", delivered=200 <= status < 300, retry=status == 429 or status >= 500,
                        retry_after_s=float(retry_after) if retry_after.isascii() and retry_after.isdigit() else None)

    def _wait_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, MAX_RETRY_AFTER_S)
        return float(self.backoff_s * 2 ** (attempt - 1))

    def _give_up(self, event: str, delivery: str, reason: str) -> None:
        self._failed += 1
        log.warning("handoff webhook: event %s delivery %s failed: %s", event, delivery, reason)


def _body(event: str, delivery: str, payload: Mapping[str, object]) -> bytes:
    fields: dict[str, object] = {"event": event, "delivery": delivery,
                                 "sent_at": datetime.now(UTC).isoformat(timespec="seconds")}
    fields.update((key, value) for key, value in payload.items() if key not in fields)
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
