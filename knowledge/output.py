"""Files written for people (``kb export``, ``logs export``): at exactly the path they gave.

Nothing is guessed: no extension is added and no directory is made, so a typo in the path is an
error, not a file somewhere else. A new or existing regular file is written whole or not at all
(a temporary file beside it, then a rename). Something else already there that is not a
directory (a named pipe, ``/dev/null``) is written into, because a rename would replace it.
A directory, a missing directory on the way or a failed write raises ``OutputError`` naming the
path; a half-written temporary file is removed.

Example::

    write_output(Path("faq.yaml"), text)    # OutputError: cannot write faq.yaml: ...
"""
from __future__ import annotations

from pathlib import Path

from knowledge.errors import OutputError


def write_output(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, line ends as given) to ``path``; see the module docstring."""
    check_place(path)
    try:
        if path.exists() and not path.is_file():  # a device or a pipe: write into it
            with path.open("w", encoding="utf-8", newline="") as out:
                out.write(text)
            return
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8", newline="")
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def check_place(path: Path) -> None:
    """Raise ``OutputError`` unless ``path`` can be a file: not a directory, in a directory that exists."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory; give a file name")
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"cannot write {path}: the directory {parent} does not exist; create it first")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a directory")
