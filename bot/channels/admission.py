"""Admission of chat messages before any work: a limit per client address and one for the bot.

The per-session rate limit (``bot.core.sessions``) is keyed by a session id the client picks,
so a client with a fresh id per message escapes it. Two limits therefore sit in front of the
answer:

- ``AddressLimit``: a token bucket per client address (``request.remote``, which
  ``bot.http.forwarded_middleware`` sets from a trusted proxy's ``X-Forwarded-For``): at most
  ``per_minute`` messages a minute after a burst of as many. IPv6 clients are counted per /64,
  the block one subscriber usually gets. Over it: 429. The buckets are in the database
  (``knowledge.limits``), so a client spreading its messages over the replicas behind a load
  balancer gets one limit, not one per replica. The hit is taken with the conversation's own
  limit and reads, in the batch of concurrent messages (``Sessions.admit``): on PostgreSQL one
  round trip for all of it, where a hit of its own before them was one more per message. So a
  refused message has taken a token from its conversation's limit too (the same client's).
- ``InFlight``: at most ``limit`` messages being answered at once, checked first, before the
  body is parsed, so a flood from many
  addresses sheds load (503) instead of growing the inference queue and every customer's wait.
  It guards this process's own CPU and queue, so it stays in memory: each replica sheds its own.

A refused message is counted (``supportbot_refused_total``) and never stored: a flood cannot
fill the database one row per message.

Example::

    gate = Gate(AddressLimit(per_minute=120), max_in_flight=64)
    gate.enter()                                    # False: 503, too many being answered
    bucket = gate.addresses.bucket("203.0.113.7")   # for responder.respond(..., client=bucket)
    gate.leave()
"""
from __future__ import annotations

import ipaddress

from knowledge.limits import Bucket


class AddressLimit:
    """A token bucket per client address, in the database."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute

    def bucket(self, address: str) -> Bucket:
        return Bucket(f"address:{address_key(address)}", self.per_minute, self.per_minute / 60)


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
    """Both limits for one application: the in-flight count here, the address bucket for the
    responder to take (``bucket``)."""

    def __init__(self, addresses: AddressLimit, max_in_flight: int) -> None:
        self.addresses = addresses
        self.in_flight = InFlight(max_in_flight)

    def enter(self) -> bool:
        """One message more in flight (call ``leave`` after it), or False: too many (503)."""
        return self.in_flight.enter()

    def leave(self) -> None:
        self.in_flight.leave()
