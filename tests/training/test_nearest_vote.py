"""A checkpoint trained with the nearest-example vote is decided the same way in training, in
the export's checks and in the bot: the vote's arrays travel in ``head.npz``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import TOY_FAQ, TOY_QUERIES, write_csv, write_toy_intents
from tests.training.test_joint import FAST_INTENTS, FAST_RETRIEVER
from training.args import IntentTrainingArgs, RetrieverTrainingArgs

pytest.importorskip("transformers")

TEXTS = ["where is my order", "refund my money", "hello there", "track my parcel please", "i want my cash back"]


@pytest.fixture(scope="module")
def voted(tmp_path_factory: pytest.TempPathFactory, tiny_bert_master: Path) -> Path:
    from training.joint import JointInputs, train_joint

    root = tmp_path_factory.mktemp("voted")
    inputs = JointInputs(write_toy_intents(root / "intents.csv"), None,
                         write_csv(root / "faq.csv", ["faq_id", "question", "answer"], TOY_FAQ),
                         write_csv(root / "queries.csv", ["query", "faq_id"], TOY_QUERIES))
    train_joint(inputs, root / "ckpt", IntentTrainingArgs(base_model=str(tiny_bert_master), nearest_vote=0.5,
                                                          **FAST_INTENTS), RetrieverTrainingArgs(**FAST_RETRIEVER))
    return root


def test_head_npz_carries_the_vote(voted: Path) -> None:
    from export.checkpoint import read_intent_checkpoint

    checkpoint = read_intent_checkpoint(voted / "ckpt" / "intents")
    with np.load(checkpoint.head_path) as head:
        assert float(head["vote_weight"]) == 0.5
        assert head["reference_labels"].shape == (len(head["reference"]),)
        assert set(head["reference_labels"].tolist()) == set(range(len(checkpoint.labels)))


def test_training_export_and_bot_pick_the_same_intents(voted: Path) -> None:
    from bot.cli import main
    from bot.models.bundle import load_bundle
    from bot.models.vote import vote_probabilities
    from training.checkpoint import load_intent_predictor

    meta, predict = load_intent_predictor(voted / "ckpt" / "intents")
    outputs = predict(TEXTS)
    assert outputs.vote_weight == 0.5 and outputs.nearest is not None
    # the export re-measures the checkpoint's held-out rows with the bot's head and compares them
    # with what training recorded
    assert main(["export", "--intents", str(voted / "ckpt" / "intents"), "--retriever", str(voted / "ckpt" / "retriever"),
                 "--out", str(voted / "bundles"), "--version", "v1",
                 "--quantization", "none"]) == 0
    bundle = load_bundle(voted / "bundles" / "v1")
    scores = bundle.classify(TEXTS)
    assert bundle.head.vote_weight == 0.5
    assert [meta.labels[i] for i in outputs.top1()] == [scores.labels[i] for i in scores.probabilities.argmax(axis=1)]
    np.testing.assert_allclose(scores.probabilities, vote_probabilities(outputs.logits, outputs.nearest, 0.5),
                               atol=1e-3)  # the bot's probabilities are the mixture, not the head's softmax
    assert not np.allclose(scores.probabilities, vote_probabilities(outputs.logits, None, 0.0), atol=1e-3)


def test_a_vote_weight_outside_0_1_is_refused() -> None:
    from training.errors import TrainingInputError

    with pytest.raises(TrainingInputError, match="nearest_vote"):
        IntentTrainingArgs(nearest_vote=1.5)
