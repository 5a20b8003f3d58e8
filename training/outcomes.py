"""What one bundle's checkpoints answer to the gate's items: right or wrong, item by item.

The gate is paired: both bundles are asked the same items (``training.gateset``), so each item
is right or wrong for each, and the decision (``training.promotion``) counts the items one got
right and the other wrong. An item is right as customers see it:

- an intent row: the intent model's decision with its out-of-scope rule (the runtime's
  ``bot.models.oos``) is the gold intent, or rejects an ``oos`` row;
- a FAQ query: FAQ search over today's FAQ (with the held-out phrasings taken out), scored as the
  bot scores it (its lexical weight too), puts the gold entry first *and* clears the answer
  threshold and margin, so the bot answers it directly.

Example::

    old = answers(Checkpoints(intents_dir, retriever_dir), items, entries)
    old.right        # [True, False, ...], one per item
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.faq.entry import FaqEntry
from training.gateset import GateItem


@dataclass(frozen=True)
class Checkpoints:
    intents: Path
    retriever: Path


@dataclass(frozen=True)
class Answers:
    right: tuple[bool, ...]  # one per item
    predicted: tuple[str, ...]  # the intent decided, or the FAQ entry answered ("" when none)


def answers(checkpoints: Checkpoints, items: Sequence[GateItem], entries: Sequence[FaqEntry]) -> Answers:
    """Ask one bundle's checkpoints every item; see the module docstring for what counts as right."""
    predicted = [""] * len(items)
    intent_rows = [i for i, item in enumerate(items) if item.kind == "intent"]
    faq_rows = [i for i, item in enumerate(items) if item.kind == "faq"]
    if intent_rows:
        for i, label in zip(intent_rows, _decide_intents(checkpoints.intents, [items[i].text for i in intent_rows])):
            predicted[i] = label
    if faq_rows:
        for i, faq_id in zip(faq_rows, _answer_faq(checkpoints.retriever, [items[i].text for i in faq_rows], entries)):
            predicted[i] = faq_id
    return Answers(tuple(p == item.gold for p, item in zip(predicted, items)), tuple(predicted))


def _decide_intents(checkpoint: Path, texts: list[str]) -> list[str]:
    from training.checkpoint import load_intent_predictor

    meta, predict = load_intent_predictor(checkpoint)
    outputs = predict(texts)
    best = [meta.labels[i] for i in outputs.top1()]
    return [label if keep else meta.oos_label for label, keep in zip(best, outputs.in_scope(meta.oos))]


def _answer_faq(checkpoint: Path, queries: list[str], entries: Sequence[FaqEntry]) -> list[str]:
    from training.checkpoint import load_retriever_encoder
    from training.ranking import rank_faq

    meta, encode = load_retriever_encoder(checkpoint)
    ranking = rank_faq(encode, [e for e in entries if e.enabled], queries, meta.document, meta.lexical_weight)
    thresholds = meta.thresholds
    answered = (ranking.top_scores >= thresholds.answer) & \
        (ranking.top_scores - ranking.second_scores >= thresholds.margin)
    return [ids[0] if ok else "" for ids, ok in zip(ranking.ranked_ids, np.asarray(answered))]
