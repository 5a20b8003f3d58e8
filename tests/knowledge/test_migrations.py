"""Schema migrations on SQLite and PostgreSQL: an empty database, the databases earlier releases
made (``create_all``, no revision recorded) with rows in them, one a newer release upgraded, and
the history itself, whose newest revision must be the schema of ``knowledge/database.py``."""
from __future__ import annotations

import argparse
from pathlib import Path
from pprint import pformat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, insert, inspect, text

from bot.cli import build_parser, main
from knowledge.conversations.handoffs import WAITING, Handoffs
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database, metadata
from knowledge.faq.store import FaqStore
from knowledge.migrations.history import (
    VERSION_TABLE,
    SchemaError,
    SchemaState,
    head_revision,
    known_revisions,
    upgrade,
)
from knowledge.staff import StaffAccounts
from tests.knowledge.conftest import make_entry
from tests.knowledge.old_schemas import FIRST_RELEASE, HANDOFFS_RELEASE

PASSWORD = "correct horse battery"


def schema_differences(database: Database) -> list[object]:
    """What alembic's autogenerate would change to make the database match ``metadata``."""
    with database.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


def record_as_released(database: Database, release: MetaData, rows: list[dict[str, object]]) -> list[int]:
    """Turns of one Telegram chat, written with the release's own columns (as its log did)."""
    session, at = "tg:-1001234567890", "2026-11-30T10:00:00.000+00:00"
    with database.begin() as conn:
        conn.execute(insert(release.tables["conversations"]).values(
            session_id=session, channel="telegram", handoff=False, created_at=at, updated_at=at))
        return [conn.execute(insert(release.tables["turns"]).values(
            session_id=session, channel="telegram", created_at=at, **row)).inserted_primary_key[0] for row in rows]


def make_release_database(url: str, release: MetaData) -> None:
    """A database as an earlier release left it: its ``create_all``, then its stores' writes."""
    engine = create_engine(url)
    release.create_all(engine)
    engine.dispose()
    with Database.open_as_is(url) as database:
        store, log = FaqStore(database), ConversationLog(database)
        entry = store.add(make_entry(), "ana")
        store.edit("returns", entry.revision, "ben", answer="Yes, within 60 days.")
        first, second = record_as_released(database, release, [
            dict(text="refund?", action="fallback", reply="Sorry.", latency_ms=2.0, review="pending"),
            dict(text="returns", action="answer", reply="60 days", latency_ms=1.5, faq_id="returns", confidence=0.93)])
        log.add_feedback(second, "tg:-1001234567890", 1)
        Reviews(database).label([first], "intent", "refund", "ana")
        StaffAccounts(database).add("ana", PASSWORD)
        if "handoffs" in release.tables:
            Handoffs(database).open("web:old", "web", "asked for a person")


def test_the_history_is_one_line_whose_head_is_the_schema_of_knowledge_database(database_url: str) -> None:
    assert known_revisions() == ["0001", "0002", "0003", "0004", "0005", "0006"] and head_revision() == "0006"
    with Database.open_as_is(database_url) as database:
        done = upgrade(database.engine)
        assert done.before == SchemaState(None, "0006", recorded=False) and done.after.is_current
        differences = schema_differences(database)
    assert differences == [], ("knowledge/database.py and the newest migration differ: add a revision "
                               "(`supportbot db revision \"...\"` drafts it)\n" + pformat(differences))


def test_db_upgrade_creates_the_schema_in_an_empty_database_then_has_nothing_to_do(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "--db", database_url, "current"]) == 1
    assert capsys.readouterr().out == "empty (no tables yet)\n"
    assert main(["db", "--db", database_url, "upgrade"]) == 0
    assert capsys.readouterr().out.endswith(" from empty to 0006\n")
    assert main(["db", "--db", database_url, "current"]) == 0
    assert capsys.readouterr().out == "0006 (current)\n"
    assert main(["db", "--db", database_url, "upgrade"]) == 0
    assert capsys.readouterr().out.endswith(" is at 0006 (current)\n")
    with Database.open(database_url) as database, database.connect() as conn:
        assert set(inspect(conn).get_table_names()) == {*metadata.tables, VERSION_TABLE}


