"""Errors raised by the knowledge package.

::

    KnowledgeError
    ├── EntryNotFound        no FAQ entry (or revision) with that id
    ├── EntryExists          an entry with that id already exists
    ├── EditConflict         the edit was based on an old revision; someone changed it meanwhile
    ├── InvalidEntry         one entry failed validation (lists every problem)
    ├── FaqFileError         an import file failed validation (lists every bad row)
    ├── FaqIndexError        a saved FAISS index is unreadable or does not match
    │   └── IndexMismatch    built with another encoder or from another FAQ revision
    ├── OutputError          a file a person asked for cannot be written at that path
    └── DatabaseLocationError  a SQLite file named in the settings is in no existing directory

Every message names what was expected and what came, so the CLI can print it as one line
and the admin API can return it as a 4xx reason.
"""
from __future__ import annotations

from dataclasses import dataclass


class KnowledgeError(Exception):
    """Base class of every error the knowledge package raises on purpose."""


class EntryNotFound(KnowledgeError):
    pass


class EntryExists(KnowledgeError):
    pass


class EditConflict(KnowledgeError):
    """A change based on ``base_revision`` while the entry is at ``current_revision``."""

    def __init__(self, faq_id: str, base_revision: int, current_revision: int) -> None:
        self.faq_id = faq_id
        self.base_revision = base_revision
        self.current_revision = current_revision
        super().__init__(
            f"conflict: FAQ entry {faq_id!r} is at revision {current_revision}, but the change "
            f"was based on revision {base_revision}; reload it, reapply your change and save again"
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field, at a place a person can find (``faq.csv, line 7``)."""

    location: str
    field: str
    message: str
    severity: str = "error"  # "error" blocks the change; "warning" is reported only

    def __str__(self) -> str:
        where = f"{self.location}, field {self.field!r}" if self.field else self.location
        return f"{where}: {self.severity}: {self.message}"


class _ProblemsError(KnowledgeError):
    def __init__(self, summary: str, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        lines = "\n".join(f"  {p}" for p in errors)
        super().__init__(f"{summary} ({len(errors)} error(s)):\n{lines}")


class InvalidEntry(_ProblemsError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("invalid FAQ entry", problems)


class FaqFileError(_ProblemsError):
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        super().__init__(f"{path}: nothing was imported", problems)


class FaqIndexError(KnowledgeError):
    pass


class IndexMismatch(FaqIndexError):
    pass


class OutputError(KnowledgeError):
    pass


class DatabaseLocationError(KnowledgeError):
    pass
