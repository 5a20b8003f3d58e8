"""Staff accounts and console sessions: hashing, sign-in, expiry, password change, removal."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from knowledge.database import Database, staff_sessions
from knowledge.errors import EntryExists, EntryNotFound
from knowledge.staff import InvalidStaff, StaffAccounts, hash_password, verify_password

PASSWORD = "correct horse battery"


@pytest.fixture()
def accounts(database: Database) -> StaffAccounts:
    return StaffAccounts(database)


def test_password_hash_is_salted_and_checked() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first != second and first.startswith("scrypt$14$8$1$") and PASSWORD not in first
    assert verify_password(PASSWORD, first) and verify_password(PASSWORD, second)
    assert not verify_password(PASSWORD + "!", first)


@pytest.mark.parametrize("stored", ["", "scrypt$", "md5$1$2$3$00$00", "scrypt$x$8$1$00$00", "scrypt$14$8$1$zz$00"])
def test_malformed_hashes_never_match(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


def test_sign_in_gives_a_session_found_by_its_token_only(accounts: StaffAccounts) -> None:
    accounts.add(" Ana ", PASSWORD)
    assert accounts.sign_in("ana", "wrong password") is None
    assert accounts.sign_in("bob", PASSWORD) is None
    session = accounts.sign_in("ANA", PASSWORD)
    assert session is not None and session.name == "ana" and session.token and session.csrf_token
    found = accounts.session(session.token)
    assert found is not None and found.csrf_token == session.csrf_token and found.token == ""
    assert accounts.session(session.token + "x") is None and accounts.session("") is None
    with accounts.database.connect() as conn:
        stored = conn.exec_driver_sql("select token_hash from staff_sessions").scalar()
    assert stored != session.token  # only a hash is kept
    accounts.sign_out(session.token)
    assert accounts.session(session.token) is None


def test_expired_sessions_end(accounts: StaffAccounts) -> None:
    accounts.add("ana", PASSWORD)
    session = accounts.sign_in("ana", PASSWORD)
    assert session is not None
    with accounts.database.begin() as conn:
        conn.execute(update(staff_sessions).values(expires_at="2000-01-01T00:00:00+00:00"))
    assert accounts.session(session.token) is None


def test_new_password_or_removal_ends_sessions(accounts: StaffAccounts) -> None:
    accounts.add("ana", PASSWORD)
    session = accounts.sign_in("ana", PASSWORD)
    accounts.set_password("ana", "another long password")
    assert session is not None and accounts.session(session.token) is None
    assert accounts.sign_in("ana", PASSWORD) is None
    session = accounts.sign_in("ana", "another long password")
    accounts.deactivate("ana")
    assert session is not None and accounts.session(session.token) is None
    assert accounts.sign_in("ana", "another long password") is None
    assert [(m.name, m.active) for m in accounts.members()] == [("ana", False)]
    accounts.set_password("ana", PASSWORD)  # re-activates
    assert accounts.sign_in("ana", PASSWORD) is not None


def test_account_rules(accounts: StaffAccounts) -> None:
    accounts.add("ana", PASSWORD)
    with pytest.raises(EntryExists):
        accounts.add("ANA", PASSWORD)
    with pytest.raises(InvalidStaff, match="staff name"):
        accounts.add("a b", PASSWORD)
    with pytest.raises(InvalidStaff, match="10-1024 characters, got 5"):
        accounts.add("bob", "short")
    with pytest.raises(EntryNotFound):
        accounts.set_password("bob", PASSWORD)
    with pytest.raises(EntryNotFound):
        accounts.deactivate("bob")
