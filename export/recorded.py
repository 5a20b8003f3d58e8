"""Training's recorded metrics held against the PyTorch checkpoint as the runtime would run it.

Each checkpoint's JSON records what training measured on the held-out split it keeps
(``export.checkpoint.EncoderCheckpoint.metrics``, docs/checkpoints.md):

- intents (``training.intents.calibrate``): ``accuracy``, top-1 over the in-scope rows of
  ``heldout.csv``, and, when it has ``oos`` rows, ``oos_recall``, the share of them the
  out-of-scope rule rejects;
- retriever (``training.retriever.ranking_metrics``): ``recall_at_1`` of ``heldout_queries.csv``
  against every phrasing of ``heldout_faq.csv``.

The gate measures the same numbers on the same split with the PyTorch weights run the export's
way: the runtime's tokenizer and numpy pooling, the head and out-of-scope rule of
``bot.models``, the document text of ``export.heldout``. Training runs its own code (Hugging
Face tokenizers, torch pooling, ``training.calibration``), so a gap means the two define the
model differently (pooling, the out-of-scope rule, the FAQ document text) and the bundle would
not behave as training measured it: the gate fails. One row of the split is always tolerated,
as float noise can move a score that sits on the threshold.

Example::

    measured = remeasure_intents(vectors, examples, head) | remeasure_retrieval(queries, docs, retrieval)
    check = compare({"intent": {"accuracy": 0.93}, "retriever": {}}, measured, Tolerances())
    check.failures          # () when training's numbers hold
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.models.intent_head import IntentHead
from export.gate import GateFailure, Model, Tolerances, recall_at_1, top1_in_scope
from export.heldout import IntentExamples, RetrievalSet

# The recorded metrics the gate can re-measure, and the model each belongs to.
RECORDED_METRICS: dict[str, Model] = {"accuracy": "intent", "oos_recall": "intent", "recall_at_1": "retriever"}
_EPSILON = 1e-9  # float noise when a gap sits exactly on its limit


@dataclass(frozen=True)
class Measured:
    """A metric measured by the gate, with the rows behind it (one row = 100 / rows points)."""

    value: float
    rows: int


@dataclass(frozen=True)
class RecordedCheck:
    """The metrics compared, as training recorded them and as the gate re-measured them."""

    recorded: dict[str, float]
    measured: dict[str, float]
    failures: tuple[GateFailure, ...]

    def as_metrics(self) -> dict[str, dict[str, float]]:
        """Entries for the manifest's ``metrics`` section; empty when nothing was compared."""
        if not self.recorded:
            return {}
        return {"checkpoint_recorded": dict(self.recorded),
                "checkpoint_remeasured": {k: round(v, 6) for k, v in self.measured.items()}}


def remeasure_intents(vectors: np.ndarray, examples: IntentExamples, head: IntentHead) -> dict[str, Measured]:
    """``accuracy`` and ``oos_recall`` of pooled ``vectors`` [n, hidden] of ``examples``, as training defines them."""
    scores = head.score(vectors)  # the runtime's head and out-of-scope rule
    labels = np.asarray(examples.labels)
    is_oos = labels == head.oos_label
    measured = {}
    accuracy, rows = top1_in_scope(head, scores.probabilities, labels)
    if rows:
        measured["accuracy"] = Measured(accuracy, rows)
    if is_oos.any():
        rejected = ~np.asarray(scores.in_scope)
        measured["oos_recall"] = Measured(float(rejected[is_oos].mean()), int(is_oos.sum()))
    return measured


def remeasure_retrieval(queries: np.ndarray, documents: np.ndarray, retrieval: RetrievalSet) -> dict[str, Measured]:
    """``recall_at_1`` of query vectors [q, h] against document vectors [d, h]."""
    return {"recall_at_1": Measured(recall_at_1(queries, documents, retrieval), len(retrieval.queries))}


def compare(recorded: dict[Model, dict[str, float]], measured: dict[str, Measured],
            tolerances: Tolerances) -> RecordedCheck:
    """Hold each re-measured metric against the value its model's checkpoint recorded, if any.

    The limit is ``tolerances.max_recorded_gap`` points, or one row where the split is smaller.
    """
    kept: dict[str, float] = {}
    remeasured: dict[str, float] = {}
    failures = []
    for name, found in measured.items():
        model = RECORDED_METRICS[name]
        if name not in recorded[model]:
            continue  # an older or hand-made checkpoint that did not record it: nothing to hold it to
        kept[name], remeasured[name] = recorded[model][name], found.value
        limit = max(tolerances.max_recorded_gap, 100 / max(found.rows, 1))
        if abs(found.value - kept[name]) * 100 > limit + _EPSILON:
            failures.append(GateFailure(model, name, found.value, round(limit, 2), reference=kept[name],
                                        against="training"))
    return RecordedCheck(kept, remeasured, tuple(failures))
