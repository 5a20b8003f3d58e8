"""The intent classifier on a tiny BERT: it trains in seconds, beats chance, and writes the contract."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import TOY_INTENTS, write_toy_intents
from training.args import IntentTrainingArgs
from training.data import read_intents
from training.errors import TrainingInputError

pytest.importorskip("transformers")

# Fast settings for a random tiny model: a high learning rate, few steps, fp32 for exact parity.
FAST = dict(learning_rate=3e-3, head_learning_rate=1e-2, layer_decay=1.0, epochs=1, min_train_steps=60,
            batch_size=8, valid_fraction=0.3, max_valid_rows=12, precision="fp32")  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_master: Path) -> tuple[Path, dict[str, float]]:
    """One toy checkpoint shared read-only by the tests below (trained once, never changed)."""
    from training.intents import train_intents

    root = tmp_path_factory.mktemp("intents")
    train = write_toy_intents(root / "train.csv")
    metrics = train_intents(train, None, root / "ckpt", IntentTrainingArgs(base_model=str(tiny_bert_master), **FAST))
    return root / "ckpt", metrics


def test_tiny_bert_beats_chance(trained: tuple[Path, dict[str, float]]) -> None:
    _, metrics = trained
    assert metrics["accuracy"] > 1 / len(TOY_INTENTS) + 0.2
    assert 0.0 <= metrics["oos_auroc"] <= 1.0


def test_checkpoint_follows_the_contract(trained: tuple[Path, dict[str, float]]) -> None:
    ckpt, _ = trained
    meta = json.loads((ckpt / "supportbot_intents.json").read_text(encoding="utf-8"))
    assert meta["format"] == "supportbot-intents-checkpoint" and meta["version"] == 1
    assert meta["labels"] == sorted(TOY_INTENTS) and "oos" not in meta["labels"]
    assert meta["pooling"] == "mean" and meta["max_length"] == 64 and meta["oos_label"] == "oos"
    assert meta["oos"]["score"] in ("max_softmax", "energy") and meta["oos"]["calibration"]
    assert len(meta["data_fingerprint"]) == 64 and meta["created_at"].endswith("+00:00")
    with np.load(ckpt / "head.npz", allow_pickle=False) as head:
        assert head["weight"].shape == (3, 32) and head["weight"].dtype == np.float32
        assert head["bias"].shape == (3,) and head["bias"].dtype == np.float32
    assert (ckpt / "model" / "config.json").is_file() and (ckpt / "model" / "tokenizer.json").is_file()
    assert "oos" in (ckpt / "heldout.csv").read_text(encoding="utf-8")
    assert json.loads((ckpt / "training_args.json").read_text())["learning_rate"] == FAST["learning_rate"]
    assert not [p for p in ckpt.parent.iterdir() if p.name.startswith(".ckpt.tmp")]


def test_numpy_head_on_the_encoder_reproduces_the_logits(trained: tuple[Path, dict[str, float]]) -> None:
    """What the runtime will do (encoder, mean pooling and head in numpy) matches the predictor."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from training.checkpoint import load_intent_predictor

    ckpt, _ = trained
    texts = ["where is my order", "你好", "refund"]
    _, predict = load_intent_predictor(ckpt)
    tokenizer = AutoTokenizer.from_pretrained(ckpt / "model")
    encoder = AutoModel.from_pretrained(ckpt / "model").eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = encoder(**batch).last_hidden_state.numpy()  # [batch, tokens, hidden]
    mask = batch["attention_mask"].numpy()[..., None]
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    with np.load(ckpt / "head.npz") as head:
        logits = pooled @ head["weight"].T + head["bias"]
    np.testing.assert_allclose(predict(texts).logits, logits, atol=1e-4)


def test_evaluate_cli_writes_metrics_markdown_and_plots(trained: tuple[Path, dict[str, float]], tmp_path: Path) -> None:
    from bot.cli import main

    ckpt, _ = trained
    test = write_toy_intents(tmp_path / "test.csv")
    assert main(["evaluate", "intents", "--model", str(ckpt), "--test", str(test), "--report", str(tmp_path / "r")]) == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_auroc", "mcc"):
        assert 0.0 <= metrics[key] <= 1.0 or key == "mcc"
    assert (tmp_path / "r" / "report.md").read_text().startswith("# Intent evaluation")
    for plot in ("confusions.png", "oos_threshold.png"):
        assert (tmp_path / "r" / plot).read_bytes()[:4] == b"\x89PNG"


