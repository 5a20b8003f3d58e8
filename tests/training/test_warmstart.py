"""A warm-started retrain learns without forgetting: the active model's answers anchor the new one."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import TOY_INTENTS, write_toy_intents
from training.args import IntentTrainingArgs
from training.warmstart import Anchor, anchor_from, record_anchor

pytest.importorskip("transformers")

FAST = dict(learning_rate=3e-3, head_learning_rate=1e-2, layer_decay=1.0, epochs=1, min_train_steps=40,
            batch_size=8, valid_fraction=0.3, max_valid_rows=12, precision="fp32")  # fmt: skip


@pytest.fixture(scope="module")
def active(tmp_path_factory: pytest.TempPathFactory, tiny_bert_master: Path) -> Path:
    """The active checkpoint a retrain starts from."""
    from training.intents import train_intents

    root = tmp_path_factory.mktemp("active")
    train_intents(write_toy_intents(root / "train.csv"), None, root / "ckpt",
                  IntentTrainingArgs(base_model=str(tiny_bert_master), **FAST), log=lambda line: None)
    return root / "ckpt"


def test_the_anchor_holds_the_active_models_answers_over_the_shared_intents(active: Path) -> None:
    from training.checkpoint import load_intent_predictor
    from training.encoder import PooledClassifier, load_encoder, load_tokenizer

    texts = ["where is my order", "refund please", "hello", "bulk order for my shop"]
    labels = ["refund", "track_order", "wholesale"]  # greeting dropped, wholesale new
    model = PooledClassifier(load_encoder(str(active / "model")), len(labels), "mean")
    anchor = record_anchor(model, load_tokenizer(str(active / "model")), str(active / "model"), texts, labels, 64)
    assert anchor is not None and anchor.columns == (0, 1)  # refund, track_order in the new head
    _, predict = load_intent_predictor(active)
    old = predict(texts).logits  # the active model, labels greeting, refund, track_order
    np.testing.assert_allclose(anchor.logits, old[:, 1:], atol=1e-4)


def test_a_base_model_without_a_head_has_no_anchor(tiny_bert: Path) -> None:
    from training.encoder import PooledClassifier, load_encoder, load_tokenizer

    model = PooledClassifier(load_encoder(str(tiny_bert)), 2, "mean")
    assert record_anchor(model, load_tokenizer(str(tiny_bert)), str(tiny_bert), ["hi", "bye"], ["a", "b"], 64) is None


def test_one_shared_intent_is_nothing_to_rank() -> None:
    head = (("a", "b"), np.ones((2, 4), np.float32), np.zeros(2, np.float32))
    assert anchor_from(head, np.ones((3, 4), np.float32), ["a", "new"]) is None


def test_the_anchor_loss_is_zero_only_where_the_new_model_agrees() -> None:
    import torch

    anchor = Anchor(np.array([[2.0, 0.0], [0.0, 1.0]], np.float32), (1, 0))
    rows = torch.tensor([1, 0])
    agreeing = torch.tensor([[1.0, 0.0, 5.0], [0.0, 2.0, -3.0]])  # columns 1, 0 match rows 1, 0; column 2 is free
    assert float(anchor.loss(agreeing, rows)) == pytest.approx(0.0, abs=1e-6)
    disagreeing = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]], requires_grad=True)
    loss = anchor.loss(disagreeing, rows)
    loss.backward()
    assert float(loss.detach()) > 0.1 and disagreeing.grad is not None and disagreeing.grad[:, 2].abs().sum() == 0


def test_a_warm_start_keeps_the_old_intents_and_learns_a_new_one(active: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Retraining from the active checkpoint with a new intent: the anchor is in the loss of every
    training batch, the new intent is learned, and the old intents keep the active model's answers."""
    from training.checkpoint import load_intent_predictor
    from training.intents import train_intents

    seen: list[int] = []
    loss = Anchor.loss

    def recorded(self: Anchor, new_logits, rows, pooled=None):  # type: ignore[no-untyped-def]  # torch tensors
        seen.extend(rows.tolist())
        return loss(self, new_logits, rows, pooled)

    monkeypatch.setattr(Anchor, "loss", recorded)

    train = write_toy_intents(tmp_path / "train.csv")
    new_rows = ["bulk order for my shop", "trade price for a cafe", "wholesale prices", "bulk discount business",
                "trade account", "wholesale order", "bulk buy for hotel", "trade discount"]
    with train.open("a", encoding="utf-8") as handle:
        handle.writelines(f"{text},wholesale\n" for text in new_rows)
    train_intents(train, None, tmp_path / "v2", IntentTrainingArgs(base_model=str(active / "model"), **FAST),
                  log=lambda line: None)
    old_checkpoint, old = load_intent_predictor(active)
    new_checkpoint, new = load_intent_predictor(tmp_path / "v2")
    old_labels, new_labels = list(old_checkpoint.labels), list(new_checkpoint.labels)
    assert "wholesale" in new_labels
    rows = len(TOY_INTENTS) * 12 + len(new_rows)
    assert seen and max(seen) < rows and len(set(seen)) > rows // 2  # training rows, numbered, not validation
    texts = [text for texts in TOY_INTENTS.values() for text in texts]
    before = [old_labels[i] for i in old(texts).logits.argmax(1)]
    logits = new(texts).logits
    columns = [new_labels.index(label) for label in old_labels]
    after = [old_labels[i] for i in logits[:, columns].argmax(1)]
    assert np.mean([a == b for a, b in zip(before, after)]) >= 0.9
    wholesale = new(new_rows).logits.argmax(1)
    assert np.mean(wholesale == new_labels.index("wholesale")) >= 0.5


