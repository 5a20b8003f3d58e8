"""End to end on the real all-MiniLM-L6-v2 and ../shared/data (slow: minutes on CPU)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.args import IntentTrainingArgs, RetrieverTrainingArgs

pytestmark = pytest.mark.slow


def test_intents_on_hint3_with_minilm(shared_data: Path, tmp_path: Path) -> None:
    from training.checkpoint import load_intent_predictor
    from training.data import read_intents
    from training.evaluation import evaluate_intents
    from training.intents import train_intents

    folder = shared_data / "hint3" / "sofmattress"
    train_intents(folder / "train.csv", None, tmp_path / "ckpt", IntentTrainingArgs(epochs=2, min_train_steps=0))
    meta, predict = load_intent_predictor(tmp_path / "ckpt")
    result = evaluate_intents(predict, meta, read_intents(folder / "test.csv"))
    assert result.metrics["accuracy"] > 0.5
    assert json.loads((tmp_path / "ckpt" / "supportbot_intents.json").read_text())["base_model"].endswith("MiniLM-L6-v2")


def test_retriever_on_stackfaq_with_minilm(shared_data: Path, tmp_path: Path) -> None:
    from training.retriever import train_retriever

    folder = shared_data / "stackfaq"
    metrics = train_retriever(folder / "faq.csv", folder / "queries_train.csv", tmp_path / "ckpt",
                              RetrieverTrainingArgs(epochs=1, document="question"))  # fmt: skip
    assert metrics["recall_at_1"] > 0.5
