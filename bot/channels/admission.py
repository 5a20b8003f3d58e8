"""Admission of chat messages before any work: a limit per client address and one for the bot.

The per-session rate limit (``bot.core.sessions``) is keyed by a session id the client picks,
so a client with a fresh id per message escapes it. Two limits therefore sit in front of the
responder, checked before the body is parsed:

- ``AddressLimit``: a token bucket per client address (``request.remote``, which
  ``bot.http.forwarded_middleware`` sets from a trusted proxy's ``X-Forwarded-For``): at most
  ``per_minute`` messages a minute after a burst of as many. IPv6 clients are counted per /64,
  the block one subscriber usually gets. Over it: 429.
- ``InFlight``: at most ``limit`` messages being answered at once, so a flood from many
  addresses sheds load (503) instead of growing the inference queue and every customer's wait.

A refused message is counted (``supportbot_refused_total``) and never stored: a flood cannot
fill the database one row per message.

Example::

    limit = AddressLimit(per_minute=120)
    limit.allow("203.0.113.7")          # False once that address sent its burst and its rate
"""
from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_TRACKED_ADDRESSES = 100_000


class AddressLimit:
    """A token bucket per client address, remembering the ``max_addresses`` most recent."""

    def __init__(self, per_minute: int, max_addresses: int = MAX_TRACKED_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, address: str) -> bool:
        """Take one token for ``address``; False (and nothing taken) when it has none left."""
        key, now = address_key(address), self._clock()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.per_second)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)  # the least recently seen: it had a full minute to refill
        return allowed

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` has a token again (at least 1)."""
        tokens, _ = self._buckets.get(address_key(address), (0.0, 0.0))
        return max(1, int((1.0 - tokens) / self.per_second + 0.999))


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

    def __init__(self, per_minute: int, max_in_flight: int) -> None:
        self.addresses = AddressLimit(per_minute)
        self.in_flight = InFlight(max_in_flight)

    def admit(self, address: str) -> str | None:
        """None (and one message in flight: call ``leave`` after it) or the refusal's reason:
        ``"address"`` (that client is over its rate) or ``"overload"`` (too many in flight)."""
        if not self.addresses.allow(address):
            return "address"
        if not self.in_flight.enter():
            return "overload"
        return None

    def leave(self) -> None:
        self.in_flight.leave()
