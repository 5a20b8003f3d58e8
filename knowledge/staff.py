"""Support staff accounts and their signed-in console sessions, in the knowledge database.

Passwords are kept as salted scrypt hashes (``scrypt$log2n$r$p$salt$hash``); checking a
password costs the same whether or not the name exists. A session is a random token given to
the browser once; the database keeps only its sha256, with the session's CSRF token and expiry.

Example::

    accounts = StaffAccounts(Database.open("sqlite:///data/supportbot.db"))
    accounts.add("ana", "correct horse battery")
    session = accounts.sign_in("ana", "correct horse battery")   # None if wrong
    accounts.session(session.token).name                          # "ana"
    accounts.sign_out(session.token)
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from knowledge.database import Database, staff, staff_sessions
from knowledge.errors import EntryExists, EntryNotFound, KnowledgeError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")  # \Z: "$" also matches before a final newline
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
SESSION_HOURS = 12
# scrypt cost: 2**14 x 8 x 128 bytes = 16 MiB per check, so each guessed password costs memory
# and CPU time that a single sign-in does not notice.
SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P = 14, 8, 1


class InvalidStaff(KnowledgeError):
    """A staff name or password that breaks the rules; the message says which rule."""


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person. ``token`` is known only when the session was just started."""

    name: str
    csrf_token: str
    expires_at: str
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class StaffMember:
    name: str
    created_at: str
    active: bool


def normalise_name(name: str) -> str:
    """Names are compared case-insensitively: ``" Ana "`` -> ``"ana"``."""
    return name.strip().lower()


def check_name(name: str) -> str:
    name = normalise_name(name)
    if not NAME_PATTERN.match(name):
        raise InvalidStaff(f"a staff name is 1-64 letters, digits, '.', '_' or '-' (starting with a "
                           f"letter or digit), got {name!r}")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidStaff(f"a password needs {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters, "
                           f"got {len(password)}")
    return password


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the stored text format."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a ``hash_password`` result); never raises."""
    try:
        scheme, log2n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, bytes.fromhex(salt), int(log2n), int(r), int(p))
        return hmac.compare_digest(computed, bytes.fromhex(digest))
    except ValueError:
        return False


@functools.cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name takes as long as a wrong password."""
    return hash_password(secrets.token_hex(16))


class StaffAccounts:
    """Staff accounts and console sessions over the knowledge database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- accounts --------------------------------------------------------------------------

    def add(self, name: str, password: str) -> StaffMember:
        """Create an account; ``EntryExists`` if the name is taken, ``InvalidStaff`` if bad."""
        name, now = check_name(name), _now()
        hashed = hash_password(check_password(password))
        try:
            with self.database.begin() as conn:
                conn.execute(insert(staff).values(name=name, password_hash=hashed, created_at=now, active=True))
        except IntegrityError:
            raise EntryExists(f"staff member {name!r} already exists (change the password with "
                              "`supportbot staff passwd`)") from None
        return StaffMember(name, now, True)

    def set_password(self, name: str, password: str) -> None:
        """Replace the password (re-activating the account) and end the person's sessions."""
        name = normalise_name(name)
        hashed = hash_password(check_password(password))
        with self.database.begin() as conn:
            changed = conn.execute(update(staff).where(staff.c.name == name)
                                   .values(password_hash=hashed, active=True)).rowcount
            if changed != 1:
                raise EntryNotFound(f"no staff member {name!r}")
            conn.execute(delete(staff_sessions).where(staff_sessions.c.name == name))

    def deactivate(self, name: str) -> None:
        """Stop a person from signing in and end their sessions; their history stays."""
        name = normalise_name(name)
        with self.database.begin() as conn:
            if conn.execute(update(staff).where(staff.c.name == name).values(active=False)).rowcount != 1:
                raise EntryNotFound(f"no staff member {name!r}")
            conn.execute(delete(staff_sessions).where(staff_sessions.c.name == name))

    def members(self) -> list[StaffMember]:
        with self.database.connect() as conn:
            rows = conn.execute(select(staff).order_by(staff.c.name)).mappings()
            return [StaffMember(r["name"], r["created_at"], bool(r["active"])) for r in rows]

    # -- sessions --------------------------------------------------------------------------

    def sign_in(self, name: str, password: str, hours: float = SESSION_HOURS) -> ConsoleSession | None:
        """A new session if ``name`` is an active account with that password, else None."""
        name = normalise_name(name)
        with self.database.connect() as conn:
            row = conn.execute(select(staff).where(staff.c.name == name)).mappings().first()
        stored = row["password_hash"] if row is not None else _dummy_hash()
        if not verify_password(password[:MAX_PASSWORD_CHARS], stored) or row is None or not row["active"]:
            return None
        return self._start(name, hours)

    def session(self, token: str) -> ConsoleSession | None:
        """The live session for a cookie's ``token``, or None (unknown, expired, deactivated)."""
        if not token or len(token) > 200 or not token.isascii():  # ours are URL-safe base64
            return None
        query = (select(staff_sessions).join(staff, staff.c.name == staff_sessions.c.name)
                 .where(staff_sessions.c.token_hash == _token_hash(token), staff.c.active.is_(True)))
        with self.database.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None or row["expires_at"] <= _now():
            return None
        return ConsoleSession(row["name"], row["csrf_token"], row["expires_at"])

    def sign_out(self, token: str) -> None:
        with self.database.begin() as conn:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == _token_hash(token)))

    def _start(self, name: str, hours: float) -> ConsoleSession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = _iso(now + timedelta(hours=hours))
        with self.database.begin() as conn:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.expires_at <= _iso(now)))
            conn.execute(insert(staff_sessions).values(token_hash=_token_hash(token), name=name, csrf_token=csrf,
                                                       created_at=_iso(now), expires_at=expires))
        return ConsoleSession(name, csrf, expires, token)


def _scrypt(password: str, salt: bytes, log2n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log2n, r=r, p=p,
                          maxmem=2 ** log2n * r * 256, dklen=32)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return _iso(datetime.now(UTC))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
