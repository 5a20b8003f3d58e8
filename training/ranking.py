"""Rank FAQ entries for queries as the bot's FAQ index does: cosine, lexical or hybrid (numpy only).

Every phrasing of an entry (question and alternatives) is its own document
(``knowledge.faq.documents``, as the knowledge index does at serving time). Each phrasing gets
the query's cosine and its normalised BM25 score (``knowledge.faq.lexical``, the index's own
lexical search); ``knowledge.faq.lexical.fuse`` weighs the two, and an entry's score is its best
phrasing's. With ``lexical_weight`` 0 the score is the cosine, 1 the lexical score alone.

Example::

    ranking = rank_faq(encode, entries, ["how do i reset my password"], "question")
    ranking.ranked_ids[0][:3]
    scores = phrasing_scores(encode, entries, queries, "question")   # encode once ...
    rank_scores(scores, 0.3), rank_scores(scores, 0.6)                # ... rank at any weight
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.faq.documents import documents
from knowledge.faq.entry import FaqEntry
from knowledge.faq.lexical import LexicalIndex, fuse

Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class FaqRanking:
    """Per query: FAQ ids best first, and the top and second entry scores."""

    ranked_ids: list[list[str]]
    top_scores: np.ndarray
    second_scores: np.ndarray


@dataclass(frozen=True)
class PhrasingScores:
    """Both scores of every (query, phrasing) pair, and the entry each phrasing belongs to."""

    dense: np.ndarray  # [queries, phrasings] cosines
    lexical: np.ndarray  # [queries, phrasings] normalised BM25; zeros when not computed
    doc_ids: list[str]  # [phrasings] FAQ ids


def entry_scores(query_vectors: np.ndarray, doc_vectors: np.ndarray, doc_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Max cosine per entry: returns (entry ids, scores [queries, entries])."""
    return best_per_entry(query_vectors @ doc_vectors.T, doc_ids)  # vectors are unit length


def best_per_entry(scores: np.ndarray, doc_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Each entry's best phrasing score: (entry ids, scores [queries, entries]) from [queries, docs]."""
    entry_ids = list(dict.fromkeys(doc_ids))
    column = {faq_id: i for i, faq_id in enumerate(entry_ids)}
    best = np.full((scores.shape[0], len(entry_ids)), -np.inf, dtype=np.result_type(scores.dtype, np.float32))
    for doc, faq_id in enumerate(doc_ids):
        j = column[faq_id]
        best[:, j] = np.maximum(best[:, j], scores[:, doc])
    return entry_ids, best


def lexical_scores(queries: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """Normalised BM25 [queries, texts] of every query against every document text."""
    index = LexicalIndex()
    index.add(dict(enumerate(texts)))
    return np.stack([index.scores(query, len(texts)) for query in queries]) if queries else np.zeros((0, len(texts)))


def phrasing_scores(encode: Encode, entries: Sequence[FaqEntry], queries: Sequence[str], document: str,
                    lexical: bool = True) -> PhrasingScores:
    """Cosines and (unless ``lexical`` is False) lexical scores of every query and phrasing."""
    texts, ids = documents(entries, document)
    dense = encode(list(queries)) @ encode(texts).T  # [queries, phrasings]; vectors are unit length
    lex = lexical_scores(queries, texts) if lexical else np.zeros_like(dense)
    return PhrasingScores(dense, lex, ids)


def rank_scores(scores: PhrasingScores, lexical_weight: float = 0.0) -> FaqRanking:
    """Rank every entry for every query by the fused score at ``lexical_weight``."""
    fused = scores.dense if lexical_weight == 0 else fuse(scores.dense, scores.lexical, lexical_weight)
    entry_ids, best = best_per_entry(fused, scores.doc_ids)
    order = np.argsort(-best, axis=1, kind="stable")
    ranked = [[entry_ids[j] for j in row] for row in order]
    rows = np.arange(best.shape[0])
    second = best[rows, order[:, 1]] if best.shape[1] > 1 else np.zeros(best.shape[0], np.float32)
    return FaqRanking(ranked, best[rows, order[:, 0]], second)


def rank_faq(encode: Encode, entries: Sequence[FaqEntry], queries: Sequence[str], document: str,
             lexical_weight: float = 0.0) -> FaqRanking:
    """Rank every entry for every query (hybrid when ``lexical_weight`` > 0)."""
    return rank_scores(phrasing_scores(encode, entries, queries, document, lexical_weight > 0), lexical_weight)
