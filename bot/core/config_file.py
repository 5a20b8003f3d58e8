"""Reading the bot's YAML configuration files (routing, intent phrases, other companies).

Example::

    data = read_yaml(Path("routing.yaml"), RoutingError, "the routing table")
"""
from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml(path: Path, error: type[Exception], what: str) -> object:
    """The parsed file, or ``error`` naming the file and ``what`` it holds when it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as problem:
        raise error(f"{path}: cannot read {what}: {problem}") from None
