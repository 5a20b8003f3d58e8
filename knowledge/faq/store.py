"""The FAQ store: entries with a full revision history, over one SQL database.

Every change writes a revision (who, when, content before and after). Edits name the
revision they were based on; if the entry moved on meanwhile the edit is refused with
``EditConflict`` instead of silently overwriting someone's work. Removal is a change too:
a removed entry keeps its history and can be restored or reverted.

Example::

    store = FaqStore(Database.open("sqlite:///data/supportbot.db"))
    entry = store.add(FaqEntry("returns", "Can I return an item?", "Yes, within 30 days."), "ana")
    store.edit("returns", base_revision=entry.revision, author="ben", answer="Yes, 60 days.")
    store.revert("returns", to_revision=1, author="ana")
"""
from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from knowledge.database import Database, faq_entries, faq_revisions
from knowledge.errors import EditConflict, EntryExists, EntryNotFound, InvalidEntry, Problem
from knowledge.faq.entry import (
    CONTENT_FIELDS,
    FaqEntry,
    entry_from_content,
    normalise_entry,
    validate_entry,
)

EDITABLE_FIELDS = tuple(name for name in CONTENT_FIELDS if name != "faq_id")


@dataclass(frozen=True)
class Revision:
    """One change to one entry; ``before``/``after`` are None when it was created/removed."""

    number: int  # position among all changes of the knowledge base
    faq_id: str
    revision: int  # the entry's own revision after this change
    action: str
    author: str
    created_at: str
    before: FaqEntry | None
    after: FaqEntry | None


