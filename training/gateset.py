"""The questions the gate asks both bundles: fixed evaluation sets and fresh labels held out.

The gate compares the bundle in service with the candidate on items neither was trained on:

- ``old data``: every row of the workspace's fixed evaluation set (intents, ``oos`` rows
  included) and of its fixed FAQ evaluation queries;
- fresh labels, held out by rotation: of the labels the bundle in service never learnt, one in
  ``HOLD_SHARE`` of each theme (an intent, a FAQ entry, out of scope) with at least
  ``MIN_TO_HOLD`` of them, and at least one, is kept out of this run's training, phrasing and
  all, so it asks both models something neither has seen. Which ones turns with every run
  (``rotation``), so each phrasing is learnt by a later run. Few are held out: a small team's
  new theme has a handful of phrasings, and each one held out is one the new bundle cannot learn. Items whose theme the bundle in service does not know (a new intent, a FAQ entry
  created since it was built) form ``new themes``; the rest ``fresh phrasings``.

A held-out label's text is taken out of everything the candidate learns from: the intents and
queries, and the FAQ entry's alternatives (an attached question is one), and out of the FAQ the
gate searches, for both bundles.

Example::

    held = hold_out(fresh_labels, rotation=3)
    items = gate_items(eval_rows, eval_queries, held, old_intents={"greeting"}, old_entries={"returns"})
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from knowledge.conversations.reviews import ReviewLabel, repeat_key
from knowledge.faq.entry import FaqEntry
from training.data import IntentExample, LabelledQuery

OOS = "oos"
MIN_TO_HOLD = 3  # a theme needs this many fresh labels before one is held out: two stay to learn from
HOLD_SHARE = 5  # one in this many of a theme's fresh labels is held out (at least one)
PARTS = ("new themes", "fresh phrasings", "old data: intents", "old data: FAQ search", "confirmed turns")


@dataclass(frozen=True)
class GateItem:
    """One question for both bundles: an intent row (``gold`` an intent or ``oos``) or a FAQ query
    (``gold`` a FAQ id)."""

    text: str
    gold: str
    kind: str  # "intent" | "faq"
    part: str  # one of ``PARTS``


def theme(label: ReviewLabel) -> tuple[str, str] | None:
    """What a label teaches: ("intent", name), ("faq", id), ("intent", "oos"); None for a dismissal."""
    if label.kind == "intent" and label.value:
        return "intent", label.value
    if label.kind == "out_of_scope":
        return "intent", OOS
    if label.kind in ("faq", "new_faq") and label.value:
        return "faq", label.value
    return None


def hold_out(fresh: Sequence[ReviewLabel], rotation: int) -> list[ReviewLabel]:
    """The fresh labels to hold out of this run: one in ``HOLD_SHARE`` of each theme's texts, at least one.

    Repeats of a text go together (the same question must not be both learnt and asked). A
    theme's texts stand in a fixed shuffled order and each ``rotation`` takes the next ones of it,
    so successive runs hold out every text in turn.
    """
    by_theme: dict[tuple[str, str], dict[str, list[ReviewLabel]]] = {}
    for label in fresh:
        found = theme(label)
        if found is not None:
            by_theme.setdefault(found, {}).setdefault(repeat_key(label.text), []).append(label)
    held: list[ReviewLabel] = []
    for texts in by_theme.values():
        if len(texts) < MIN_TO_HOLD:
            continue
        order = sorted(texts, key=lambda key: hashlib.sha256(key.encode()).hexdigest())
        size = max(1, len(order) // HOLD_SHARE)
        for i in range(size):
            held += texts[order[(rotation * size + i) % len(order)]]
    return sorted(held, key=lambda label: label.id)


def gate_items(evaluation: Sequence[IntentExample], queries: Sequence[LabelledQuery], held: Sequence[ReviewLabel],
               old_intents: Collection[str], old_entries: Collection[str]) -> list[GateItem]:
    """Every item the gate asks, in a stable order; ``old_intents`` and ``old_entries`` are what the
    bundle in service knows (its intent labels, the FAQ entries it was trained with)."""
    items = [GateItem(row.text, row.label, "intent", "old data: intents") for row in evaluation]
    items += [GateItem(query.query, query.faq_id, "faq", "old data: FAQ search") for query in queries]
    seen: set[str] = set()
    for label in held:
        found, key = theme(label), repeat_key(label.text)
        if found is None or key in seen:
            continue
        seen.add(key)
        kind, gold = found
        new = gold not in (old_intents if kind == "intent" else old_entries) and gold != OOS
        items.append(GateItem(label.text, gold, kind, "new themes" if new else "fresh phrasings"))
    return items


def without_phrasings(entries: Sequence[FaqEntry], texts: Collection[str]) -> list[FaqEntry]:
    """``entries`` with every alternative phrasing that repeats one of ``texts`` taken out."""
    keys = {repeat_key(text) for text in texts}
    return [replace(entry, alternatives=tuple(a for a in entry.alternatives if repeat_key(a) not in keys))
            for entry in entries]
