"""Where the database is: a SQLite file that ``SUPPORTBOT_DB`` or ``--db`` names must be in a
directory that exists, or every command says so in one line naming the setting (a typo would
otherwise start a new, empty database); the default file's directory is made on first use."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from knowledge.database import Database
from knowledge.faq.store import FaqStore

# Every command that opens the database: (its name in errors, arguments before --db, after it).
COMMANDS = [
    ("kb", ["kb"], ["list"]),
    ("logs", ["logs"], ["export", "--format", "csv", "--output", "turns.csv"]),
    ("staff", ["staff"], ["list"]),
    ("routing", ["routing"], ["list"]),
    ("db", ["db"], ["upgrade"]),
    ("db", ["db"], ["current"]),
    ("retrain", ["retrain"], ["--dry-run"]),
]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUPPORTBOT_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def error_of(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    return str(caught.value.code)


@pytest.mark.parametrize(("name", "before", "after"), COMMANDS, ids=[" ".join(c[1] + c[2][:1]) for c in COMMANDS])
def test_a_database_in_no_directory_is_one_line_naming_the_setting(
    name: str, before: list[str], after: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no" / "such"
    expected = f"the directory {missing} of the SQLite database does not exist; create it, or correct the path"
    monkeypatch.setenv("SUPPORTBOT_DB", str(missing / "x.db"))
    assert error_of([*before, *after]) == f"supportbot {name}: error: SUPPORTBOT_DB: {expected}"
    monkeypatch.delenv("SUPPORTBOT_DB")
    assert error_of([*before, "--db", f"sqlite:///{missing / 'x.db'}", *after]) == \
        f"supportbot {name}: error: --db: {expected}"
    assert not (tmp_path / "no").exists() and not (tmp_path / "data").exists()


def test_the_default_database_is_made_on_first_use_and_a_named_one_in_a_directory_that_exists(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0  # `make db` on a new checkout: no data directory yet
    assert main(["kb", "add", "x", "--question", "Q?", "--answer", "A."]) == 0
    assert [e.faq_id for e in FaqStore(Database.open(f"sqlite:///{data_dir / 'supportbot.db'}")).list()] == ["x"]
    monkeypatch.setenv("SUPPORTBOT_DB", str(tmp_path / "elsewhere.db"))
    assert main(["kb", "list"]) == 0
    assert "0 entries" in capsys.readouterr().err and (tmp_path / "elsewhere.db").is_file()


@pytest.mark.parametrize(("name", "before", "after"), COMMANDS, ids=[" ".join(c[1] + c[2][:1]) for c in COMMANDS])
def test_a_database_setting_that_is_no_url_is_one_line_naming_the_setting(
    name: str, before: list[str], after: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_DB", "://x")
    assert error_of([*before, *after]) == \
        f"supportbot {name}: error: SUPPORTBOT_DB: '://x' is neither a database URL nor a file path"
    monkeypatch.setenv("SUPPORTBOT_DB", "sqlite+nope:///x.db")
    assert error_of([*before, *after]) == (f"supportbot {name}: error: SUPPORTBOT_DB: 'sqlite+nope:///x.db' names a "
                                           "database engine or driver that is not installed (sqlite or "
                                           "postgresql+psycopg)")


def test_a_sqlite_uri_is_not_taken_for_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge.location import checked_url

    url = f"sqlite:///file:{tmp_path / 'kb.db'}?uri=true"
    assert checked_url(url, "SUPPORTBOT_DB") == url
