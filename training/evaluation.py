"""Evaluate models given as plain callables, so checkpoints and runtime bundles share the code.

- Intents: ``predict(texts) -> logits [n, labels]`` plus the saved out-of-scope rule.
  ``accuracy``/``macro_f1``/``in_scope_accuracy`` are top-1 over in-scope rows (the published
  BANKING77/CLINC150 convention); when the test set has out-of-scope rows, the decisions
  with rejection give ``oos_recall``, ``oos_precision``, ``in_scope_accuracy_with_rejection``,
  ``overall_accuracy`` and ``mcc`` (all rows, ``oos`` as a label: the HINT3 convention), and
  the scores give ``oos_auroc``.
- FAQ: ``encode(texts) -> unit vectors`` and the retriever's lexical weight, ranked as the bot's
  hybrid search ranks (``training.ranking``); ``recall_at_1``, ``recall_at_5``, ``mrr``, ``map``
  (one relevant entry per query, so MAP equals MRR), the share answered directly at the
  calibrated thresholds with its precision, and recall@1 and MRR of each half alone
  (``dense_*``: the encoder's cosine, ``lexical_*``: BM25).

Example::

    checkpoint, predict = load_intent_predictor(Path("ckpt"))
    result = evaluate_intents(predict, checkpoint, read_intents(Path("test.csv")))
    checkpoint, encode = load_retriever_encoder(Path("retriever"))
    faq = evaluate_faq(encode, checkpoint.document, checkpoint.thresholds, entries, queries,
                       checkpoint.lexical_weight)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.models.manifest import RetrievalThresholds
from export.checkpoint import IntentCheckpoint
from training.calibration import IntentPredict
from training.data import FaqEntry, IntentExample, LabelledQuery
from training.metrics import (
    accuracy,
    auroc,
    macro_f1,
    mcc,
    mean_average_precision,
    mean_reciprocal_rank,
    rank_of_first_relevant,
    recall_at_k,
)
from training.ranking import phrasing_scores, rank_scores

Predict = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class IntentEvaluation:
    """Metrics plus what the plots need: gold, top-1 and decided labels, scores."""

    metrics: dict[str, float]
    gold: list[str]
    top1: list[str]
    decided: list[str]
    scores: np.ndarray
    threshold: float
    score_name: str
    oos_label: str


@dataclass(frozen=True)
class FaqEvaluation:
    """Metrics plus the rank of the right entry per query (None when not ranked)."""

    metrics: dict[str, float]
    ranks: list[int | None]


def evaluate_intents(predict: IntentPredict, meta: IntentCheckpoint, rows: Sequence[IntentExample]) -> IntentEvaluation:
    """Score ``predict`` on labelled rows with the checkpoint's labels and out-of-scope rule,
    deciding each row as the bot does (``bot.models.oos``)."""
    outputs = predict([row.text for row in rows])
    rule = meta.oos
    scores = outputs.scores(rule)
    top1 = [meta.labels[i] for i in outputs.top1()]
    decided = [label if keep else meta.oos_label for label, keep in zip(top1, outputs.in_scope(rule))]
    gold = [row.label for row in rows]
    return IntentEvaluation(
        intent_metrics(gold, top1, decided, scores, meta.oos_label), gold, top1, decided, scores, rule.threshold,
        rule.score, meta.oos_label,
    )  # fmt: skip


def intent_metrics(
    gold: Sequence[str], top1: Sequence[str], decided: Sequence[str], scores: np.ndarray, oos_label: str
) -> dict[str, float]:
    """The metric keys described in the module docstring."""
    is_oos = np.asarray([g == oos_label for g in gold])
    inscope = np.flatnonzero(~is_oos)
    gold_in = [gold[i] for i in inscope]
    top1_in = [top1[i] for i in inscope]
    metrics = {
        "accuracy": accuracy(gold_in, top1_in),
        "macro_f1": macro_f1(gold_in, top1_in),
        "in_scope_rejected": float(np.mean([decided[i] == oos_label for i in inscope])) if inscope.size else 0.0,
    }
    if is_oos.any():
        rejected = np.asarray([d == oos_label for d in decided])
        metrics |= {
            "in_scope_accuracy": metrics["accuracy"],
            "in_scope_accuracy_with_rejection": accuracy(gold_in, [decided[i] for i in inscope]),
            "overall_accuracy": accuracy(gold, decided),
            "oos_recall": float(rejected[is_oos].mean()),
            "oos_precision": float(is_oos[rejected].mean()) if rejected.any() else 0.0,
            "oos_auroc": auroc(scores[~is_oos], scores[is_oos]),
            "mcc": mcc(gold, decided),
        }
    else:
        metrics["mcc"] = mcc(gold_in, top1_in)
    return {key: round(float(value), 6) for key, value in metrics.items()}


def evaluate_faq(
    encode: Predict, document: str, thresholds: RetrievalThresholds, entries: Sequence[FaqEntry],
    queries: Sequence[LabelledQuery], lexical_weight: float = 0.0,
) -> FaqEvaluation:
    """Rank the FAQ for every query (``document``: what is embedded per phrasing; ``lexical_weight``:
    of the lexical score, as the retriever was calibrated) and score the ranking and the answer
    ``thresholds``."""
    scores = phrasing_scores(encode, entries, [q.query for q in queries], document)
    ranking = rank_scores(scores, lexical_weight)
    relevant = [{q.faq_id} for q in queries]
    gaps = ranking.top_scores - ranking.second_scores
    answered = (ranking.top_scores >= thresholds.answer) & (gaps >= thresholds.margin)
    correct = np.asarray([ids[0] == q.faq_id for ids, q in zip(ranking.ranked_ids, queries)])
    metrics = {
        "recall_at_1": recall_at_k(ranking.ranked_ids, relevant, 1),
        "recall_at_5": recall_at_k(ranking.ranked_ids, relevant, 5),
        "mrr": mean_reciprocal_rank(ranking.ranked_ids, relevant),
        "map": mean_average_precision(ranking.ranked_ids, relevant),
        "answered": float(answered.mean()),
        "answered_precision": float(correct[answered].mean()) if answered.any() else 0.0,
        "lexical_weight": lexical_weight,
    }
    for name, weight in (("dense", 0.0), ("lexical", 1.0)):
        alone = rank_scores(scores, weight).ranked_ids
        metrics |= {f"{name}_recall_at_1": recall_at_k(alone, relevant, 1),
                    f"{name}_mrr": mean_reciprocal_rank(alone, relevant)}
    ranks = [rank_of_first_relevant(ids, rel) for ids, rel in zip(ranking.ranked_ids, relevant)]
    return FaqEvaluation({k: round(float(v), 6) for k, v in metrics.items()}, ranks)
