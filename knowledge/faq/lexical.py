"""The lexical FAQ index: BM25 over the terms of each phrasing, and how it is fused with cosines.

Dense search finds paraphrases but knows only the words of its encoder's vocabulary (the
bundled English MiniLM reads most Chinese characters as "unknown"); lexical search matches the
customer's own terms in any script (``knowledge.faq.terms``). ``FaqIndex`` keeps one of each
over the same phrasings and ranks by ``fuse``: a weighted sum of the cosine and the
normalised BM25 score, the weight chosen and the answer thresholds calibrated on held-out
queries when the retriever is trained (``training.fusion``).

Scores: Okapi BM25 (k1 1.2, b 0.75, idf ``log(1 + (N - df + 0.5) / (df + 0.5))``) of each
document, divided by the score the query would get as a document of its own. That makes it
comparable across queries, as a threshold needs: 1.0 for a phrasing that is the query, near 0
when they share nothing, and a query term no phrasing has lowers every phrasing's score.

Pure Python and numpy: after each batch of changes the postings are rebuilt as arrays of
(document id, BM25 term weight) with the idf of each term, so a search is one ``bincount`` over the
query terms' postings.

Example::

    lexical = LexicalIndex()
    lexical.add({0: "花呗怎么还款", 1: "借呗怎么开通"})
    lexical.scores("花呗如何还款", size=2)      # array([0.6..., 0.0...])
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from knowledge.faq.terms import TERMS_VERSION, lexical_terms

K1 = 1.2
B = 0.75
SCHEME = f"bm25-{K1}-{B}-{TERMS_VERSION}"  # saved with the index: what its scores mean


def fuse(dense: np.ndarray | float, lexical: np.ndarray | float, weight: float) -> np.ndarray:
    """The hybrid score: ``(1 - weight) * cosine + weight * normalised BM25``.

    ``weight`` 0 is dense search alone (the score is the cosine), 1 lexical search alone.

    >>> float(fuse(0.5, 1.0, 0.25))
    0.625
    """
    return np.asarray((1.0 - weight) * np.asarray(dense, np.float64) + weight * np.asarray(lexical, np.float64))


class LexicalIndex:
    """BM25 over documents keyed by integer ids (the FAQ index's vector ids), their terms cut by
    ``terms`` (``lexical_terms`` unless told; only such an index can be saved with ``to_json``)."""

    def __init__(self, terms: Callable[[str], list[str]] = lexical_terms) -> None:
        self._terms = terms
        self._documents: dict[int, Counter[str]] = {}  # id -> term counts
        self._lengths: dict[int, int] = {}
        self._df: Counter[str] = Counter()
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term -> (ids, BM25 tf weights)
        self._idf: dict[str, float] = {}
        self._average = 1.0  # document length

    def __len__(self) -> int:
        return len(self._documents)

    def add(self, texts: Mapping[int, str]) -> None:
        """Index ``texts`` ({id: document text}); an id already present is replaced."""
        self.remove([i for i in texts if i in self._documents], rebuild=False)
        for doc_id, text in texts.items():
            counts = Counter(self._terms(text))
            self._documents[doc_id] = counts
            self._lengths[doc_id] = sum(counts.values())
            self._df.update(counts.keys())
        self._rebuild()

    def remove(self, ids: Iterable[int], rebuild: bool = True) -> None:
        """Drop the documents ``ids`` (unknown ids are ignored)."""
        for doc_id in ids:
            counts = self._documents.pop(doc_id, None)
            if counts is None:
                continue
            del self._lengths[doc_id]
            self._df.subtract(counts.keys())
            for term in counts:
                if self._df[term] <= 0:
                    del self._df[term]
        if rebuild:
            self._rebuild()

    def copy(self) -> LexicalIndex:
        """An independent copy (term counts are never changed in place, so they are shared)."""
        other = LexicalIndex(self._terms)
        other._documents = dict(self._documents)
        other._lengths = dict(self._lengths)
        other._df = Counter(self._df)
        other._postings, other._idf, other._average = self._postings, self._idf, self._average
        return other

    def scores(self, text: str, size: int) -> np.ndarray:
        """Normalised BM25 of every document for the query ``text``: float64 [size], by id.

        ``size`` must exceed the largest id; ids without a document score 0.
        """
        query = Counter(self._terms(text))
        if not query or not self._documents:
            return np.zeros(size, dtype=np.float64)
        unseen = _idf(len(self._documents), 0)
        best = 0.0  # the query's score as a document of its own: the normaliser
        query_norm = 1 - B + B * sum(query.values()) / self._average
        ids, weights = [], []
        for term, times in query.items():
            idf = self._idf.get(term, unseen)
            best += idf * times * (K1 + 1) / (times + K1 * query_norm)
            posting = self._postings.get(term)
            if posting is not None:
                ids.append(posting[0])
                weights.append(posting[1] * idf)
        if not ids:
            return np.zeros(size, dtype=np.float64)
        return np.bincount(np.concatenate(ids), np.concatenate(weights), minlength=size)[:size] / best

    def to_json(self) -> dict[str, object]:
        """What ``from_json`` reads back: the scheme and each document's terms."""
        if self._terms is not lexical_terms:
            raise ValueError("only an index of lexical_terms can be saved: its scheme names them")
        documents = [[doc_id, " ".join(counts.elements())] for doc_id, counts in sorted(self._documents.items())]
        return {"scheme": SCHEME, "documents": documents}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> LexicalIndex:
        """The index ``to_json`` saved; ``ValueError`` when it was cut with other rules or is malformed."""
        if data.get("scheme") != SCHEME:
            raise ValueError(f"lexical index scheme {data.get('scheme')!r}, this version uses {SCHEME!r}")
        index = cls()
        rows = data.get("documents")
        if not isinstance(rows, list):
            raise ValueError("lexical index without a list of documents")
        for doc_id, joined in rows:
            counts = Counter(str(joined).split())
            index._documents[int(doc_id)] = counts
            index._lengths[int(doc_id)] = sum(counts.values())
            index._df.update(counts.keys())
        index._rebuild()
        return index

    def _rebuild(self) -> None:
        """Postings with their BM25 term weights, and the idf of every term: after every batch of
        changes (the weights depend on the average document length, the idf on the count)."""
        count = len(self._documents)
        self._average = sum(self._lengths.values()) / count if count else 1.0
        by_term: dict[str, list[tuple[int, float]]] = {}
        for doc_id, counts in self._documents.items():
            norm = K1 * (1 - B + B * self._lengths[doc_id] / self._average)
            for term, times in counts.items():
                by_term.setdefault(term, []).append((doc_id, times * (K1 + 1) / (times + norm)))
        self._postings = {
            term: (np.fromiter((d for d, _ in pairs), np.int64, len(pairs)),
                   np.fromiter((w for _, w in pairs), np.float64, len(pairs)))
            for term, pairs in by_term.items()
        }
        self._idf = {term: _idf(count, df) for term, df in self._df.items()}


def _idf(count: int, df: int) -> float:
    """BM25's idf, never negative; a term no document has gets the highest value."""
    return math.log(1.0 + (count - df + 0.5) / (df + 0.5))
