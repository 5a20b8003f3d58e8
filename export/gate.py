"""The parity gate: the shipped ONNX models must match the PyTorch checkpoints on held-out data.

Each variant (PyTorch fp32, ONNX fp32, ONNX int8) embeds the same held-out texts with the same
token ids; ``measure`` turns those vectors into metrics and ``judge`` compares the shipped
variant against PyTorch (``export.recorded`` also holds PyTorch against what training recorded):

- intent accuracy (top-1 over the in-scope rows, the published BANKING77/CLINC150 convention
  and what training reports) may drop at most ``max_accuracy_drop`` points;
- retrieval recall@1 (top FAQ phrasing belongs to the query's FAQ) at most ``max_recall_drop``;
- mean cosine of each model's vectors to PyTorch's must be at least ``min_cosine``.

Example::

    reference = measure(embed(torch_intent, torch_retriever, data), data, head)
    candidate = measure(embed(int8_intent, int8_retriever, data), data, head, reference_vectors)
    failures = judge(reference, candidate, Tolerances())     # [] = pass
    [(f.model, f.metric) for f in failures]                  # e.g. [("intent", "accuracy")]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from bot.models.encoder import l2_normalize
from bot.models.intent_head import IntentHead
from export.heldout import IntentExamples, RetrievalSet

_EPSILON = 1e-9  # float noise when a metric sits exactly on its limit


Model = Literal["intent", "retriever"]
_MODEL_WORDS = {"intent": "intent", "retriever": "retrieval"}
_METRIC_WORDS = {"accuracy": "accuracy", "recall_at_1": "recall@1", "oos_recall": "out-of-scope recall"}


@dataclass(frozen=True)
class GateFailure:
    """One limit of the gate that a model broke; ``message`` says it in words.

    ``against`` names what the value was held against: ``"pytorch"`` for the shipped model
    against the PyTorch checkpoint (``metric`` "accuracy", "recall_at_1" or "cosine"; shipping
    that model in fp32 can mend it), ``"training"`` for the PyTorch checkpoint, measured through
    the export's code path, against the metric training recorded on the same split
    (``export.recorded``; nothing the export does can mend it). Drops and gaps are in points.

    >>> GateFailure("intent", "accuracy", 0.926, 0.3, reference=0.93).message
    'intent accuracy 92.60% vs PyTorch 93.00%: drop 0.40 points > 0.30'
    """

    model: Model
    metric: str
    value: float
    limit: float
    reference: float | None = None  # PyTorch's value, or training's recorded one
    against: Literal["pytorch", "training"] = "pytorch"

    @property
    def message(self) -> str:
        model = _MODEL_WORDS[self.model]
        if self.metric == "cosine":
            return f"{model} embedding cosine to PyTorch {self.value:.5f} < {self.limit:.5f}"
        reference = self.value if self.reference is None else self.reference
        name = f"{model} {_METRIC_WORDS.get(self.metric, self.metric)}"
        if self.against == "training":
            return (f"{name} {self.value:.2%} measured on the checkpoint's held-out split vs {reference:.2%} "
                    f"recorded by training: {abs(self.value - reference) * 100:.2f} points apart > "
                    f"{self.limit:.2f}; training and the runtime disagree on how this model is run")
        return (f"{name} {self.value:.2%} vs PyTorch {reference:.2%}: drop {(reference - self.value) * 100:.2f} "
                f"points > {self.limit:.2f}")

    def __str__(self) -> str:
        return self.message


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Tolerances:
    """How far the shipped model may stray from PyTorch; drops are in percentage points."""

    max_accuracy_drop: float = 0.3
    max_recall_drop: float = 0.5
    min_cosine: float = 0.99
    # Between a metric training recorded and the gate's re-measurement of the PyTorch checkpoint
    # on the same split (``export.recorded``); at least one row of that split is tolerated.
    max_recorded_gap: float = 0.5

    def __post_init__(self) -> None:
        if self.max_accuracy_drop < 0 or self.max_recall_drop < 0 or self.max_recorded_gap < 0:
            raise ValueError("tolerated drops and gaps must be >= 0 points")
        if not 0 <= self.min_cosine <= 1:
            raise ValueError(f"min_cosine must lie in [0, 1], got {self.min_cosine}")


@dataclass(frozen=True)
class HeldoutData:
    intents: IntentExamples
    retrieval: RetrievalSet

    def sizes(self, labels: tuple[str, ...]) -> dict[str, int]:
        """Rows behind each metric; accuracy counts the rows whose label is one of ``labels``."""
        return {
            "intents_in_scope": sum(label in labels for label in self.intents.labels),
            "intents": len(self.intents.texts),
            "faq_documents": len(self.retrieval.documents),
            "queries": len(self.retrieval.queries),
        }


def describe_resolution(sizes: dict[str, int]) -> str:
    """How coarse the gate's data is, e.g. '500 in-scope intent rows (1 row = 0.20 points)'.

    A tolerance finer than one row cannot absorb even a single changed prediction.
    """
    rows, queries = max(sizes["intents_in_scope"], 1), max(sizes["queries"], 1)
    return (f"gate data: {rows} in-scope intent rows (1 row = {100 / rows:.2f} points), "
            f"{queries} queries (1 query = {100 / queries:.2f} points)")


@dataclass(frozen=True)
class Vectors:
    """One variant's outputs: pooled intent vectors [n, h], FAQ documents [d, h'], queries [q, h']."""

    intent: np.ndarray
    documents: np.ndarray
    queries: np.ndarray


@dataclass(frozen=True)
class Metrics:
    """One variant's metrics (fractions in [0, 1]); cosines are to PyTorch's vectors.

    ``accuracy`` is top-1 over the rows with a known label (threshold ignored), as training
    reports it; ``overall_accuracy`` is the runtime's decision over every row, ``oos`` rows
    included and rejection counted (argmax label, or ``oos`` below the threshold).
    """

    accuracy: float
    overall_accuracy: float
    recall_at_1: float
    intent_cosine: float
    retrieval_cosine: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in dataclasses.asdict(self).items()}


