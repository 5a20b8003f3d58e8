"""``supportbot staff``: accounts for the staff console.

Passwords are never taken from the command line (it shows in ``ps`` and shell history): they
are asked for twice on a terminal, or read as the first line of standard input otherwise.

Example::

    $ supportbot staff add ana
    $ printf '%s\\n' "$PASSWORD" | supportbot staff passwd ana
"""
from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported inside the handlers at run time: ``--help`` stays quick
    from knowledge.errors import KnowledgeError
    from knowledge.staff import StaffAccounts

PREFIX = "supportbot staff"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``staff`` and ``routing`` (``bot.console.routing_commands``) to the root parser."""
    from bot.console import routing_commands

    routing_commands.register(commands)
    staff = commands.add_parser("staff", help="accounts of the support staff who use the web console",
                                description="Accounts for the staff console at /console.")
    staff.add_argument("--db", help="database URL or SQLite file (default: $SUPPORTBOT_DB, "
                                    "else $SUPPORTBOT_DATA_DIR/supportbot.db)")
    sub = staff.add_subparsers(dest="staff_command", metavar="COMMAND")

    def command(name: str, help_text: str, example: str,
                run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=f"{help_text}.\n\nexample:\n  {example}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.set_defaults(run=run)
        return parser

    command("add", "create an account (the password is asked for, or read from stdin)",
            "supportbot staff add ana", run_add).add_argument("name")
    command("passwd", "set a new password (signs the person out everywhere)",
            "supportbot staff passwd ana", run_passwd).add_argument("name")
    command("remove", "stop a person from signing in (their history stays)",
            "supportbot staff remove ana", run_remove).add_argument("name")
    command("list", "list the accounts", "supportbot staff list", run_list)


def run_add(args: argparse.Namespace) -> int:
    from knowledge.staff import check_name, check_password

    accounts, errors = _accounts(args)
    try:
        name = check_name(args.name)
        accounts.add(name, check_password(_read_password(name)))
    except errors as error:
        raise SystemExit(f"{PREFIX} add: error: {error}") from None
    print(f"added {name}; they can sign in at /console/signin")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    from knowledge.staff import check_password, normalise_name

    accounts, errors = _accounts(args)
    name = normalise_name(args.name)
    try:
        if name not in {m.name for m in accounts.members()}:
            raise SystemExit(f"{PREFIX} passwd: error: no staff member {name!r}")
        accounts.set_password(name, check_password(_read_password(name)))
    except errors as error:
        raise SystemExit(f"{PREFIX} passwd: error: {error}") from None
    print(f"changed the password of {name}; their sessions were ended")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    accounts, errors = _accounts(args)
    try:
        accounts.deactivate(args.name)
    except errors as error:
        raise SystemExit(f"{PREFIX} remove: error: {error}") from None
    print(f"{args.name.strip().lower()} can no longer sign in")
    return 0


def run_list(args: argparse.Namespace) -> int:
    accounts, _ = _accounts(args)
    for member in accounts.members():
        print(f"{member.name}\t{'active' if member.active else 'removed'}\tsince {member.created_at[:10]}")
    return 0


def _accounts(args: argparse.Namespace) -> tuple[StaffAccounts, type[KnowledgeError]]:
    """The accounts in ``--db`` and the errors to report as one line.

    A command is one short run: its database closes when the process exits.
    """
    from knowledge.database import open_database
    from knowledge.errors import KnowledgeError
    from knowledge.staff import StaffAccounts

    return StaffAccounts(open_database(args.db, PREFIX)), KnowledgeError


def _read_password(name: str) -> str:
    """Twice on a terminal (they must match); else the first line of standard input."""
    if sys.stdin.isatty():
        try:
            password = getpass.getpass(f"password for {name}: ")
            again = getpass.getpass("again: ")
        except EOFError:  # Ctrl-D at the prompt
            print(file=sys.stderr)  # ends the prompt's line
            raise SystemExit(f"{PREFIX}: error: no password given (end of input); nothing was changed") from None
        if again != password:
            raise SystemExit(f"{PREFIX}: error: the passwords differ; nothing was changed")
        return password
    return sys.stdin.readline().rstrip("\r\n")
