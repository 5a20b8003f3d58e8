"""What is embedded for an FAQ entry: the one definition of the FAQ "document text".

The FAQ index (``knowledge.faq.index``), training's ranking loss and evaluation
(``training.ranking``) and the export's parity gate (``export.heldout``) all embed FAQ entries
through these functions, so the three can never disagree on what a document is. A checkpoint
and a bundle manifest record the mode they were trained with.

- ``question``: each phrasing (the question and every alternative) alone;
- ``question_answer``: each phrasing, a newline, then the answer.

Example::

    >>> document_text("Refund?", "Within 30 days.", "question_answer")
    'Refund?\\nWithin 30 days.'
"""
from __future__ import annotations

from collections.abc import Sequence

from knowledge.faq.entry import FaqEntry

DOCUMENT_MODES = ("question", "question_answer")


def check_document_mode(document: str) -> str:
    """Return ``document`` if it is a known mode, else raise ``ValueError`` naming the modes."""
    if document not in DOCUMENT_MODES:
        raise ValueError(f"document must be one of {DOCUMENT_MODES}, got {document!r}")
    return document


def document_text(phrasing: str, answer: str, document: str) -> str:
    """The text embedded for one phrasing: alone, or phrasing, newline, answer."""
    return f"{phrasing}\n{answer}" if document == "question_answer" else phrasing


def document_texts(entry: FaqEntry, document: str) -> list[str]:
    """The texts embedded for ``entry``, one per phrasing, in ``entry.phrasings()`` order."""
    return [document_text(phrasing, entry.answer, document) for phrasing in entry.phrasings()]


def documents(entries: Sequence[FaqEntry], document: str) -> tuple[list[str], list[str]]:
    """Return (texts, faq_ids), one per phrasing of every entry."""
    texts: list[str] = []
    ids: list[str] = []
    for entry in entries:
        for text in document_texts(entry, document):
            texts.append(text)
            ids.append(entry.faq_id)
    return texts, ids
