"""Undoing or changing a label together with the FAQ phrasing it added.

Attaching a question to a FAQ entry (a ``faq`` label) also adds its text to the entry's
alternative phrasings. Undoing that label, or changing it to something else, takes the phrasing
back out; changing a label to ``faq`` adds it, as attaching does. The label and the FAQ are two
stores: the caller changes the labels (``Reviews.unlabel`` / ``relabel``), then applies the
phrasing changes returned here through its own FAQ change path (the CLI straight to the store,
the console through ``bot/admin/faq_changes.py`` so the bot answers with it at once).

Example::

    old, new = reviews.relabel([12], "intent", "loyalty_programme", "ana")
    for change in phrasing_changes(old, new, store.get):
        store.edit(change.faq_id, change.base_revision, "ana", alternatives=change.alternatives)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from knowledge.conversations.reviews import ReviewLabel, repeat_key
from knowledge.errors import EntryNotFound
from knowledge.faq.entry import FaqEntry


@dataclass(frozen=True)
class PhrasingChange:
    """The alternatives one FAQ entry gets, based on the revision they were computed from."""

    faq_id: str
    base_revision: int
    alternatives: tuple[str, ...]


def phrasing_changes(undone: Sequence[ReviewLabel], added: Sequence[ReviewLabel],
                     get: Callable[[str], FaqEntry]) -> list[PhrasingChange]:
    """The FAQ edits that make the entries' phrasings follow the labels: texts of undone ``faq``
    labels leave their entry, texts of added ones join theirs. Entries that no longer exist and
    edits that change nothing are left out."""
    remove: dict[str, set[str]] = {}
    add: dict[str, list[str]] = {}
    for label in undone:
        if label.kind == "faq" and label.value:
            remove.setdefault(label.value, set()).add(repeat_key(label.text))
    for label in added:
        if label.kind == "faq" and label.value:
            add.setdefault(label.value, []).append(" ".join(label.text.split()))
    changes = []
    for faq_id in sorted({*remove, *add}):
        try:
            entry = get(faq_id)
        except EntryNotFound:
            continue
        gone = remove.get(faq_id, set()) - {repeat_key(text) for text in add.get(faq_id, [])}
        kept = [alt for alt in entry.alternatives if repeat_key(alt) not in gone]
        known = {repeat_key(text) for text in (entry.question, *kept)}
        kept += [text for text in dict.fromkeys(add.get(faq_id, [])) if repeat_key(text) not in known]
        if tuple(kept) != entry.alternatives:
            changes.append(PhrasingChange(faq_id, entry.revision, tuple(kept)))
    return changes
