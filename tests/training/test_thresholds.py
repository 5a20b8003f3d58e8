"""Thresholds of a retrained bundle: re-calibrated on enough rows, else kept, always listed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.models.manifest import RetrievalThresholds
from bot.models.oos import OosRule
from export.checkpoint import (
    EncoderCheckpoint,
    IntentCheckpoint,
    RetrieverCheckpoint,
    read_intent_checkpoint,
    read_retriever_checkpoint,
    write_intent_json,
    write_retriever_json,
)
from tests.training.helpers import write_csv
from training.args import RetrieverTrainingArgs
from training.calibration import IntentOutputs
from training.thresholds import kept_scoring, settle_answer_thresholds, settle_intent_rule


def _intents(path: Path, rule: OosRule, valid: int, oos: int) -> Path:
    (path / "model").mkdir(parents=True)
    (path / "model" / "config.json").write_text("{}")
    np.savez(path / "head.npz", weight=np.zeros((2, 4), np.float32), bias=np.zeros(2, np.float32))
    write_csv(path / "heldout.csv", ["text", "label"], [(f"t{i}", "a") for i in range(valid)] +
              [(f"o{i}", "oos") for i in range(oos)])
    encoder = EncoderCheckpoint(path, "base", "mean", False, 64, {"accuracy": 0.9, "oos_recall": 0.5}, "f", "now")
    write_intent_json(IntentCheckpoint(encoder, ("a", "b"), "oos", rule))
    return path


def _retriever(path: Path, answer: float, margin: float, queries: int, document: str = "question",
               lexical_weight: float = 0.0) -> Path:
    (path / "model").mkdir(parents=True)
    (path / "model" / "config.json").write_text("{}")
    write_csv(path / "heldout_queries.csv", ["query", "faq_id"], [(f"q{i}", "f1") for i in range(queries)])
    encoder = EncoderCheckpoint(path, "base", "mean", True, 128, {"recall_at_1": 0.9}, "f", "now")
    write_retriever_json(RetrieverCheckpoint(encoder, document, RetrievalThresholds(answer, margin, "chosen"),
                                             lexical_weight))
    return path


def test_a_rule_chosen_on_few_rows_is_replaced_by_the_old_one(tmp_path: Path) -> None:
    old = _intents(tmp_path / "old", OosRule("max_softmax", 1.0, 0.41, "old"), 100, 40)
    new = _intents(tmp_path / "new", OosRule("energy", 1.0, 3.2, "new"), 33, 5)
    change = settle_intent_rule(old, new, "v1", lambda path: lambda texts: IntentOutputs(np.array([[5.0, 0.0]] * len(texts))))
    assert not change.changed and change.old == change.new == "0.4100 (max_softmax)"
    assert change.note == ("kept: the new model's validation has 33 in-scope row(s) and 5 out-of-scope row(s); "
                           "re-calibrating needs 30 and 20")
    written = read_intent_checkpoint(new)
    assert (written.oos.score, written.oos.threshold) == ("max_softmax", 0.41)
    assert written.oos.calibration.startswith("kept from bundle v1:") and "3.2000 (energy)" in written.oos.calibration
    assert written.encoder.metrics["oos_recall"] == 0.0  # re-measured: confident logits are all kept in scope


def test_a_rule_chosen_on_enough_rows_is_the_new_one(tmp_path: Path) -> None:
    old = _intents(tmp_path / "old", OosRule("max_softmax", 1.0, 0.41, "old"), 100, 40)
    new = _intents(tmp_path / "new", OosRule("max_softmax", 1.0, 0.5, "new"), 60, 25)
    change = settle_intent_rule(old, new, "v1")
    assert change.changed and (change.old, change.new) == ("0.4100 (max_softmax)", "0.5000 (max_softmax)")
    assert read_intent_checkpoint(new).oos.threshold == 0.5


def test_answer_thresholds_are_kept_unless_enough_queries_chose_them(tmp_path: Path) -> None:
    old = _retriever(tmp_path / "old", 0.30, 0.124, 50)
    few = _retriever(tmp_path / "few", 0.62, 0.0, 11)
    changes = settle_answer_thresholds(old, few, "v1")
    assert [(c.name, c.old, c.new, c.changed) for c in changes] == [
        ("FAQ answer threshold", "0.300", "0.300", False), ("FAQ answer margin", "0.124", "0.124", False),
        ("FAQ search scoring", "question, lexical weight 0.00", "question, lexical weight 0.00", False)]
    assert changes[1].note == "kept: 11 held-out queries chose them; re-calibrating needs 30 (they had chosen 0.000)"
    assert (read_retriever_checkpoint(few).thresholds.answer, read_retriever_checkpoint(few).thresholds.margin) == \
        (0.30, 0.124)
    many = _retriever(tmp_path / "many", 0.5, 0.05, 40)
    assert [c.changed for c in settle_answer_thresholds(old, many, "v1")] == [True, True, False]
    assert [c.note for c in settle_answer_thresholds(old, old, "v1")] == ["retriever not retrained"] * 3


def test_kept_thresholds_list_the_scoring_they_were_chosen_on(tmp_path: Path) -> None:
    """A threshold is a point on one scoring's scale: 0.33 of a cosine over questions is not 0.33
    of a cosine over questions with answers fused with BM25 (a retrain that chose those on 10
    queries, its thresholds kept, answered 42 of the demo's 104 FAQ queries instead of 92). A
    retrain trains for the scoring in service (``kept_scoring``); where options asked for another
    one, the list says so."""
    old = _retriever(tmp_path / "old", 0.33, 0.053, 10)
    same = _retriever(tmp_path / "same", 0.2, 0.0, 10)
    assert settle_answer_thresholds(old, same, "v1")[2].note == (
        "kept: 10 held-out queries are too few to choose another scoring (re-calibrating needs 30)")
    moved = _retriever(tmp_path / "moved", 0.165, 0.0, 10, "question_answer", 0.65)
    changes = settle_answer_thresholds(old, moved, "v1")
    assert (changes[2].old, changes[2].new, changes[2].changed) == (
        "question, lexical weight 0.00", "question_answer, lexical weight 0.65", True)
    assert changes[2].note.startswith("changed by the training options, but the answer threshold and margin kept "
                                      "were chosen for question, lexical weight 0.00")
    written = read_retriever_checkpoint(moved)  # what was trained is what is written
    assert (written.document, written.lexical_weight, written.thresholds.answer) == ("question_answer", 0.65, 0.33)
    chosen = _retriever(tmp_path / "chosen", 0.5, 0.05, 40, "question_answer", 0.3)
    assert settle_answer_thresholds(old, chosen, "v1")[2].changed
    assert (read_retriever_checkpoint(chosen).document, read_retriever_checkpoint(chosen).lexical_weight) == \
        ("question_answer", 0.3)


def test_a_retrain_with_few_queries_trains_for_the_scoring_in_service(tmp_path: Path) -> None:
    old = _retriever(tmp_path / "old", 0.33, 0.053, 10, "question_answer", 0.4)
    auto = RetrieverTrainingArgs()
    assert (kept_scoring(10, old, auto).document, kept_scoring(10, old, auto).lexical_weight) == ("question_answer", 0.4)
    assert kept_scoring(30, old, auto) == auto  # enough to choose again
    explicit = RetrieverTrainingArgs(document="question", lexical_weight=0.0)
    assert kept_scoring(10, old, explicit) == explicit
