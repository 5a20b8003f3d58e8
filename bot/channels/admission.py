"""Admission of chat messages before any work: a limit per client address and one for the bot.

The per-session rate limit (``bot.core.sessions``) is keyed by a session id the client picks,
so a client with a fresh id per message escapes it. Two limits therefore sit in front of the
responder, checked before the body is parsed:

- ``AddressLimit``: a token bucket per client address (``request.remote``, which
  ``bot.http.forwarded_middleware`` sets from a trusted proxy's ``X-Forwarded-For``): at most
  ``per_minute`` messages a minute after a burst of as many. IPv6 clients are counted per /64,
  the block one subscriber usually gets. Over it: 429. The buckets are in the database
  (``knowledge.limits``), so a client spreading its messages over the replicas behind a load
  balancer gets one limit, not one per replica; the hits of concurrent messages share one
  transaction.
- ``InFlight``: at most ``limit`` messages being answered at once, so a flood from many
  addresses sheds load (503) instead of growing the inference queue and every customer's wait.
  It guards this process's own CPU and queue, so it stays in memory: each replica sheds its own.

A refused message is counted (``supportbot_refused_total``) and never stored: a flood cannot
fill the database one row per message.

Example::

    limit = AddressLimit(RateLimits(database), per_minute=120)
    await limit.start()
    await limit.allow("203.0.113.7")    # Hit(allowed=False, ...) once that address sent its burst and its rate
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from bot.core.batcher import Batcher
from knowledge.limits import Bucket, Hit, RateLimits


class AddressLimit:
    """A token bucket per client address, in the database."""

    def __init__(self, limits: RateLimits, per_minute: int) -> None:
        self.limits = limits
        self.per_minute = per_minute
        self._hits: Batcher[Bucket, Hit] = Batcher(limits.hit_many, max_batch=512, max_wait_ms=0, name="addresses")

    async def start(self) -> None:
        await self._hits.start()

    async def close(self) -> None:
        await self._hits.close()

    def bucket(self, address: str) -> Bucket:
        return Bucket(f"address:{address_key(address)}", self.per_minute, self.per_minute / 60)

    async def allow(self, address: str) -> Hit:
        """Take one token for ``address``; not ``allowed`` (and nothing taken) when it has none left."""
        return await self._hits.submit(self.bucket(address))


class InFlight:
    """Counts messages being answered; ``enter`` refuses beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0

    def enter(self) -> bool:
        if self.current >= self.limit:
            return False
        self.current += 1
        return True

    def leave(self) -> None:
        self.current -= 1


def address_key(address: str) -> str:
    """What one client is: an IPv4 address, an IPv6 /64, or the raw text (a Unix socket, none).

    >>> address_key("2001:db8:1:2:3:4:5:6")
    '2001:db8:1:2::/64'
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


class Gate:
    """Both limits for one application; ``admit`` says why a message is refused, if it is."""

    def __init__(self, addresses: AddressLimit, max_in_flight: int) -> None:
        self.addresses = addresses
        self.in_flight = InFlight(max_in_flight)

    async def admit(self, address: str) -> Refusal | None:
        """None (and one message in flight: call ``leave`` after it) or the refusal: ``"address"``
        (that client is over its rate) or ``"overload"`` (too many in flight), with Retry-After."""
        hit = await self.addresses.allow(address)
        if not hit.allowed:
            return Refusal("address", hit.retry_after(self.addresses.bucket(address)))
        if not self.in_flight.enter():
            return Refusal("overload", 1)
        return None

    def leave(self) -> None:
        self.in_flight.leave()


@dataclass(frozen=True)
class Refusal:
    reason: str  # "address" or "overload"
    retry_after: int  # seconds
