"""How much of a customer's wording each FAQ entry shares: BM25 over its phrasings and answer.

Dense search ranks entries by meaning. When two or three of them are about equally close (the
policy's near tie: "I got him the wallet with his initials engraved but we broke up" is as
near to the return policy as to the items that cannot be returned), the words the customer
used that only one entry has ("engraved", in that entry's answer) tell them apart. This scores
the whole entry, its answer included, because that is where the specifics are; the FAQ index's
own lexical half (``knowledge.faq.lexical``) scores each phrasing on its own.

Terms are ``lexical_terms`` with English plurals folded (Harman's "S" stemmer: "weekends",
"deliveries", "boxes" -> "weekend", "delivery", "boxe"; "us", "ss" kept): a customer's
"weekends" is the entry's "weekend". It changes nothing else, so the other languages lose
nothing.

The bot keeps one beside its FAQ index and rebuilds it on every FAQ change (a few hundred
entries take milliseconds).

Example::

    wording = EntryWording(store.list())
    wording.scores("the wallet was engraved", ["return-policy", "non-returnable-items"])  # [0.02, 0.11]
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from knowledge.faq.entry import FaqEntry
from knowledge.faq.lexical import LexicalIndex
from knowledge.faq.terms import lexical_terms


class EntryWording:
    """Normalised BM25 (``LexicalIndex.scores``) of a text against each entry's words."""

    def __init__(self, entries: Iterable[FaqEntry]) -> None:
        chosen = list(entries)
        self._number = {entry.faq_id: n for n, entry in enumerate(chosen)}
        self._lexical = LexicalIndex(wording_terms)
        self._lexical.add({n: " ".join((*entry.phrasings(), entry.answer)) for n, entry in enumerate(chosen)})

    def scores(self, text: str, faq_ids: Sequence[str]) -> list[float]:
        """The score of each of ``faq_ids`` for ``text``; 0 for an id it does not hold."""
        if not faq_ids:
            return []
        scores = self._lexical.scores(text, len(self._number))
        return [float(scores[self._number[faq_id]]) if faq_id in self._number else 0.0 for faq_id in faq_ids]


def wording_terms(text: str) -> list[str]:
    """``lexical_terms`` with English plurals folded; see the module docstring.

    >>> wording_terms("Do your drivers work weekends? Deliveries, boxes, status")
    ['do', 'your', 'driver', 'work', 'weekend', 'delivery', 'boxe', 'status']
    """
    return [_singular(term) for term in lexical_terms(text)]


def _singular(term: str) -> str:
    if len(term) <= 3:
        return term
    if term.endswith("ies") and not term.endswith(("eies", "aies")):
        return term[:-3] + "y"
    if term.endswith("es") and not term.endswith(("aes", "ees", "oes")):
        return term[:-1]
    if term.endswith("s") and not term.endswith(("us", "ss")):
        return term[:-1]
    return term
