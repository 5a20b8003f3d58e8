"""How much the lexical score counts in FAQ search: chosen on held-out queries, like the thresholds.

The bot ranks FAQ entries by ``(1 - w) * cosine + w * normalised BM25``
(``knowledge.faq.lexical.fuse``). A fine-tuned English encoder on English FAQs needs little
lexical help; an encoder that reads most of a language's characters as "unknown" needs much. So
``w`` is measured, not assumed: every weight on a grid of 0.05 steps ranks the held-out queries,
and the one with the best mean reciprocal rank wins (ties: the best recall@1, then the smaller
weight, the one nearer to what the encoder was trained for). The answer thresholds are then
calibrated on the fused scores at that weight (``training.calibration.calibrate_answer``).

Example::

    scores = phrasing_scores(encode, entries, [q.query for q in held], "question")
    choice = choose_lexical_weight(scores, [q.faq_id for q in held])
    choice.weight, choice.measured["lexical_mrr"]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.metrics import mean_reciprocal_rank, recall_at_k
from training.ranking import PhrasingScores, rank_scores

WEIGHTS = tuple(round(step / 20, 2) for step in range(21))  # 0.0, 0.05, ..., 1.0


@dataclass(frozen=True)
class WeightChoice:
    """The chosen weight, and the held-out MRR and recall@1 of dense, lexical and chosen."""

    weight: float
    measured: dict[str, float]


def choose_lexical_weight(scores: PhrasingScores, gold: Sequence[str],
                          weights: Sequence[float] = WEIGHTS) -> WeightChoice:
    """The weight in ``weights`` whose ranking of the held-out queries has the best MRR."""
    if not gold:
        raise ValueError("choosing the lexical weight needs at least one held-out query")
    relevant = [{faq_id} for faq_id in gold]
    by_weight: dict[float, tuple[float, float]] = {}
    for weight in weights:
        ranked = rank_scores(scores, weight).ranked_ids
        by_weight[weight] = (mean_reciprocal_rank(ranked, relevant), recall_at_k(ranked, relevant, 1))
    chosen = max(weights, key=lambda w: (round(by_weight[w][0], 9), round(by_weight[w][1], 9), -w))
    measured = {"dense_mrr": by_weight.get(0.0, (np.nan,))[0], "lexical_mrr": by_weight.get(1.0, (np.nan,))[0]}
    measured |= {"hybrid_mrr": by_weight[chosen][0], "hybrid_recall_at_1": by_weight[chosen][1]}
    return WeightChoice(float(chosen), {k: round(float(v), 6) for k, v in measured.items()})
