"""Claims every replica respects: a key one holder takes until it expires.

One table serves everything that must happen once, or by one replica at a time:

- a Telegram update seen (``tg-update:<id>``): Telegram's redelivery reaching another replica
  is dropped there too;
- a keyboard used, a chat told it writes too fast: once, whichever replica answers;
- a sign-in form handed out: good for one try on any replica (``use`` deletes it);
- a chat being answered (``tg-chat:<id>``): a lease, so a chat's updates are answered one at a
  time across replicas; a replica that dies holding one loses it when it expires.

``take`` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING``: of
replicas racing for a key exactly one gets it, on SQLite and PostgreSQL alike.

Example::

    claims = Claims(database, holder="replica-a")
    claims.take("tg-update:1001", ttl_s=86400)   # True: first
    claims.take("tg-update:1001", ttl_s=86400)   # False: seen
"""
from __future__ import annotations

import os
import socket
import time

from sqlalchemy import delete, select, text

from knowledge.database import Database, claims

KEY_CHARS = 200


def chat_lease(chat: int | str) -> str:
    """The key of a Telegram chat's lease: its updates are answered one at a time."""
    return f"tg-chat:{chat}"


def chat_told(chat: int | str) -> str:
    """The key of a Telegram chat's "you write too fast" notice."""
    return f"tg-told:{chat}"


def keyboard_used(chat: int | str, message_id: int | str = "") -> str:
    """The key of a keyboard used in a Telegram chat (without ``message_id``: the prefix of them all)."""
    return f"tg-pick:{chat}:{message_id}"


def replica_name() -> str:
    """This process, as a claim's holder: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


# The same on both engines; written as text, it costs less Python than the database's work.
_TAKE = text("""
    INSERT INTO claims (key, holder, expires_at) VALUES (:key, :holder, :expires_at)
    ON CONFLICT (key) DO UPDATE SET holder = :holder, expires_at = :expires_at
        WHERE claims.expires_at <= :now
    RETURNING key""")


class Claims:
    """Keys in the ``claims`` table, taken by ``holder``; see the module docstring."""

    def __init__(self, database: Database, holder: str) -> None:
        self.database = database
        self.holder = holder[:64]

    def take(self, key: str, ttl_s: float, now: float | None = None) -> bool:
        """Take ``key`` for ``ttl_s`` seconds: True if it was free (never taken, or expired),
        False while it is held (by anyone, this holder too: a repeat is a repeat)."""
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            taken = conn.execute(_TAKE, {"key": key[:KEY_CHARS], "holder": self.holder, "now": now,
                                         "expires_at": now + ttl_s})
            return taken.first() is not None

    def held(self, key: str, now: float | None = None) -> bool:
        """Is ``key`` taken and not expired (by anyone)? Changes nothing."""
        now = time.time() if now is None else now
        with self.database.connect() as conn:
            return conn.execute(select(claims.c.key).where(claims.c.key == key[:KEY_CHARS],
                                                           claims.c.expires_at > now)).first() is not None

    def release(self, key: str) -> None:
        """Give back a key this holder took (a lease once its work is done)."""
        with self.database.begin() as conn:
            conn.execute(delete(claims).where(claims.c.key == key[:KEY_CHARS], claims.c.holder == self.holder))

    def use(self, key: str, now: float | None = None) -> bool:
        """Delete ``key`` if it is taken and not expired, whoever took it: True exactly once."""
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            return conn.execute(delete(claims).where(claims.c.key == key[:KEY_CHARS],
                                                     claims.c.expires_at > now)).rowcount == 1

    def forget_expired(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.database.begin() as conn:
            return conn.execute(delete(claims).where(claims.c.expires_at <= now)).rowcount
