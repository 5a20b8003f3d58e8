"""Training data: CSV loading with clear errors, stratified splits and fingerprints.

Formats (UTF-8 CSV with a header row):

- intents: ``text,label``; out-of-scope rows are labelled ``oos``. Rows with an empty text or
  label are skipped; training also drops repeats and conflicts (``training.datacheck``).
- FAQ: ``faq_id,question,answer`` and optionally ``alternatives``: more phrasings of the
  question, one per line or separated by ``|`` (the knowledge base's CSV dialect,
  ``knowledge.faq.formats``, which reads and writes the cells here too).
- queries: ``query,faq_id``.

Example::

    rows = read_intents(Path("train.csv"))
    train, valid = split_stratified(rows, fraction=0.1, max_rows=500, seed=42)
"""
from __future__ import annotations

import csv
import hashlib
import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.faq.entry import FaqEntry  # the same entry the knowledge base stores
from knowledge.faq.formats import REQUIRED as FAQ_REQUIRED
from knowledge.faq.formats import csv_text, split_alternatives
from training.errors import TrainingInputError


@dataclass(frozen=True)
class IntentExample:
    text: str
    label: str


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    faq_id: str


def _records(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Every data row of a CSV with its 1-based line number, fields stripped; the header must
    name the ``required`` columns. Errors name the file and line."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # spreadsheets save UTF-8 with a byte order mark
    except OSError as error:
        raise TrainingInputError(f"{path}: cannot read file ({error.strerror})") from error
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
            if header is None:
                raise TrainingInputError(f"{path}: file is empty; expected a header row {','.join(required)}")
            missing = [name for name in required if name not in header]
            if missing:
                raise TrainingInputError(
                    f"{path}: missing column(s) {', '.join(missing)}; "
                    f"expected {','.join(required)}, found {','.join(h or '?' for h in header)}"
                )
            records = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
                       for row in reader]
        except UnicodeDecodeError as error:
            raise TrainingInputError(f"{path}: not UTF-8 text ({error.reason})") from error
        except csv.Error as error:
            raise TrainingInputError(f"{path}: line {reader.line_num}: {error}") from error
    if not records:
        raise TrainingInputError(f"{path}: no data rows after the header")
    return records


