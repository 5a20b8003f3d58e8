"""Rank FAQ entries for queries by cosine similarity of embeddings (numpy only).

Every phrasing of an entry (question and alternatives) is embedded as its own document
(``knowledge.faq.documents``, as the knowledge index does at serving time); an entry's score
is its best phrasing's cosine.

Example::

    ranking = rank_faq(encode, entries, ["how do i reset my password"], "question")
    ranking.ranked_ids[0][:3]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.faq.documents import documents
from knowledge.faq.entry import FaqEntry

Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class FaqRanking:
    """Per query: FAQ ids best first, and the top and second entry scores."""

    ranked_ids: list[list[str]]
    top_scores: np.ndarray
    second_scores: np.ndarray


def entry_scores(query_vectors: np.ndarray, doc_vectors: np.ndarray, doc_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Max cosine per entry: returns (entry ids, scores [queries, entries])."""
    cosine = query_vectors @ doc_vectors.T  # [queries, docs]; vectors are unit length
    entry_ids = list(dict.fromkeys(doc_ids))
    column = {faq_id: i for i, faq_id in enumerate(entry_ids)}
    scores = np.full((cosine.shape[0], len(entry_ids)), -np.inf, dtype=np.float32)
    for doc, faq_id in enumerate(doc_ids):
        j = column[faq_id]
        scores[:, j] = np.maximum(scores[:, j], cosine[:, doc])
    return entry_ids, scores


def rank_faq(encode: Encode, entries: Sequence[FaqEntry], queries: Sequence[str], document: str) -> FaqRanking:
    """Rank every entry for every query."""
    texts, ids = documents(entries, document)
    entry_ids, scores = entry_scores(encode(list(queries)), encode(texts), ids)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = [[entry_ids[j] for j in row] for row in order]
    rows = np.arange(scores.shape[0])
    second = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.zeros(scores.shape[0], np.float32)
    return FaqRanking(ranked, scores[rows, order[:, 0]], second)