def test_without_oos_rows_the_threshold_comes_from_in_scope_scores(tmp_path: Path, tiny_bert: Path) -> None:
    from training.intents import train_intents

    train = write_toy_intents(tmp_path / "train.csv", with_oos=False)
    args = IntentTrainingArgs(base_model=str(tiny_bert), **{**FAST, "min_train_steps": 5})
    train_intents(train, None, tmp_path / "ckpt", args)
    oos = json.loads((tmp_path / "ckpt" / "supportbot_intents.json").read_text())["oos"]
    # "auto": max_softmax or knn, whichever tells the rows from their simulated twins better
    assert oos["score"] in ("max_softmax", "knn") and "simulated out-of-scope" in oos["calibration"]
    assert "AUROC against the simulated rows max_softmax 0." in oos["calibration"]
    assert -1.0 < oos["threshold"] < 2.0
    with np.load(tmp_path / "ckpt" / "head.npz") as head:  # the knn score's neighbours: every training row
        reference, weight = head["reference"], head["weight"]
    held_out = len(read_intents(tmp_path / "ckpt" / "heldout.csv"))
    assert reference.dtype == np.float16 and reference.shape[1] == weight.shape[1]
    assert reference.shape[0] + held_out == len(read_intents(train))
    np.testing.assert_allclose(np.linalg.norm(reference.astype(np.float32), axis=1), 1.0, atol=2e-3)

    forced = replace(args, oos_score="max_softmax")
    train_intents(train, None, tmp_path / "softmax", forced)
    oos = json.loads((tmp_path / "softmax" / "supportbot_intents.json").read_text())["oos"]
    assert oos["score"] == "max_softmax" and 0.0 < oos["threshold"] < 1.0


def test_oos_in_valid_but_unknown_label_is_an_error(tmp_path: Path) -> None:
    from training.intents import prepare_splits

    train = write_toy_intents(tmp_path / "train.csv")
    valid = tmp_path / "valid.csv"
    valid.write_text("text,label\nhello,greeting\nhi,greetings\n", encoding="utf-8")
    with pytest.raises(TrainingInputError, match="label 'greetings' does not occur"):
        prepare_splits(train, valid, IntentTrainingArgs())
    splits = prepare_splits(train, None, IntentTrainingArgs(valid_fraction=0.3))
    assert all(row.label != "oos" for row in splits.train + splits.valid)
    assert splits.oos and all(row.label == "oos" for row in splits.oos)


def test_every_out_of_scope_row_calibrates_whichever_side_of_the_split_it_falls(tmp_path: Path) -> None:
    """Out-of-scope rows are never trained on: a validation split must not leave 90% of them unused."""
    from tests.training.helpers import TOY_OOS
    from training.intents import prepare_splits

    train = write_toy_intents(tmp_path / "train.csv")
    splits = prepare_splits(train, None, IntentTrainingArgs(valid_fraction=0.1))
    assert sorted(row.text for row in splits.oos) == sorted(TOY_OOS)
    assert len(splits.valid) < len(splits.train)  # the in-scope rows are still split


def test_exposed_out_of_scope_rows_are_trained_on_and_calibrate_nothing(tmp_path: Path) -> None:
    """Outlier exposure takes its rows from the training side only; no row both trains and calibrates."""
    from tests.training.helpers import TOY_OOS
    from training.intents import prepare_splits

    train = write_toy_intents(tmp_path / "train.csv")
    valid = tmp_path / "valid.csv"
    valid.write_text("text,label\nhello there,greeting\nwhere's my box,track_order\nrefund me,refund\n"
                     "sing me a song,oos\n", encoding="utf-8")
    splits = prepare_splits(train, valid, IntentTrainingArgs(oos_exposure=0.5))
    assert len(splits.outliers) == len(TOY_OOS) // 2
    assert not {row.text for row in splits.outliers} & {row.text for row in splits.oos}
    assert sorted(row.text for row in splits.outliers + splits.oos) == sorted([*TOY_OOS, "sing me a song"])
    assert "sing me a song" in {row.text for row in splits.oos}  # the validation file's rows always calibrate
    assert all(row.label != "oos" for row in splits.train)
    assert prepare_splits(train, valid, IntentTrainingArgs()).outliers == []


