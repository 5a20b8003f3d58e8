"""``supportbot staff``: passwords come from a prompt or stdin, never from the command line."""
from __future__ import annotations

import io
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import main
from knowledge.database import Database
from knowledge.staff import StaffAccounts

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[2]


def _run(monkeypatch: pytest.MonkeyPatch, db: Path, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["staff", "--db", str(db), *argv])


def test_add_list_passwd_and_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "kb.db"
    assert _run(monkeypatch, db, "add", "Ana", stdin=PASSWORD + "\n") == 0
    accounts = StaffAccounts(Database.open(f"sqlite:///{db}"))
    assert accounts.sign_in("ana", PASSWORD) is not None
    assert _run(monkeypatch, db, "passwd", "ana", stdin="a new long password\n") == 0
    assert accounts.sign_in("ana", PASSWORD) is None and accounts.sign_in("ana", "a new long password")
    assert _run(monkeypatch, db, "list") == 0
    assert "ana\tactive" in capsys.readouterr().out
    assert _run(monkeypatch, db, "remove", "ana") == 0
    assert accounts.sign_in("ana", "a new long password") is None


def test_prompts_twice_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    tty = io.StringIO()
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", tty)
    with pytest.raises(SystemExit, match="the passwords differ"):
        main(["staff", "--db", str(tmp_path / "kb.db"), "add", "ana"])
    assert StaffAccounts(Database.open(f"sqlite:///{tmp_path / 'kb.db'}")).members() == []


@pytest.mark.parametrize(("key", "status", "line"), [
    ("ctrl-d", 1, "supportbot staff: error: no password given (end of input); nothing was changed"),
    ("ctrl-c", 130, "supportbot staff: interrupted; nothing more was done"),
])
def test_ending_the_terminal_prompt_is_one_line(tmp_path: Path, key: str, status: int, line: str) -> None:
    # A real terminal: getpass reads it. Ctrl-D at its prompt is the end of input; Ctrl-C sends SIGINT.
    primary, secondary = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "bot", "staff", "--db", str(tmp_path / "kb.db"), "add", "ana"],
                             stdin=secondary, stdout=secondary, stderr=secondary, cwd=ROOT, start_new_session=True)
    os.close(secondary)
    try:
        screen = _read_terminal(primary, until=b"password for ana: ")
        if key == "ctrl-d":
            os.write(primary, b"\x04")
        else:
            child.send_signal(signal.SIGINT)
        screen += _read_terminal(primary)
        assert child.wait(timeout=30) == status
    finally:
        child.kill()
        child.wait()
        os.close(primary)
    text = screen.decode()
    assert "Traceback" not in text and text.split("\r\n")[-2:] == [line, ""]
    assert StaffAccounts(Database.open(f"sqlite:///{tmp_path / 'kb.db'}")).members() == []


def _read_terminal(primary: int, until: bytes | None = None, timeout_s: float = 30.0) -> bytes:
    """What the program wrote to its terminal: up to ``until``, or until it closed the terminal."""
    seen, deadline = b"", time.monotonic() + timeout_s
    while until is None or until not in seen:
        ready, _, _ = select.select([primary], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"the terminal showed {seen!r}, not {until!r}, within {timeout_s} s")
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: every end of the terminal's other side is closed
            chunk = b""
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.parametrize(("argv", "stdin", "message"), [
    (("add", "ana"), "short\n", "10-1024 characters"),
    (("add", "a b"), PASSWORD, "staff name"),
    (("passwd", "bob"), PASSWORD, "no staff member 'bob'"),
    (("remove", "bob"), "", "no staff member 'bob'"),
])
def test_mistakes_are_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...],
                                     stdin: str, message: str) -> None:
    with pytest.raises(SystemExit, match=f"^supportbot staff .*error: .*{message}"):
        _run(monkeypatch, tmp_path / "kb.db", *argv, stdin=stdin)


def test_a_second_add_of_the_same_name_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(monkeypatch, tmp_path / "kb.db", "add", "ana", stdin=PASSWORD) == 0
    with pytest.raises(SystemExit, match="already exists"):
        _run(monkeypatch, tmp_path / "kb.db", "add", "ana", stdin=PASSWORD)


def test_no_password_option_exists() -> None:
    with pytest.raises(SystemExit):
        main(["staff", "add", "ana", "--password", PASSWORD])