def encode_in_batches(encoder: TextEncoder, texts: tuple[str, ...], batch_size: int = 32) -> np.ndarray:
    """Encode ``texts`` in batches of similar length (less padding), returned in input order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [encoder.encode([texts[i] for i in order[s:s + batch_size]]) for s in range(0, len(order), batch_size)]
    vectors = np.concatenate(parts)
    result = np.empty_like(vectors)
    result[order] = vectors
    return result


def embed(intent_encoder: TextEncoder, retrieval_encoder: TextEncoder, data: HeldoutData) -> Vectors:
    return Vectors(
        intent=encode_in_batches(intent_encoder, data.intents.texts),
        documents=encode_in_batches(retrieval_encoder, data.retrieval.documents),
        queries=encode_in_batches(retrieval_encoder, data.retrieval.queries),
    )


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean row-wise cosine of two [n, h] arrays, in float64."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.maximum(np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1), 1e-12)
    return float(np.clip((a64 * b64).sum(axis=1) / norms, -1.0, 1.0).mean())


def recall_at_1(queries: np.ndarray, documents: np.ndarray, retrieval: RetrievalSet) -> float:
    """Share of queries whose most similar FAQ phrasing (inner product) belongs to their FAQ."""
    best = (queries @ documents.T).argmax(axis=1)  # [q]
    owners = np.asarray(retrieval.document_faq_ids)[best]
    return float((owners == np.asarray(retrieval.query_faq_ids)).mean())


def top1_in_scope(head: IntentHead, probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """(top-1 accuracy, row count) over the rows of ``labels`` that are one of the head's labels;
    ``probabilities`` [rows, labels] as the head scores them (``IntentScores.probabilities``).

    The published convention for intent accuracy: out-of-scope rows and the rejection rule left out.
    """
    in_scope = np.isin(labels, head.labels)
    if not in_scope.any():
        return 0.0, 0
    best = np.asarray(head.labels)[probabilities.argmax(axis=1)]
    return float((best[in_scope] == labels[in_scope]).mean()), int(in_scope.sum())


def measure(vectors: Vectors, data: HeldoutData, head: IntentHead, reference: Vectors | None = None) -> Metrics:
    """Metrics of one variant; without ``reference`` the cosines are 1 (it is the reference)."""
    scores = head.score(vectors.intent)
    predicted = np.asarray(scores.predicted())
    labels = np.asarray(data.intents.labels)
    reference = reference or vectors
    return Metrics(
        accuracy=top1_in_scope(head, scores.probabilities, labels)[0],
        overall_accuracy=float((predicted == labels).mean()),
        recall_at_1=recall_at_1(vectors.queries, vectors.documents, data.retrieval),
        intent_cosine=mean_cosine(vectors.intent, reference.intent),
        retrieval_cosine=mean_cosine(
            l2_normalize(np.concatenate([vectors.documents, vectors.queries])),
            l2_normalize(np.concatenate([reference.documents, reference.queries])),
        ),
    )


def judge(reference: Metrics, candidate: Metrics, tolerances: Tolerances) -> list[GateFailure]:
    """Every limit ``candidate`` breaks against PyTorch's ``reference``; empty when it passes."""
    failures = []
    drops: tuple[tuple[Model, str, float, float, float], ...] = (
        ("intent", "accuracy", reference.accuracy, candidate.accuracy, tolerances.max_accuracy_drop),
        ("retriever", "recall_at_1", reference.recall_at_1, candidate.recall_at_1, tolerances.max_recall_drop),
    )
    for model, metric, ref, cand, limit in drops:
        if (ref - cand) * 100 > limit + _EPSILON:
            failures.append(GateFailure(model, metric, cand, limit, reference=ref))
    cosines: tuple[tuple[Model, float], ...] = (
        ("intent", candidate.intent_cosine), ("retriever", candidate.retrieval_cosine))
    for model, cosine in cosines:
        if cosine < tolerances.min_cosine - _EPSILON:
            failures.append(GateFailure(model, "cosine", cosine, tolerances.min_cosine))
    return failures


def format_table(metrics: dict[str, Metrics]) -> str:
    """A plain-text table of every variant's metrics, for the CLI and the failure message."""
    names = list(metrics)
    rows = [f"{'':20}" + "".join(f"{n:>14}" for n in names)]
    for field in dataclasses.fields(Metrics):
        values = [getattr(metrics[n], field.name) for n in names]
        shown = [f"{v:.5f}" if "cosine" in field.name else f"{v:.2%}" for v in values]
        rows.append(f"{field.name:20}" + "".join(f"{s:>14}" for s in shown))
    return "\n".join(rows)
