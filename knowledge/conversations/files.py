"""Conversation logs as files: export turns for teams who label elsewhere, import their labels.

Export (CSV or JSON lines): one row per turn with what the bot saw and did; CSV cells that a
spreadsheet would run as a formula start with an apostrophe (``knowledge.faq.formats.neutralise_cell``). Import (CSV or JSON
lines): ``turn_id,kind,value`` rows, ``kind`` one of ``intent``, ``faq``, ``new_faq``,
``out_of_scope``, ``dismissed`` (as in ``knowledge.conversations.reviews``). Like the FAQ import, every row is
checked first and every bad row is reported (file, line, field); then all labels are applied in
one transaction, or none.

Example::

    write_turns(log.turns(limit=100_000), Path("turns.jsonl"))
    rows = read_labels(Path("labels.csv"), pending_ids={...}, faq_ids={...})
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from knowledge.conversations.log import LoggedTurn
from knowledge.conversations.reviews import INTENT_PATTERN, KINDS, NEEDS_VALUE
from knowledge.errors import FaqFileError, Problem
from knowledge.faq.formats import neutralise_cell
from knowledge.output import write_output

TURN_COLUMNS = ("turn_id", "created_at", "session_id", "channel", "text", "action", "intent", "confidence",
                "in_scope", "faq_id", "faq_score", "reply", "bundle_version", "latency_ms", "feedback", "review")
LABEL_COLUMNS = ("turn_id", "kind", "value")
FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


def turn_row(turn: LoggedTurn) -> dict[str, object]:
    record = turn.record
    return {"turn_id": turn.id, "created_at": record.created_at, "session_id": record.session_id,
            "channel": record.channel, "text": record.text, "action": record.action, "intent": record.intent,
            "confidence": record.confidence, "in_scope": record.in_scope, "faq_id": record.faq_id,
            "faq_score": record.faq_score, "reply": record.reply, "bundle_version": record.bundle_version,
            "latency_ms": record.latency_ms, "feedback": turn.feedback, "review": turn.review}


def write_turns(turns: Sequence[LoggedTurn], path: Path, kind: str) -> None:
    """Write turns as ``csv`` or ``jsonl`` at exactly ``path`` (``knowledge.output``: ``OutputError``
    when it cannot be written there)."""
    rows = [turn_row(t) for t in turns]
    if kind == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, TURN_COLUMNS, lineterminator="\n")
        writer.writeheader()
        # a customer's text must not become a live formula in a staff member's spreadsheet
        writer.writerows({k: "" if v is None else neutralise_cell(v) if isinstance(v, str) else v
                          for k, v in row.items()} for row in rows)
        text = out.getvalue()
    write_output(path, text)


def read_labels(path: Path, pending_ids: set[int], faq_ids: set[str]) -> list[tuple[int, str, str | None]]:
    """``(turn_id, kind, value)`` rows of a label file; ``FaqFileError`` lists every bad row."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FaqFileError(str(path), [Problem(str(path), "", "expected a .csv or .jsonl file")])
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise FaqFileError(str(path), [Problem(str(path), "", f"cannot read: {error.strerror}")]) from None
    except UnicodeDecodeError:
        raise FaqFileError(str(path), [Problem(str(path), "", "not valid UTF-8")]) from None
    records = _jsonl(text, str(path)) if kind == "jsonl" else _csv(text, str(path))
    problems: list[Problem] = []
    labels: list[tuple[int, str, str | None]] = []
    seen: set[int] = set()
    for location, record in records:
        label = _label(record, location, pending_ids, faq_ids, seen, problems)
        if label is not None:
            labels.append(label)
    if not records:
        problems.append(Problem(str(path), "", "no label rows"))
    if problems:
        raise FaqFileError(str(path), problems)
    return labels


def _csv(text: str, name: str) -> list[tuple[str, dict[str, object]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    wrong = [Problem(f"{name}, line 1", "", f"missing column {c!r}") for c in LABEL_COLUMNS[:2] if c not in columns]
    if wrong:
        raise FaqFileError(name, wrong)
    return [(f"{name}, line {i}", dict(row)) for i, row in enumerate(reader, start=2)]


def _jsonl(text: str, name: str) -> list[tuple[str, dict[str, object]]]:
    records: list[tuple[str, dict[str, object]]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(f"{name}, line {number}", "", f"not valid JSON: {error.msg}"))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(f"{name}, line {number}", "", "expected a JSON object"))
            continue
        records.append((f"{name}, line {number}", value))
    if problems:
        raise FaqFileError(name, problems)
    return records


def _label(record: dict[str, object], location: str, pending_ids: set[int], faq_ids: set[str], seen: set[int],
           problems: list[Problem]) -> tuple[int, str, str | None] | None:
    before = len(problems)
    raw_id, kind, value = record.get("turn_id"), str(record.get("kind") or "").strip(), record.get("value")
    value = None if value in (None, "") else str(value).strip()
    try:
        turn_id = int(str(raw_id))
    except ValueError:
        problems.append(Problem(location, "turn_id", f"expected a turn number, got {raw_id!r}"))
        return None
    if turn_id in seen:
        problems.append(Problem(location, "turn_id", f"turn {turn_id} is labelled twice in this file"))
    elif turn_id not in pending_ids:
        problems.append(Problem(location, "turn_id", f"turn {turn_id} is not waiting for review"))
    if kind not in KINDS:
        problems.append(Problem(location, "kind", f"expected one of {', '.join(KINDS)}, got {kind!r}"))
    elif kind in NEEDS_VALUE and not value:
        problems.append(Problem(location, "value", f"a {kind!r} label needs a value"))
    elif kind == "intent" and not INTENT_PATTERN.match(value or ""):
        problems.append(Problem(location, "value", f"not an intent name: {value!r}"))
    elif kind == "faq" and value not in faq_ids:
        problems.append(Problem(location, "value", f"no FAQ entry {value!r}"))
    seen.add(turn_id)
    return (turn_id, kind, value if kind in NEEDS_VALUE else None) if len(problems) == before else None
