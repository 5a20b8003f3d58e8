"""``export.cli`` is imported by every ``supportbot`` command: it must not load torch or Optimum."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_export_cli_imports_no_heavy_framework() -> None:
    script = ("import sys, export.cli; print(sorted(m for m in sys.modules "
              "if m.split('.')[0] in {'torch', 'transformers', 'optimum', 'onnx'}))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_command_has_help_and_an_example() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]  # argparse's private _subparsers is Optional
    bundles = commands["bundles"]._subparsers._group_actions[0].choices  # type: ignore[union-attr]  # argparse's private _subparsers is Optional
    for parser in (commands["export"], commands["bundles"], bundles["list"], bundles["activate"]):
        assert "example" in (parser.epilog or ""), parser.prog
        assert parser.format_help()