def test_open_gives_an_empty_database_the_schema_with_its_revision_recorded(database_url: str) -> None:
    with Database.open(database_url) as database:
        assert FaqStore(database).list() == []
    with Database.open_as_is(database_url) as database, database.connect() as conn:
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == head_revision()


@pytest.mark.parametrize(("release", "revision"), [(FIRST_RELEASE, "0001"), (HANDOFFS_RELEASE, "0002")],
                         ids=["first-release", "handoffs-release"])
def test_an_earlier_release_database_keeps_its_rows_and_is_brought_to_head(
        database_url: str, release: MetaData, revision: str) -> None:
    make_release_database(database_url, release)
    with pytest.raises(SchemaError, match=rf"^the database schema is at revision {revision} \(recognised by its tables; "
                                          r"no revision recorded\), behind this release's 0006: run `supportbot db "
                                          r"upgrade` first$"):
        Database.open(database_url)

    with Database.open_as_is(database_url) as database:
        done = upgrade(database.engine)
    assert done.before == SchemaState(revision, "0006", recorded=False) and done.after.is_current

    with Database.open(database_url) as database:
        assert schema_differences(database) == []
        store, log, handoffs = FaqStore(database), ConversationLog(database), Handoffs(database)
        assert store.get("returns").answer == "Yes, within 60 days." and store.get("returns").revision == 2
        assert [r.action for r in store.history("returns")] == ["create", "edit"]
        old = log.turns("tg:-1001234567890")
        assert [(t.record.text, t.review, t.feedback) for t in old] == [("refund?", "intent", None),
                                                                       ("returns", None, 1)]
        assert Reviews(database).labels_since("2000-01-01")[0] == ("refund?", "intent", "refund")
        assert StaffAccounts(database).sign_in("ana", PASSWORD) is not None
        # New rows continue the old ids (PostgreSQL's sequences came along) and handoffs work.
        (new,) = log.record([TurnRecord("tg:-1001234567890", "telegram", "a person", "handoff", "Queued.", 1.0)])
        assert new > old[-1].id
        opened = handoffs.open("tg:-1001234567890", "telegram", "asked for a person")
        assert opened.created and opened.handoff.state == WAITING
        if revision == "0002":
            assert handoffs.for_session("web:old") is not None, "the old release's open handoff is still open"


def test_a_database_a_newer_release_upgraded_is_refused(database_url: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    Database.open(database_url).close()
    with Database.open_as_is(database_url) as database, database.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
    with pytest.raises(SchemaError, match="at revision 0099, which this release does not know"):
        Database.open(database_url)
    with pytest.raises(SystemExit, match=r"^supportbot db: error: .*0099.*a newer release upgraded it"):
        main(["db", "--db", database_url, "upgrade"])
    assert main(["db", "--db", database_url, "current"]) == 1
    assert capsys.readouterr().out == "0099; this release's is 0006\n"


def test_tables_of_no_release_are_refused_not_guessed(database_url: str) -> None:
    engine = create_engine(database_url)
    FIRST_RELEASE.tables["faq_entries"].create(engine)
    engine.dispose()
    with pytest.raises(SchemaError, match=r"some of supportbot's tables but not those of any release \(missing: "
                                          r"conversations, faq_revisions"):
        Database.open(database_url)


@pytest.mark.parametrize("command", [["kb", "list"], ["logs", "export", "--format", "csv", "--output", "turns.csv"],
                                     ["staff", "list"]], ids=["kb", "logs", "staff"])
def test_commands_on_a_database_that_is_behind_say_what_to_run_in_one_line(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    FIRST_RELEASE.create_all(engine)
    engine.dispose()
    with pytest.raises(SystemExit) as caught:
        main([command[0], "--db", url, *command[1:]])
    message = str(caught.value.code)
    assert message.startswith(f"supportbot {command[0]}: error: the database schema is at revision 0001")
    assert message.endswith("run `supportbot db upgrade` first") and "\n" not in message


def test_every_db_command_has_help_with_an_example() -> None:
    groups = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    (sub,) = [a for a in groups[0].choices["db"]._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == {"upgrade", "current", "history", "revision"}
    for name, command in sub.choices.items():
        assert "example:\n  supportbot db " + name in (command.description or ""), name