def test_the_preservation_term_is_zero_only_where_the_vectors_keep_their_direction() -> None:
    import torch

    start = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]], np.float32)
    anchor = Anchor(None, vectors=start, preserve=2.0)
    rows = torch.tensor([1, 0])
    assert float(anchor.loss(torch.zeros(2, 3), rows, torch.tensor([[0.0, 3.0, 4.0], [5.0, 0.0, 0.0]]))) == \
        pytest.approx(0.0, abs=1e-6)  # same directions, other lengths
    moved = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    loss = anchor.loss(torch.zeros(2, 3), rows, moved)
    loss.backward()
    # row 1's start is (0, .6, .8): cosine .6; row 0's is (1, 0, 0): cosine 0; mean(1 - cos) = .7, times 2
    assert float(loss.detach()) == pytest.approx(2.0 * 0.7, abs=1e-5)
    assert moved.grad is not None and moved.grad.abs().sum() > 0
    assert float(anchor.loss(torch.zeros(2, 3), rows)) == 0.0  # no pooled vectors given: no term


def test_preserving_records_the_starting_vectors_even_without_an_active_model(tiny_bert: Path) -> None:
    from training.encoder import PooledClassifier, load_encoder, load_tokenizer, predict_pooled

    model = PooledClassifier(load_encoder(str(tiny_bert)), 2, "mean")
    tokenizer = load_tokenizer(str(tiny_bert))
    texts = ["where is my order", "refund please", "hello"]
    anchor = record_anchor(model, tokenizer, str(tiny_bert), texts, ["a", "b"], 64, preserve=0.5)
    assert anchor is not None and anchor.logits is None and anchor.preserve == 0.5
    _, pooled = predict_pooled(model, tokenizer, texts, 64)
    np.testing.assert_allclose(anchor.vectors, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), atol=1e-5)


def test_a_warm_start_that_preserves_keeps_both_terms(active: Path) -> None:
    from training.encoder import PooledClassifier, load_encoder, load_tokenizer

    model = PooledClassifier(load_encoder(str(active / "model")), 3, "mean")
    anchor = record_anchor(model, load_tokenizer(str(active / "model")), str(active / "model"),
                           ["where is my order", "hello"], ["greeting", "refund", "track_order"], 64, preserve=1.0)
    assert anchor is not None and anchor.logits is not None and anchor.vectors is not None
    assert anchor.logits.shape == (2, 3) and anchor.vectors.shape[0] == 2


def _start_cosine(checkpoint: Path, base: Path, texts: list[str]) -> float:
    """Mean cosine of each text's pooled vector under ``checkpoint`` to the one under ``base``."""
    from training.encoder import PooledClassifier, load_encoder, load_tokenizer, predict_pooled

    vectors = []
    for source in (checkpoint / "model", base):
        model = PooledClassifier(load_encoder(str(source)), 2, "mean")
        _, pooled = predict_pooled(model, load_tokenizer(str(source)), texts, 64)
        vectors.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return float(np.mean(np.sum(vectors[0] * vectors[1], axis=1)))


def test_training_with_preserve_base_stays_nearer_the_starting_encoder(tiny_bert_master: Path, tmp_path: Path) -> None:
    import json

    from training.intents import train_intents

    train = write_toy_intents(tmp_path / "train.csv")
    texts = [text for texts in TOY_INTENTS.values() for text in texts]
    cosine = {}
    for weight in (0.0, 20.0):
        out = tmp_path / f"w{weight:g}"
        train_intents(train, None, out, IntentTrainingArgs(base_model=str(tiny_bert_master), preserve_base=weight,
                                                           **FAST), log=lambda line: None)  # fmt: skip
        assert json.loads((out / "training_args.json").read_text())["preserve_base"] == weight
        cosine[weight] = _start_cosine(out, tiny_bert_master, texts)
    assert cosine[20.0] > cosine[0.0] + 0.01, cosine


def test_a_preserve_weight_outside_its_range_is_refused() -> None:
    from training.errors import TrainingInputError

    with pytest.raises(TrainingInputError, match="preserve_base"):
        IntentTrainingArgs(preserve_base=-1.0)
