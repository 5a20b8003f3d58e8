"""The data check: what training makes of a team's intents file, counted and explained.

Real data has blank rows, repeated rows, one text labelled two ways, intents with a single
example and the odd pasted e-mail. Training takes all of it and says what it did:

- a row with no text or no label (whitespace only counts as none) is skipped;
- a repeated ``(text, label)`` row is dropped: it would only count that example twice;
- a text labelled two or more ways (texts compared ignoring case and spacing, ``text_key``) is a
  conflict. When one label has a strict majority of the text's rows, its rows are kept and the
  others dropped: several rows agreeing outvote a slip. On a tie every row of the text is dropped:
  nothing says which label is right, and training on both would teach the model to hedge;
- a text over ``LONG_TEXT`` characters is kept (the tokenizer cuts it to ``max_length`` tokens)
  and counted, as it is probably a pasted mail or log rather than a chat message;
- an intent with too few examples to hold one out is trained on but not validated
  (``training.data.split_stratified``); the report names it.

Only what cannot be trained is refused (``training.intents.prepare_splits``): no text or label
column, no usable row, fewer than two intents.

Example::

    checked = check_intents(read_intent_file(Path("train.csv")))
    checked.rows                      # what training uses
    checked.check.duplicates_dropped  # 4
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from training.data import IntentExample, IntentFile, read_intent_file

LONG_TEXT = 2000  # characters; far beyond any max_length in tokens, so such a text is surely cut
CLIP = 60  # characters of a text quoted in a report
SHOWN = 5  # conflicts and line numbers quoted in a one-line warning


def text_key(text: str) -> str:
    """Texts that differ only in case and spacing are the same example.

    >>> text_key("  Where IS my   card ")
    'where is my card'
    """
    return " ".join(text.casefold().split())


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class Conflict:
    """One text with several labels: the rows per label (most first) and the label kept, if any."""

    text: str
    labels: tuple[tuple[str, int], ...]
    kept: str | None

    def describe(self) -> str:
        counts = ", ".join(f"{label} {rows}" for label, rows in self.labels)
        return f"'{clip(self.text)}' labelled {counts}: " + (f"kept {self.kept}" if self.kept else "dropped all")


@dataclass(frozen=True)
class FileCheck:
    """What the check found in one intents file and what it dropped."""

    source: str
    rows_read: int
    empty_lines: tuple[int, ...]
    duplicates_dropped: int
    conflicts: tuple[Conflict, ...]
    conflict_rows_dropped: int
    long_texts: int
    rows_kept: int

    def warnings(self) -> list[str]:
        """One line per finding, e.g. ``train.csv: dropped 4 repeated row(s)``."""
        lines = []
        if self.empty_lines:
            shown = ", ".join(map(str, self.empty_lines[:SHOWN])) + (", ..." if len(self.empty_lines) > SHOWN else "")
            lines.append(f"{self.source}: skipped {len(self.empty_lines)} row(s) with no text or no label "
                         f"(line {shown})")
        if self.duplicates_dropped:
            lines.append(f"{self.source}: dropped {self.duplicates_dropped} repeated row(s)")
        if self.conflicts:
            lines.append(f"{self.source}: {len(self.conflicts)} text(s) have conflicting labels; "
                         f"dropped {self.conflict_rows_dropped} row(s)")
            lines += [f"{self.source}: conflict: {c.describe()}" for c in self.conflicts[:SHOWN]]
            if len(self.conflicts) > SHOWN:
                lines.append(f"{self.source}: {len(self.conflicts) - SHOWN} more conflict(s) in data_report.md")
        if self.long_texts:
            lines.append(f"{self.source}: kept {self.long_texts} text(s) over {LONG_TEXT} characters "
                         "(the tokenizer cuts them to max_length tokens)")
        return lines

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source, "rows_read": self.rows_read, "empty_skipped": len(self.empty_lines),
            "empty_lines": list(self.empty_lines[:100]), "duplicates_dropped": self.duplicates_dropped,
            "conflicts": len(self.conflicts), "conflict_rows_dropped": self.conflict_rows_dropped,
            "conflict_examples": [{"text": clip(c.text), "labels": dict(c.labels), "kept": c.kept}
                                  for c in self.conflicts],
            "long_texts": self.long_texts, "rows_kept": self.rows_kept,
        }  # fmt: skip


@dataclass(frozen=True)
class CheckedIntents:
    rows: list[IntentExample]  # what training uses, in file order
    check: FileCheck


def check_intents(data: IntentFile) -> CheckedIntents:
    """Drop repeated and conflicting rows of ``data`` and count what was dropped and why."""
    votes: dict[str, Counter[str]] = {}
    first: dict[str, str] = {}  # key -> the text as first written
    for row in data.rows:
        key = text_key(row.text)
        votes.setdefault(key, Counter())[row.label] += 1  # repeats vote too: three agreeing rows outvote one
        first.setdefault(key, row.text)
    conflicts: dict[str, Conflict] = {}
    for key, labels in votes.items():
        if len(labels) > 1:
            ranked = tuple(sorted(labels.items(), key=lambda item: (-item[1], item[0])))
            majority = ranked[0][0] if 2 * ranked[0][1] > sum(labels.values()) else None
            conflicts[key] = Conflict(first[key], ranked, majority)
    rows, seen = [], set()
    duplicates = conflict_rows = 0
    for row in data.rows:
        if (row.text, row.label) in seen:
            duplicates += 1
            continue
        seen.add((row.text, row.label))
        conflict = conflicts.get(text_key(row.text))
        if conflict is not None and row.label != conflict.kept:
            conflict_rows += 1
            continue
        rows.append(row)
    long_texts = sum(len(row.text) > LONG_TEXT for row in rows)
    check = FileCheck(str(data.path), data.rows_read, data.empty_lines, duplicates, tuple(conflicts.values()),
                      conflict_rows, long_texts, len(rows))
    return CheckedIntents(rows, check)


def load_intents(path: Path) -> CheckedIntents:
    """Read and check an intents CSV: the rows training uses and what was dropped."""
    return check_intents(read_intent_file(path))


@dataclass(frozen=True)
class DataReport:
    """The data check of every file a training run read, and the intents it could not validate."""

    files: tuple[FileCheck, ...]
    not_validated: dict[str, int]  # label -> training examples, for labels without validation rows
    reason: str  # why they have none, e.g. "too few examples"

    def warnings(self) -> list[str]:
        lines = [line for check in self.files for line in check.warnings()]
        if self.not_validated:
            named = ", ".join(f"{label} ({count})" for label, count in sorted(self.not_validated.items()))
            lines.append(f"not validated: {self.reason}: {named}")
        return lines

    def to_dict(self) -> dict[str, object]:
        return {"files": [check.to_dict() for check in self.files],
                "not_validated": {"reason": self.reason, "labels": dict(sorted(self.not_validated.items()))}}

    def markdown(self) -> str:
        lines = ["# Training data", "", "| file | rows read | skipped empty | repeats dropped | conflicts | "
                 f"conflict rows dropped | over {LONG_TEXT} characters | rows kept |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c.source} | {c.rows_read} | {len(c.empty_lines)} | {c.duplicates_dropped} | "
                  f"{len(c.conflicts)} | {c.conflict_rows_dropped} | {c.long_texts} | {c.rows_kept} |"
                  for c in self.files]
        conflicts = [(c.source, conflict) for c in self.files for conflict in c.conflicts]
        if conflicts:
            lines += ["", "## Conflicting labels", ""] + [f"- {source}: {c.describe()}" for source, c in conflicts]
        named = ", ".join(f"{label} ({count})" for label, count in sorted(self.not_validated.items()))
        lines += ["", f"Not validated ({self.reason}): {named}" if named else "Every intent was validated.", ""]
        return "\n".join(lines)
