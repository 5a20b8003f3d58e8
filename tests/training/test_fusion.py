"""Hybrid ranking in training: the same scores as the bot's index, and a lexical weight chosen by measurement."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bot.models.manifest import RetrievalThresholds
from knowledge.faq.formats import read_faq_file
from knowledge.faq.hashing import HashingEncoder
from knowledge.faq.index import FaqIndex
from training.args import RetrieverTrainingArgs
from training.data import FaqEntry, LabelledQuery
from training.evaluation import evaluate_faq
from training.fusion import WEIGHTS, choose_lexical_weight
from training.ranking import PhrasingScores, entry_scores, phrasing_scores, rank_faq, rank_scores
from training.retriever import calibrate_search

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "zh"


def _demo() -> tuple[list[FaqEntry], list[LabelledQuery]]:
    entries = read_faq_file(DEMO / "faq.yaml").entries
    with (DEMO / "queries.csv").open(encoding="utf-8", newline="") as handle:
        queries = [LabelledQuery(row["query"], row["faq_id"]) for row in csv.DictReader(handle)]
    return entries, queries


def _scores(dense: list[list[float]], lexical: list[list[float]], ids: list[str]) -> PhrasingScores:
    return PhrasingScores(np.asarray(dense, np.float32), np.asarray(lexical), ids)


def test_weight_zero_is_the_cosine_ranking_and_one_the_lexical() -> None:
    scores = _scores([[0.9, 0.1, 0.5]], [[0.0, 0.8, 0.2]], ["a", "b", "a"])
    assert rank_scores(scores, 0.0).ranked_ids == [["a", "b"]] and rank_scores(scores, 0.0).top_scores[0] == pytest.approx(0.9)
    assert rank_scores(scores, 1.0).ranked_ids == [["b", "a"]] and rank_scores(scores, 1.0).top_scores[0] == pytest.approx(0.8)
    half = rank_scores(scores, 0.5)  # a: max(0.45, 0.35) = 0.45, b: 0.45 -> stable order keeps a first
    assert half.top_scores[0] == pytest.approx(0.45) and half.second_scores[0] == pytest.approx(0.45)
    ids, cosine = entry_scores(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), ["a", "b"])
    assert ids == ["a", "b"] and np.array_equal(cosine, np.eye(2))


def test_the_weight_follows_the_better_half() -> None:
    gold = ["a", "b", "c", "a"]
    ids = ["a", "b", "c"]
    good = np.eye(3)[[0, 1, 2, 0]]  # [queries, phrasings]: the right entry scores 1
    bad = np.roll(good, 1, axis=1)  # always the wrong entry
    assert choose_lexical_weight(_scores(good.tolist(), bad.tolist(), ids), gold).weight == 0.0
    chosen = choose_lexical_weight(_scores(bad.tolist(), good.tolist(), ids), gold)
    assert chosen.weight > 0.5 and chosen.measured["hybrid_recall_at_1"] == 1.0
    assert chosen.measured["dense_mrr"] < chosen.measured["lexical_mrr"] == 1.0
    tied = choose_lexical_weight(_scores(good.tolist(), good.tolist(), ids), gold)
    assert tied.weight == 0.0  # equal rankings: the smaller weight
    assert WEIGHTS[0] == 0.0 and WEIGHTS[-1] == 1.0 and len(WEIGHTS) == 21
    with pytest.raises(ValueError, match="at least one"):
        choose_lexical_weight(_scores([], [], ids), [])


def test_training_ranks_as_the_index_searches() -> None:
    """One rule in both places: the hybrid top hit and score of training's ranking are the index's."""
    entries, queries = _demo()
    encoder = HashingEncoder(256)
    index = FaqIndex.build(entries, encoder, faq_revision=1, lexical_weight=0.6)
    ranking = rank_faq(encoder.encode, entries, [q.query for q in queries], "question", lexical_weight=0.6)
    for query, ranked, top in zip(queries, ranking.ranked_ids, ranking.top_scores):
        (hit,) = index.search(encoder.encode([query.query])[0], k=1, text=query.query)
        assert hit.faq_id == ranked[0] and hit.score == pytest.approx(float(top), abs=1e-5)


def test_calibrate_search_chooses_the_weight_and_calibrates_on_hybrid_scores() -> None:
    entries, queries = _demo()
    encode = HashingEncoder(256).encode
    weight, thresholds, metrics = calibrate_search(encode, entries, queries, "question", RetrieverTrainingArgs())
    assert weight > 0 and metrics["lexical_weight"] == weight
    assert metrics["hybrid_recall_at_1"] > metrics["recall_at_1"]  # plain keys: the encoder alone
    assert {"dense_mrr", "lexical_mrr", "hybrid_mrr", "hybrid_recall_at_5"} <= set(metrics)
    ranking = rank_scores(phrasing_scores(encode, entries, [q.query for q in queries], "question"), weight)
    answered = (ranking.top_scores >= thresholds.answer) & (ranking.top_scores - ranking.second_scores >= thresholds.margin)
    right = np.asarray([ids[0] == q.faq_id for ids, q in zip(ranking.ranked_ids, queries)])
    assert answered.any() and right[answered].mean() >= 0.9
    fixed, _, fixed_metrics = calibrate_search(encode, entries, queries, "question",
                                               RetrieverTrainingArgs(lexical_weight=0.0))
    assert fixed == 0.0 and fixed_metrics["hybrid_recall_at_1"] == fixed_metrics["recall_at_1"]


def test_evaluate_faq_reports_the_search_and_each_half() -> None:
    entries, queries = _demo()
    encode = HashingEncoder(256).encode
    result = evaluate_faq(encode, "question", RetrievalThresholds(0.5, 0.05, ""), entries, queries, 0.7)
    metrics = result.metrics
    assert metrics["lexical_weight"] == 0.7
    assert metrics["recall_at_1"] >= metrics["lexical_recall_at_1"] - 0.05 > metrics["dense_recall_at_1"]
    dense = evaluate_faq(encode, "question", RetrievalThresholds(0.5, 0.05, ""), entries, queries).metrics
    assert dense["recall_at_1"] == dense["dense_recall_at_1"]


def test_lexical_weight_argument_is_checked() -> None:
    from training.errors import TrainingInputError

    with pytest.raises(TrainingInputError, match="lexical_weight"):
        RetrieverTrainingArgs(lexical_weight=1.2)
