"""Related questions ("People also ask"): what staff chose per FAQ entry, and what customers
asked next.

Per entry, staff choose ``auto`` (the default), ``off``, or ``pinned`` entries that are shown
first. ``asked_next`` counts, over the conversation log, which entry was answered right after
which in the same conversation: what customers really go on to ask.

Example::

    links = RelatedLinks(Database.open("sqlite:///data/supportbot.db"))
    links.set("return-policy", "pinned", ["how-to-return", "return-label"], author="ana")
    links.all()                      # {"return-policy": Related("pinned", ("how-to-return", ...))}
    links.asked_next()["how-to-return"].most_common(3)
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from knowledge.database import Database, faq_related, turns
from knowledge.errors import InvalidEntry, Problem

MODES = ("auto", "off", "pinned")
MAX_PINNED = 3
RECENT_ANSWERS = 20_000  # of the log, this many latest answers are counted for "asked next"


@dataclass(frozen=True)
class Related:
    mode: str = "auto"
    pinned: tuple[str, ...] = ()


class RelatedLinks:
    def __init__(self, database: Database) -> None:
        self.database = database

    def all(self) -> dict[str, Related]:
        with self.database.connect() as conn:
            rows = conn.execute(select(faq_related.c.faq_id, faq_related.c.mode, faq_related.c.pinned)).all()
        return {row.faq_id: Related(row.mode, tuple(json.loads(row.pinned))) for row in rows}

    def get(self, faq_id: str) -> Related:
        return self.all().get(faq_id, Related())

    def set(self, faq_id: str, mode: str, pinned: Sequence[str], author: str, known: set[str] | None = None) -> Related:
        """Choose what follows ``faq_id``'s answer; ``known`` (the FAQ ids) checks the pinned ones."""
        pinned = tuple(dict.fromkeys(p.strip() for p in pinned if p.strip()))
        problems = []
        if mode not in MODES:
            problems.append(Problem(faq_id, "mode", f"must be one of {', '.join(MODES)}"))
        if mode == "pinned" and not pinned:
            problems.append(Problem(faq_id, "pinned", "name at least one entry to pin"))
        if len(pinned) > MAX_PINNED:
            problems.append(Problem(faq_id, "pinned", f"at most {MAX_PINNED} entries"))
        unknown = [p for p in pinned if p == faq_id or (known is not None and p not in known)]
        if unknown:
            problems.append(Problem(faq_id, "pinned", f"not other FAQ entries: {', '.join(unknown)}"))
        if problems:
            raise InvalidEntry(problems)
        with self.database.begin() as conn:
            conn.execute(delete(faq_related).where(faq_related.c.faq_id == faq_id))
            if mode != "auto":
                conn.execute(insert(faq_related).values(
                    faq_id=faq_id, mode=mode, pinned=json.dumps(list(pinned) if mode == "pinned" else []),
                    updated_at=datetime.now(UTC).isoformat(timespec="milliseconds"), updated_by=author))
        return Related(mode, pinned if mode == "pinned" else ())

    def asked_next(self, limit: int = RECENT_ANSWERS) -> dict[str, Counter[str]]:
        """For each entry, how often each other entry was the next answer in a conversation."""
        query = (select(turns.c.session_id, turns.c.faq_id).where(turns.c.action == "answer",
                                                                   turns.c.faq_id.is_not(None))
                 .order_by(turns.c.id.desc()).limit(limit))
        with self.database.connect() as conn:
            rows = list(conn.execute(query))
        follows: dict[str, Counter[str]] = {}
        last: dict[str, str] = {}  # session -> the entry answered after (rows come newest first)
        for session, faq_id in rows:
            after = last.get(session)
            if after is not None and after != faq_id:
                follows.setdefault(faq_id, Counter())[after] += 1
            last[session] = faq_id
        return follows