def test_outlier_exposure_leaves_no_intent_likely_for_what_it_was_shown(tmp_path: Path, tiny_bert: Path) -> None:
    """The exposed rows end up near the same probability for every intent; without exposure the
    classifier is as sure of them as of its own intents' messages."""
    from training.checkpoint import load_intent_predictor
    from training.intents import prepare_splits, train_intents

    train = write_toy_intents(tmp_path / "train.csv")
    args = IntentTrainingArgs(base_model=str(tiny_bert), **FAST)
    exposed = [row.text for row in prepare_splits(train, None, replace(args, oos_exposure=0.5)).outliers]
    top = {}
    for share in (0.0, 0.5):
        train_intents(train, None, tmp_path / str(share), replace(args, oos_exposure=share))
        _, predict = load_intent_predictor(tmp_path / str(share))
        logits = predict(exposed).logits
        probabilities = np.exp(logits - logits.max(1, keepdims=True))
        top[share] = float((probabilities / probabilities.sum(1, keepdims=True)).max(1).mean())
    assert top[0.5] < 1 / len(TOY_INTENTS) + 0.1 < top[0.0], top


@pytest.mark.parametrize(
    ("change", "message"),
    [({"epochs": 0}, "epochs"), ({"pooling": "max"}, "pooling"), ({"precision": "int4"}, "precision"),
     ({"valid_fraction": 1.5}, "valid_fraction"), ({"oos_share": 1.0}, "oos_share"),
     ({"oos_exposure": 1.0}, "oos_exposure"), ({"oos_exposure": -0.1}, "oos_exposure"),
     ({"train_only": "wholesale"}, "train_only"), ({"train_only": ["wholesale", 3]}, "train_only")],  # fmt: skip
)
def test_arguments_are_validated(change: dict[str, object], message: str) -> None:
    with pytest.raises(TrainingInputError, match=f"training argument {message}"):
        IntentTrainingArgs(**change)


@pytest.mark.parametrize(("cpuinfo", "native"), [
    ("flags\t\t: fpu sse2 avx avx2 fma", False),  # AVX2 only: bf16 would be emulated
    ("flags\t\t: avx2 avx512f avx512_bf16 avx512_vnni", True),
    ("flags\t\t: avx2 amx_bf16 amx_tile", True),
    ("Features\t: fp asimd bf16 i8mm", True),  # Arm
    ("", False),
])
def test_auto_precision_uses_bf16_only_where_the_cpu_has_it(cpuinfo: str, native: bool) -> None:
    from training.encoder import cpu_has_bf16

    assert cpu_has_bf16(cpuinfo) is native


def test_a_5000_character_text_trains_and_predicts(tmp_path: Path, tiny_bert_master: Path) -> None:
    """The tokenizer cuts a pasted mail to max_length tokens: kept for training, counted in the report."""
    from training.checkpoint import load_intent_predictor
    from training.intents import train_intents

    long = ("where is my parcel " * 264)[:5000]
    train = write_toy_intents(tmp_path / "train.csv")
    with train.open("a", encoding="utf-8") as handle:
        handle.write(f"{long},track_order\n")
    logged: list[str] = []
    args = IntentTrainingArgs(base_model=str(tiny_bert_master), **{**FAST, "min_train_steps": 5})
    train_intents(train, None, tmp_path / "ckpt", args, log=logged.append)
    assert logged == [f"{train}: kept 1 text(s) over 2000 characters (the tokenizer cuts them to max_length tokens)"]
    assert json.loads((tmp_path / "ckpt" / "data_report.json").read_text())["files"][0]["long_texts"] == 1
    _, predict = load_intent_predictor(tmp_path / "ckpt")
    assert predict([long.strip(), "hi"]).logits.shape == (2, 3)