def read_rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Read a CSV into dicts, checking the header and that no required field is empty.

    Errors name the file, the 1-based line and the field.
    """
    records = _records(path, required)
    for line, row in records:
        for name in required:
            if not row.get(name):
                raise TrainingInputError(f"{path}: line {line}: field '{name}' is empty")
    return [row for _, row in records]


@dataclass(frozen=True)
class IntentFile:
    """The usable rows of an intents CSV, and the lines skipped for an empty text or label."""

    path: Path
    rows: list[IntentExample]
    empty_lines: tuple[int, ...]

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.empty_lines)


def read_intent_file(path: Path) -> IntentFile:
    """Read an intents CSV (``text,label``), skipping rows whose text or label is empty or blank.

    A missing column, or no row with both a text and a label, is an error.
    """
    rows, empty = [], []
    for line, row in _records(path, ("text", "label")):
        if row["text"] and row["label"]:
            rows.append(IntentExample(row["text"], row["label"]))
        else:
            empty.append(line)
    if not rows:
        raise TrainingInputError(f"{path}: none of its {len(empty)} row(s) has both a text and a label")
    return IntentFile(Path(path), rows, tuple(empty))


def read_intents(path: Path) -> list[IntentExample]:
    """Read an intents CSV (``text,label``) as it is, rows without a text or label skipped.

    Evaluation reads test sets this way (repeats kept, as published); training also drops repeats
    and conflicts (``training.datacheck``).
    """
    return read_intent_file(path).rows


def read_faq(path: Path) -> list[FaqEntry]:
    """Read a FAQ CSV (``faq_id,question,answer[,alternatives]``); ids must be unique."""
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for number, row in enumerate(read_rows(path, FAQ_REQUIRED), start=2):
        if row["faq_id"] in seen:
            raise TrainingInputError(f"{path}: row {number}: duplicate faq_id '{row['faq_id']}'")
        seen.add(row["faq_id"])
        alternatives = split_alternatives(row.get("alternatives", ""))
        entries.append(FaqEntry(row["faq_id"], row["question"], row["answer"], alternatives))
    return entries


def read_queries(path: Path, faq_ids: set[str]) -> list[LabelledQuery]:
    """Read a queries CSV (``query,faq_id``); every faq_id must exist in the FAQ."""
    queries = []
    for number, row in enumerate(read_rows(path, ("query", "faq_id")), start=2):
        if row["faq_id"] not in faq_ids:
            raise TrainingInputError(f"{path}: row {number}: faq_id '{row['faq_id']}' is not in the FAQ file")
        queries.append(LabelledQuery(row["query"], row["faq_id"]))
    return queries


MIN_TO_VALIDATE = 2  # rows a label needs to hold one out for validation and still train on one


def split_stratified(
    rows: Sequence[IntentExample], fraction: float, max_rows: int, seed: int, keep: Collection[str] = ()
) -> tuple[list[IntentExample], list[IntentExample]]:
    """Split off a validation set, stratified by label; never fails.

    A label with fewer than ``MIN_TO_VALIDATE`` rows, or named in ``keep``, stays wholly in
    training: it is learnt but cannot be validated. Every other label gets rows in both parts, in proportion: the validation
    size is ``fraction`` of their rows, capped at ``max_rows``, but never below one row per label.
    With no such label the validation part is empty.

    >>> rows = [IntentExample(t, "a") for t in "pqrs"] + [IntentExample("t", "lonely")]
    >>> train, valid = split_stratified(rows, 0.5, 10, 0)
    >>> sorted(r.label for r in valid), IntentExample("t", "lonely") in train
    (['a', 'a'], True)
    """
    counts = Counter(row.label for row in rows)
    scarce = {label for label, count in counts.items() if count < MIN_TO_VALIDATE or label in keep}
    kept = [row for row in rows if row.label in scarce]
    pool = [row for row in rows if row.label not in scarce]
    if not pool:
        return kept, []
    labels = len(counts) - len(scarce)
    # at least one validation row per label, and at least one training row per label left over
    size = min(max(labels, min(max_rows, round(len(pool) * fraction))), len(pool) - labels)
    from sklearn.model_selection import train_test_split

    train, valid = train_test_split(pool, test_size=size, random_state=seed, stratify=[row.label for row in pool])
    train, valid = _every_label_in_both(list(train), list(valid))
    return kept + train, valid


def _every_label_in_both(
    train: list[IntentExample], valid: list[IntentExample]
) -> tuple[list[IntentExample], list[IntentExample]]:
    """Move one row across for a label that one part lacks.

    sklearn allots validation rows in proportion, rounded: beside large labels, a label with 2-3
    rows can get none (or all of them), which would leave it unvalidated (or untrained).
    """
    for label in sorted({row.label for row in train} - {row.label for row in valid}):
        row = next(row for row in train if row.label == label)
        train.remove(row)
        valid.append(row)
    for label in sorted({row.label for row in valid} - {row.label for row in train}):
        row = next(row for row in valid if row.label == label)
        valid.remove(row)
        train.append(row)
    return train, valid


def split_queries(
    queries: Sequence[LabelledQuery], fraction: float, seed: int
) -> tuple[list[LabelledQuery], list[LabelledQuery]]:
    """Split queries at random into train and held-out parts (held-out gets at least one)."""
    order = list(queries)
    random.Random(seed).shuffle(order)
    size = max(1, round(len(order) * fraction))
    if size >= len(order):
        raise TrainingInputError(f"{len(order)} labelled queries are too few to hold some out")
    return order[size:], order[:size]


def fingerprint(*parts: Sequence[object]) -> str:
    """Return the sha256 of the rows' values, independent of how the files were formatted."""
    digest = hashlib.sha256()
    for rows in parts:
        for row in rows:
            digest.update(repr(tuple(vars(row).values())).encode("utf-8"))
            digest.update(b"\n")
        digest.update(b"\x00")
    return digest.hexdigest()


def write_intents(path: Path, rows: Sequence[IntentExample]) -> None:
    """Write ``text,label`` rows."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([row.text, row.label] for row in rows)


FAQ_COLUMNS = (*FAQ_REQUIRED, "alternatives")


def write_faq(path: Path, entries: Sequence[FaqEntry]) -> None:
    """Write ``faq_id,question,answer,alternatives`` rows in the knowledge base's CSV dialect."""
    Path(path).write_text(csv_text(entries, FAQ_COLUMNS), encoding="utf-8", newline="")


def write_queries(path: Path, queries: Sequence[LabelledQuery]) -> None:
    """Write ``query,faq_id`` rows."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "faq_id"])
        writer.writerows([q.query, q.faq_id] for q in queries)
