"""The FAQ entry form: from submitted fields to store changes, problems by field, and diffs.

An entry is shown as lines (question, each alternative, the answer's lines, tags, enabled) so
``difflib`` can show what a revision changed, or how a stale edit differs from what is saved.

Example::

    fields = EntryForm.from_form(await request.post())
    store.edit(faq_id, fields.base_revision, "ana", **fields.changes())
    diff_lines(old_entry, new_entry)     # [DiffLine("del", "answer: ..."), DiffLine("add", ...)]
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from bot.http import parse_number
from knowledge.errors import Problem
from knowledge.faq.entry import FaqEntry, normalise_entry


@dataclass(frozen=True)
class EntryForm:
    """What a person typed into the entry form (text, as typed)."""

    faq_id: str = ""
    question: str = ""
    alternatives: str = ""  # one per line
    answer: str = ""
    tags: str = ""  # comma-separated
    language: str = "en"
    enabled: bool = True
    base_revision: int | None = None

    @classmethod
    def from_form(cls, form: Mapping[str, object]) -> EntryForm:
        raw = str(form.get("base_revision", ""))
        return cls(
            faq_id=str(form.get("faq_id", "")).strip(),
            question=str(form.get("question", "")),
            alternatives=str(form.get("alternatives", "")),
            answer=str(form.get("answer", "")),
            tags=str(form.get("tags", "")),
            language=str(form.get("language", "")).strip() or "en",
            enabled="enabled" in form,
            base_revision=parse_number(raw),
        )

    @classmethod
    def from_entry(cls, entry: FaqEntry) -> EntryForm:
        return cls(entry.faq_id, entry.question, "\n".join(entry.alternatives), entry.answer,
                   ", ".join(entry.tags), entry.language, entry.enabled, entry.revision)

    def changes(self) -> dict[str, object]:
        """The editable fields as the store takes them."""
        return {
            "question": self.question.strip(),
            "alternatives": tuple(line.strip() for line in self.alternatives.splitlines() if line.strip()),
            "answer": self.answer.replace("\r\n", "\n"),
            "tags": tuple(tag.strip() for tag in self.tags.split(",") if tag.strip()),
            "language": self.language,
            "enabled": self.enabled,
        }

    def entry(self) -> FaqEntry:
        """The entry this form describes (for a new entry, or to compare with a saved one)."""
        return normalise_entry(FaqEntry(self.faq_id, "", "").with_changes(**self.changes()))


def problems_by_field(problems: list[Problem]) -> dict[str, list[str]]:
    """``alternatives[3]: must not be empty`` -> ``{"alternatives": ["line 3: must not be empty"]}``."""
    fields: dict[str, list[str]] = {}
    for problem in problems:
        name, _, number = problem.field.partition("[")
        prefix = f"line {number.rstrip(']')}: " if number else ""
        fields.setdefault(name or "form", []).append(prefix + problem.message)
    return fields


def entry_lines(entry: FaqEntry | None) -> list[str]:
    """An entry as lines a person can read and ``difflib`` can compare."""
    if entry is None:
        return []
    lines = [f"question: {entry.question}"]
    lines += [f"alternative: {alternative}" for alternative in entry.alternatives]
    lines += [f"answer: {line}" for line in entry.answer.splitlines() or [""]]
    lines += [f"tags: {', '.join(entry.tags)}", f"language: {entry.language}",
              f"enabled: {'yes' if entry.enabled else 'no'}"]
    return lines


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "same" | "gap"
    text: str


def diff_lines(before: FaqEntry | None, after: FaqEntry | None, context: int = 2) -> list[DiffLine]:
    """What changed from ``before`` to ``after``, with ``context`` unchanged lines around."""
    old, new = entry_lines(before), entry_lines(after)
    lines: list[DiffLine] = []
    for group in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", text) for text in old[i1:i2]]
                continue
            lines += [DiffLine("del", text) for text in old[i1:i2]]
            lines += [DiffLine("add", text) for text in new[j1:j2]]
    return lines
