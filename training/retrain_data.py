"""One retraining's data: what it trains on, what it holds out to ask both bundles, what is new.

Built from the workspace's base data, the staff labels that passed the label check, and the FAQ:

- the fresh labels (those the bundle in service never learnt) of each theme are partly held out
  (``training.gateset.hold_out``): their texts leave the intents, the queries and the FAQ
  entries' alternatives the run trains on, and become gate items; a text that is an entry's own
  question cannot leave the FAQ and is never held out;
- the rest goes through ``training.feedback.build_dataset`` (no text of the fixed evaluation
  sets enters training) and is written into the run directory: ``intents.csv``, ``queries.csv``,
  ``faq.csv``.

Example::

    data = build_run_data(workspace, build, store, reviews, labels, run_dir)
    data.anything_new, len(data.items), data.dataset.report()
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.conversations.reviews import ReviewLabel, Reviews, repeat_key
from knowledge.faq.entry import FaqEntry
from knowledge.faq.formats import write_faq_file
from knowledge.faq.store import FaqStore
from training.data import read_faq, read_intents, read_queries, write_intents, write_queries
from training.feedback import Label, RetrainDataset, build_dataset
from training.gateset import GateItem, gate_items, hold_out, without_phrasings
from training.workspace import Build, Workspace


@dataclass(frozen=True)
class RunData:
    dataset: RetrainDataset
    trained: tuple[int, ...]  # ids of the labels this run learns from
    held_out: tuple[int, ...]  # ids of the labels it holds out to ask both bundles
    items: list[GateItem]  # what the gate asks (regression items are added by the caller)
    entries: list[FaqEntry]  # the enabled FAQ, held-out phrasings taken out: what the gate searches
    faq_revision: int
    retrain_retriever: bool  # FAQ labels arrived or the FAQ changed
    anything_new: bool


def build_run_data(workspace: Workspace, build: Build, store: FaqStore, reviews: Reviews,
                   labels: list[ReviewLabel], run: Path, old_intents: tuple[str, ...]) -> RunData:
    """Write the run's data into ``run`` and return what it holds; see the module docstring."""
    useful = [label for label in labels if label.kind != "dismissed"]
    entries = [entry for entry in store.list() if entry.enabled]
    questions = {repeat_key(entry.question) for entry in entries}
    fresh = [label for label in useful if label.id not in build.labels and repeat_key(label.text) not in questions]
    held = hold_out(fresh, rotation=len(workspace.bundles()))
    held_keys = {repeat_key(label.text) for label in held}
    faq_ids = {entry.faq_id for entry in store.list()}
    evaluation = read_intents(workspace.evaluation)
    eval_queries = read_queries(workspace.eval_queries, faq_ids) if workspace.eval_queries.exists() else []
    base = [row for row in read_intents(workspace.base_intents) if repeat_key(row.text) not in held_keys]
    base_queries = read_queries(workspace.base_queries, faq_ids) if workspace.base_queries.exists() else []
    dataset = build_dataset(base, [q for q in base_queries if repeat_key(q.query) not in held_keys],
                            [Label(label.text, label.kind, label.value) for label in labels
                             if repeat_key(label.text) not in held_keys],
                            [row.text for row in evaluation] + [q.query for q in eval_queries], faq_ids)
    searched = without_phrasings(entries, [label.text for label in held])
    write_intents(run / "intents.csv", dataset.intents)
    write_queries(run / "queries.csv", dataset.queries)
    write_faq_file(searched, run / "faq.csv")
    held_ids = {label.id for label in held}
    trained = tuple(label.id for label in useful if label.id not in held_ids)
    revision = store.kb_revision()
    faq_changed = revision != build.faq_revision
    new_faq_labels = any(label.kind in ("faq", "new_faq") and label.id not in build.seen() for label in useful)
    items = gate_items(evaluation, eval_queries, held, old_intents, _old_entries(workspace, build, faq_ids))
    return RunData(dataset, trained, tuple(sorted(held_ids)), items, searched, revision,
                   faq_changed or new_faq_labels, {label.id for label in useful} != build.seen() or faq_changed)


def regression_items(reviews: Reviews, items: list[GateItem]) -> list[GateItem]:
    """Turns staff confirmed the bot got right (its intent was the label), not asked already."""
    asked = {repeat_key(item.text) for item in items}
    confirmed: dict[str, GateItem] = {}
    for text, _, value in reviews.confirmed_since("1970-01-01"):
        if value and repeat_key(text) not in asked:
            confirmed.setdefault(repeat_key(text), GateItem(text, value, "intent", "confirmed turns"))
    return list(confirmed.values())


def _old_entries(workspace: Workspace, build: Build, faq_ids: set[str]) -> set[str]:
    """The FAQ entries the bundle in service was trained with (its retriever keeps the FAQ it saw)."""
    path = workspace.checkpoint(build, "retriever") / "heldout_faq.csv"
    return {entry.faq_id for entry in read_faq(path)} if path.exists() else faq_ids

