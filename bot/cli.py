"""The ``supportbot`` command line: one console script, sub-commands owned by their packages.

Each package that has commands keeps them in its own ``cli`` module, which exposes
``register(commands)``: it adds its sub-parsers and sets ``run`` on each to a handler
``(argparse.Namespace) -> int``. Those modules import their heavy dependencies (torch,
transformers) inside the handlers, so ``supportbot --help``, ``supportbot kb ...`` and
``supportbot serve`` never load a deep-learning framework.

Handlers report a user's mistake by raising ``SystemExit("supportbot ...: error: ...")``:
one clear line on stderr and exit status 1.

Example::

    $ supportbot kb import faq.yaml --dry-run
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# The packages that own sub-commands, in the order their commands appear in --help.
# Listed explicitly (no import-time registration); each is imported only to build the parser.
COMMAND_MODULES: tuple[str, ...] = (
    "knowledge.faq.cli",
    "knowledge.conversations.cli",
    "knowledge.migrations.cli",
    "training.cli",
    "training.retrain_cli",
    "export.cli",
    "bot.commands",
    "bot.console.commands",
    "bot.channels.telegram.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every package's sub-commands registered."""
    parser = argparse.ArgumentParser(
        prog="supportbot",
        description="Customer-service chat bot: FAQ knowledge base, training, export and serving.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # a real missing dependency inside the module: surface it
                raise
            continue  # that package brings no commands yet
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``supportbot`` command and return its exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        # A command group given without its sub-command: show that group's help, then fail.
        try:
            parser.parse_args([*argv, "--help"])
        except SystemExit:
            pass
        return 2
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        # Ctrl-C at a prompt or during a long command: what it was writing is cleaned up on the way
        # out (atomic writes, transactions); one line says so, not a traceback.
        print(f"\nsupportbot {args.command}: interrupted; nothing more was done", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``supportbot kb list | head``): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
