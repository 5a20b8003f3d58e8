"""The retraining data set: the current bundle's training data plus what staff labelled since.

Review labels become rows: ``intent`` -> an intent example, ``out_of_scope`` -> an ``oos``
row, ``faq``/``new_faq`` -> a query for that FAQ entry (and a ``faq`` intent example when the
classifier has that label). A label for a text the data set already has is dropped (counted as a
duplicate or, with another label, a conflict); the base data is kept as it is, for the data check
(``training.datacheck``) to treat its repeats and conflicts as ``train intents`` does. No text of
the fixed evaluation set may enter training: such rows are dropped and counted, so the report can
show the evaluation stayed clean.

Example::

    dataset = build_dataset(base_intents, base_queries, labels, eval_texts, intent_labels)
    dataset.report()      # {"added_intent_rows": ..., "leaked_dropped": ..., "new_intents": [...]}
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from training.data import IntentExample, LabelledQuery
from training.datacheck import text_key

OOS = "oos"
FAQ_INTENT = "faq"


@dataclass(frozen=True)
class Label:
    """One staff label (``knowledge.conversations.reviews.TrainingLabel`` has this shape)."""

    text: str
    kind: str  # intent | out_of_scope | faq | new_faq | dismissed
    value: str | None


@dataclass
class RetrainDataset:
    intents: list[IntentExample]
    queries: list[LabelledQuery]
    added_intent_rows: int = 0
    added_queries: int = 0
    duplicates_dropped: int = 0
    conflicts_dropped: int = 0
    leaked_dropped: int = 0
    dismissed: int = 0
    new_intents: list[str] = field(default_factory=list)

    def report(self) -> dict[str, object]:
        return {"intent_rows": len(self.intents), "queries": len(self.queries),
                "added_intent_rows": self.added_intent_rows, "added_queries": self.added_queries,
                "duplicates_dropped": self.duplicates_dropped, "conflicts_dropped": self.conflicts_dropped,
                "leaked_dropped": self.leaked_dropped, "dismissed": self.dismissed,
                "new_intents": self.new_intents}


def build_dataset(base_intents: Sequence[IntentExample], base_queries: Sequence[LabelledQuery],
                  labels: Iterable[Label], eval_texts: Iterable[str],
                  faq_ids: set[str] | None = None) -> RetrainDataset:
    """Merge the base data with the labels; see the module docstring for the rules."""
    forbidden = {text_key(t) for t in eval_texts}
    known_labels = {row.label for row in base_intents}
    dataset = RetrainDataset(intents=[], queries=[])
    seen: dict[str, str] = {}
    for row in base_intents:  # the base data is kept as it is, but never the evaluation's texts
        key = text_key(row.text)
        if key in forbidden:
            dataset.leaked_dropped += 1
        else:
            seen.setdefault(key, row.label)
            dataset.intents.append(row)
    seen_queries = {text_key(q.query) for q in base_queries}
    dataset.queries = [q for q in base_queries if text_key(q.query) not in forbidden]
    dataset.leaked_dropped += len(base_queries) - len(dataset.queries)
    for label in labels:
        _add(dataset, label, seen, seen_queries, forbidden, known_labels, faq_ids)
    dataset.new_intents = sorted({r.label for r in dataset.intents} - known_labels - {OOS})
    return dataset


def _add(dataset: RetrainDataset, label: Label, seen: dict[str, str], seen_queries: set[str],
         forbidden: set[str], known_labels: set[str], faq_ids: set[str] | None) -> None:
    key = text_key(label.text)
    if label.kind == "dismissed" or not key:
        dataset.dismissed += 1
        return
    if key in forbidden:
        dataset.leaked_dropped += 1
        return
    if label.kind in ("faq", "new_faq") and label.value:
        if (faq_ids is None or label.value in faq_ids) and key not in seen_queries:
            seen_queries.add(key)
            dataset.queries.append(LabelledQuery(label.text, label.value))
            dataset.added_queries += 1
        if FAQ_INTENT not in known_labels:
            return  # the classifier has no "faq" intent: the query pair is all there is to learn
    intent = {"intent": label.value, "out_of_scope": OOS}.get(label.kind, FAQ_INTENT)
    if not intent:
        return
    if key in seen:
        if seen[key] == intent:
            dataset.duplicates_dropped += 1
        else:
            dataset.conflicts_dropped += 1
        return
    seen[key] = intent
    dataset.intents.append(IntentExample(label.text, intent))
    dataset.added_intent_rows += 1
