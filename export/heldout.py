"""Held-out data for the parity gate: intent examples and an FAQ retrieval set, with a fingerprint.

Formats (docs/checkpoints.md): intents CSV ``text,label``; FAQ CSV ``faq_id,question,answer``
with optional ``alternatives`` in the knowledge base's dialect (``knowledge.faq.formats``: one
phrasing per line or separated by ``|``, as training reads them); queries CSV ``query,faq_id``.
The texts embedded per FAQ entry are ``knowledge.faq.documents``'s, as training and the index
embed them.

Example::

    examples = read_intent_examples(Path("ckpt/heldout.csv"))
    faq = read_retrieval_set(Path("ret/heldout_faq.csv"), Path("ret/heldout_queries.csv"), "question")
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from knowledge.faq.documents import documents
from knowledge.faq.entry import FaqEntry
from knowledge.faq.formats import REQUIRED as FAQ_REQUIRED
from knowledge.faq.formats import split_alternatives


class HeldoutError(Exception):
    """Held-out data that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class IntentExamples:
    texts: tuple[str, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RetrievalSet:
    """Texts embedded for the FAQ side (one per phrasing) and the queries that must find them."""

    documents: tuple[str, ...]
    document_faq_ids: tuple[str, ...]
    queries: tuple[str, ...]
    query_faq_ids: tuple[str, ...]


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise HeldoutError(f"{path}: missing columns {missing}; expected {list(columns)}")
            rows = list(reader)
    except FileNotFoundError:
        raise HeldoutError(f"{path}: missing") from None
    except UnicodeDecodeError as error:
        raise HeldoutError(f"{path}: not UTF-8 ({error})") from None
    for line, row in enumerate(rows, start=2):
        if any(row[c] is None or not row[c].strip() for c in columns):
            raise HeldoutError(f"{path}, line {line}: empty field in {list(columns)}")
    if not rows:
        raise HeldoutError(f"{path}: no rows")
    return rows


def read_intent_examples(path: Path) -> IntentExamples:
    """Read ``text,label`` rows."""
    rows = _read_rows(path, ("text", "label"))
    return IntentExamples(tuple(r["text"] for r in rows), tuple(r["label"].strip() for r in rows))


def read_faq_entries(path: Path) -> list[FaqEntry]:
    """FAQ entries of a held-out FAQ CSV, fields stripped, alternatives split as training splits them."""
    return [
        FaqEntry(row["faq_id"].strip(), row["question"].strip(), row["answer"].strip(),
                 split_alternatives(row.get("alternatives") or ""))
        for row in _read_rows(path, FAQ_REQUIRED)
    ]  # fmt: skip


def read_retrieval_set(faq_path: Path, queries_path: Path, document: str) -> RetrievalSet:
    """Read FAQ entries and queries; every query's ``faq_id`` must be among the entries."""
    texts, owners = documents(read_faq_entries(faq_path), document)
    rows = _read_rows(queries_path, ("query", "faq_id"))
    known = set(owners)
    for line, row in enumerate(rows, start=2):
        if row["faq_id"].strip() not in known:
            raise HeldoutError(f"{queries_path}, line {line}: faq_id {row['faq_id']!r} is not in {faq_path}")
    return RetrievalSet(
        tuple(texts), tuple(owners), tuple(r["query"] for r in rows), tuple(r["faq_id"].strip() for r in rows)
    )


def fingerprint_files(paths: list[Path]) -> str:
    """sha256 over the names' order and the bytes of each file: identifies the gate's data."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def read_texts(path: Path, column: str = "text") -> list[str]:
    """The ``column`` of a CSV, e.g. sample messages for static quantization's calibration."""
    return [row[column] for row in _read_rows(path, (column,))]