@dataclass(frozen=True)
class ImportPlan:
    """What an import changes, by FAQ id."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.removed)


class FaqStore:
    """FAQ entries and revisions in one database (see ``knowledge.database``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- reading -------------------------------------------------------------------------

    def list(self, include_removed: bool = False) -> list[FaqEntry]:
        """All entries ordered by id, disabled ones included, removed ones only on request."""
        query = select(faq_entries).order_by(faq_entries.c.faq_id)
        if not include_removed:
            query = query.where(faq_entries.c.deleted.is_(False))
        with self.database.connect() as conn:
            return [_entry_from_row(row) for row in conn.execute(query).mappings()]

    def get(self, faq_id: str) -> FaqEntry:
        with self.database.connect() as conn:
            row = _fetch(conn, faq_id)
        if row is None or row["deleted"]:
            raise EntryNotFound(f"no FAQ entry {faq_id!r}" + (" (it was removed; restore it "
                                "or revert to an earlier revision)" if row is not None else ""))
        return _entry_from_row(row)

    # ``list`` below names the method inside this class: ``builtins.list`` is the type.
    def history(self, faq_id: str) -> builtins.list[Revision]:
        """Every change to ``faq_id``, oldest first."""
        query = (select(faq_revisions).where(faq_revisions.c.faq_id == faq_id)
                 .order_by(faq_revisions.c.revision))
        with self.database.connect() as conn:
            revisions = [_revision_from_row(row) for row in conn.execute(query).mappings()]
        if not revisions:
            raise EntryNotFound(f"no FAQ entry {faq_id!r}")
        return revisions

    def kb_revision(self) -> int:
        """The number of the newest change to any entry (0 for an empty knowledge base)."""
        with self.database.connect() as conn:
            return int(conn.execute(select(func.max(faq_revisions.c.id))).scalar() or 0)

    def changed_since(self, kb_revision: int) -> builtins.list[str]:
        """Ids of the entries changed after knowledge-base revision ``kb_revision``."""
        query = (select(faq_revisions.c.faq_id).where(faq_revisions.c.id > kb_revision)
                 .distinct().order_by(faq_revisions.c.faq_id))
        with self.database.connect() as conn:
            return list(conn.execute(query).scalars())

    # -- changing ------------------------------------------------------------------------

    def add(self, entry: FaqEntry, author: str) -> FaqEntry:
        """Create a new entry; ``EntryExists`` if the id is taken (removed entries included)."""
        entry = _checked(entry)
        with self.database.begin() as conn:
            existing = _fetch(conn, entry.faq_id)
            if existing is not None:
                hint = " (removed: restore it instead)" if existing["deleted"] else ""
                raise EntryExists(f"FAQ entry {entry.faq_id!r} already exists{hint}")
            return _create(conn, entry, author, "create")

    def edit(self, faq_id: str, base_revision: int, author: str, **changes: object) -> FaqEntry:
        """Change some fields of an entry that is still at ``base_revision``."""
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise InvalidEntry([Problem(f"entry {faq_id!r}", name, "not an editable field; expected "
                                        f"some of {', '.join(EDITABLE_FIELDS)}") for name in unknown])
        with self.database.begin() as conn:
            current = _entry_from_row(_require(conn, faq_id))
            updated = _checked(current.with_changes(**changes))
            return _write(conn, current, updated, base_revision, author, "edit")

    def remove(self, faq_id: str, author: str, base_revision: int | None = None) -> FaqEntry:
        """Remove an entry (its history stays); returns it as it was."""
        with self.database.begin() as conn:
            current = _entry_from_row(_require(conn, faq_id))
            base = current.revision if base_revision is None else base_revision
            _write(conn, current, None, base, author, "remove")
            return current

    def restore(self, faq_id: str, author: str) -> FaqEntry:
        """Bring back a removed entry with the content it had when removed."""
        with self.database.begin() as conn:
            row = _fetch(conn, faq_id)
            if row is None:
                raise EntryNotFound(f"no FAQ entry {faq_id!r}")
            if not row["deleted"]:
                raise EntryExists(f"FAQ entry {faq_id!r} is not removed")
            return _write(conn, None, _entry_from_row(row), row["revision"], author, "restore")

    def revert(self, faq_id: str, to_revision: int, author: str) -> FaqEntry | None:
        """Make the entry what it was after ``to_revision`` (None if that was a removal)."""
        with self.database.begin() as conn:
            row = _fetch(conn, faq_id)
            target = conn.execute(select(faq_revisions).where(
                faq_revisions.c.faq_id == faq_id, faq_revisions.c.revision == to_revision
            )).mappings().first()
            if row is None or target is None:
                raise EntryNotFound(f"FAQ entry {faq_id!r} has no revision {to_revision}")
            current = None if row["deleted"] else _entry_from_row(row)
            wanted = _revision_from_row(target).after
            if wanted is None and current is None:
                return None  # already removed, as it was then
            if wanted is not None:
                wanted = _checked(wanted)
            _write(conn, current, wanted, row["revision"], author, "revert")
            return None if wanted is None else _entry_from_row(_require(conn, faq_id))

    # -- import --------------------------------------------------------------------------

    def plan_import(self, entries: Sequence[FaqEntry], prune: bool = False) -> ImportPlan:
        """What ``import_entries`` would change, without changing anything."""
        with self.database.connect() as conn:
            return _plan(conn, [normalise_entry(e) for e in entries], prune)

    def import_entries(self, entries: Sequence[FaqEntry], author: str,
                       prune: bool = False) -> ImportPlan:
        """Create or update every entry in one transaction: all of them or none.

        Entries are validated first (``InvalidEntry`` lists every problem). With ``prune``,
        entries missing from ``entries`` are removed.
        """
        entries = [normalise_entry(e) for e in entries]
        problems = [p for e in entries for p in validate_entry(e, f"entry {e.faq_id!r}")
                    if p.severity == "error"]
        if problems:
            raise InvalidEntry(problems)
        new = {e.faq_id: e for e in entries}
        with self.database.begin() as conn:
            plan = _plan(conn, entries, prune)
            for faq_id in plan.created + plan.updated:
                row = _fetch(conn, faq_id)
                if row is None:
                    _create(conn, new[faq_id], author, "import")
                else:
                    current = None if row["deleted"] else _entry_from_row(row)
                    _write(conn, current, new[faq_id], row["revision"], author, "import")
            for faq_id in plan.removed:
                current = _entry_from_row(_require(conn, faq_id))
                _write(conn, current, None, current.revision, author, "import")
        return plan


def _plan(conn: Connection, entries: Sequence[FaqEntry], prune: bool) -> ImportPlan:
    rows = {row["faq_id"]: row for row in conn.execute(select(faq_entries)).mappings()}
    created, updated, unchanged = [], [], []
    for entry in entries:
        row = rows.get(entry.faq_id)
        if row is None or row["deleted"]:
            created.append(entry.faq_id)
        elif _entry_from_row(row).same_content(entry):
            unchanged.append(entry.faq_id)
        else:
            updated.append(entry.faq_id)
    wanted = {e.faq_id for e in entries}
    removed = sorted(i for i, r in rows.items() if prune and not r["deleted"] and i not in wanted)
    return ImportPlan(tuple(created), tuple(updated), tuple(unchanged), tuple(removed))


def _create(conn: Connection, entry: FaqEntry, author: str, action: str) -> FaqEntry:
    now = _now()
    conn.execute(insert(faq_entries).values(
        **_row_values(entry), deleted=False, revision=1, updated_at=now, updated_by=author))
    _record(conn, entry.faq_id, 1, action, author, now, None, entry)
    return entry.with_changes(revision=1, updated_at=now, updated_by=author)


def _write(conn: Connection, before: FaqEntry | None, after: FaqEntry | None,
           base_revision: int, author: str, action: str) -> FaqEntry:
    """Apply one change if the entry is still at ``base_revision``; record the revision."""
    entry = after or before
    if entry is None:
        raise ValueError("a change needs the entry as it was or as it becomes")
    faq_id, now = entry.faq_id, _now()
    values = {"revision": base_revision + 1, "updated_at": now, "updated_by": author,
              "deleted": after is None}
    if after is not None:
        values.update(_row_values(after))
    result = conn.execute(update(faq_entries).where(
        faq_entries.c.faq_id == faq_id, faq_entries.c.revision == base_revision
    ).values(**values))
    if result.rowcount != 1:
        current = conn.execute(select(faq_entries.c.revision).where(
            faq_entries.c.faq_id == faq_id)).scalar()
        raise EditConflict(faq_id, base_revision, int(current or 0))
    _record(conn, faq_id, base_revision + 1, action, author, now, before, after)
    return entry.with_changes(revision=base_revision + 1, updated_at=now, updated_by=author)


def _record(conn: Connection, faq_id: str, revision: int, action: str, author: str, now: str,
            before: FaqEntry | None, after: FaqEntry | None) -> None:
    conn.execute(insert(faq_revisions).values(
        faq_id=faq_id, revision=revision, action=action, author=author, created_at=now,
        before=None if before is None else json.dumps(before.content(), ensure_ascii=False),
        after=None if after is None else json.dumps(after.content(), ensure_ascii=False),
    ))


def _checked(entry: FaqEntry) -> FaqEntry:
    entry = normalise_entry(entry)
    errors = [p for p in validate_entry(entry, f"entry {entry.faq_id!r}") if p.severity == "error"]
    if errors:
        raise InvalidEntry(errors)
    return entry


def _fetch(conn: Connection, faq_id: str) -> RowMapping | None:
    return conn.execute(select(faq_entries).where(faq_entries.c.faq_id == faq_id)).mappings().first()


def _require(conn: Connection, faq_id: str) -> RowMapping:
    row = _fetch(conn, faq_id)
    if row is None or row["deleted"]:
        raise EntryNotFound(f"no FAQ entry {faq_id!r}")
    return row


def _row_values(entry: FaqEntry) -> dict[str, object]:
    return {
        "faq_id": entry.faq_id, "question": entry.question, "answer": entry.answer,
        "alternatives": json.dumps(list(entry.alternatives), ensure_ascii=False),
        "tags": json.dumps(list(entry.tags), ensure_ascii=False),
        "language": entry.language, "enabled": entry.enabled,
    }


def _entry_from_row(row: RowMapping) -> FaqEntry:
    return FaqEntry(
        faq_id=row["faq_id"], question=row["question"], answer=row["answer"],
        alternatives=tuple(json.loads(row["alternatives"])), tags=tuple(json.loads(row["tags"])),
        language=row["language"], enabled=bool(row["enabled"]), revision=row["revision"],
        updated_at=row["updated_at"], updated_by=row["updated_by"],
    )


def _revision_from_row(row: RowMapping) -> Revision:
    def snapshot(text: str | None) -> FaqEntry | None:
        return None if text is None else entry_from_content(json.loads(text))

    return Revision(row["id"], row["faq_id"], row["revision"], row["action"], row["author"],
                    row["created_at"], snapshot(row["before"]), snapshot(row["after"]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
