"""The gate holds the PyTorch checkpoint, run the runtime's way, to the metrics training recorded."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.models.intent_head import IntentHead
from bot.models.manifest import MANIFEST
from bot.models.oos import OosRule
from export.gate import GateFailure, Tolerances
from export.heldout import IntentExamples
from export.recorded import Measured, compare, remeasure_intents


def test_a_recorded_metric_within_one_row_passes_and_a_larger_gap_fails() -> None:
    recorded = {"intent": {"accuracy": 0.90, "macro_f1": 0.5}, "retriever": {"recall_at_1": 0.80}}
    measured = {"accuracy": Measured(0.88, rows=50), "recall_at_1": Measured(0.70, rows=40),
                "oos_recall": Measured(0.5, rows=10)}  # oos_recall was not recorded: nothing to compare
    check = compare(recorded, measured, Tolerances())
    assert check.recorded == {"accuracy": 0.90, "recall_at_1": 0.80}
    assert check.measured == {"accuracy": 0.88, "recall_at_1": 0.70}
    # 2 points on 50 rows is one row: float noise; 10 points on 40 queries is four
    assert check.failures == (GateFailure("retriever", "recall_at_1", 0.70, 2.5, reference=0.80,
                                          against="training"),)
    assert check.failures[0].message.startswith(
        "retrieval recall@1 70.00% measured on the checkpoint's held-out split vs 80.00% recorded by training: "
        "10.00 points apart > 2.50")
    assert check.as_metrics() == {"checkpoint_recorded": {"accuracy": 0.90, "recall_at_1": 0.80},
                                  "checkpoint_remeasured": {"accuracy": 0.88, "recall_at_1": 0.70}}


def test_on_a_large_split_the_tolerance_in_points_applies() -> None:
    check = compare({"intent": {"accuracy": 0.930}, "retriever": {}}, {"accuracy": Measured(0.924, rows=3000)},
                    Tolerances(max_recorded_gap=0.5))
    assert [(f.model, f.metric, f.limit) for f in check.failures] == [("intent", "accuracy", 0.5)]


def test_remeasure_intents_uses_the_runtime_head_and_rule() -> None:
    # two labels on a 2-d "pooled" space; rows 3 and 4 are out of scope
    head = IntentHead(np.eye(2, dtype=np.float32) * 5, np.zeros(2, dtype=np.float32), ("a", "b"), "oos",
                      OosRule("max_softmax", 1.0, 0.9))
    vectors = np.array([[1, 0], [0, 1], [1, 0], [0.1, 0.0], [1, 0]], dtype=np.float32)
    examples = IntentExamples(("x",) * 5, ("a", "b", "b", "oos", "oos"))
    measured = remeasure_intents(vectors, examples, head)
    assert measured["accuracy"] == Measured(2 / 3, 3)  # top-1 over in-scope rows, threshold ignored
    assert measured["oos_recall"] == Measured(0.5, 2)  # the rule rejects row 3 only


def _export(intents: Path, retriever: Path, bundles: Path) -> int:
    return main(["export", "--intents", str(intents), "--retriever", str(retriever), "--out", str(bundles),
                 "--quantization", "none", "--version", "v1"])


def test_an_honest_checkpoint_records_the_comparison_in_the_manifest(published: Path) -> None:
    metrics = json.loads((published / "v1" / MANIFEST).read_text())["metrics"]
    recorded, remeasured = metrics["checkpoint_recorded"], metrics["checkpoint_remeasured"]
    assert set(recorded) == set(remeasured) == {"accuracy", "recall_at_1"}
    assert recorded["accuracy"] == remeasured["accuracy"] == 1.0
    assert remeasured["recall_at_1"] == pytest.approx(recorded["recall_at_1"])


def test_a_recorded_metric_that_disagrees_fails_the_gate(checkpoints: tuple[Path, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    intents = Path(shutil.copytree(checkpoints[0], tmp_path / "intents"))
    meta = json.loads((intents / "supportbot_intents.json").read_text())
    meta["metrics"]["accuracy"] = 0.5  # training claims what the model does not do
    (intents / "supportbot_intents.json").write_text(json.dumps(meta))
    assert _export(intents, checkpoints[1], tmp_path / "bundles") == 1
    err = capsys.readouterr().err
    assert "parity gate failed; nothing published" in err
    assert "intent accuracy 100.00% measured on the checkpoint's held-out split vs 50.00% recorded by training" in err
    assert not (tmp_path / "bundles" / "v1").exists()


def test_a_pooling_drift_between_training_and_runtime_fails_the_gate(checkpoints: tuple[Path, Path],
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # The head was fitted (and the accuracy recorded) on mean pooling; a checkpoint that says
    # "cls" is run by the runtime with CLS pooling. ONNX still matches PyTorch, so only the
    # recorded-metric check can see the bundle would not classify as training measured.
    intents = Path(shutil.copytree(checkpoints[0], tmp_path / "intents"))
    meta = json.loads((intents / "supportbot_intents.json").read_text())
    meta["pooling"] = "cls"
    (intents / "supportbot_intents.json").write_text(json.dumps(meta))
    assert _export(intents, checkpoints[1], tmp_path / "bundles") == 1
    err = capsys.readouterr().err
    assert "recorded by training" in err and "embedding cosine" not in err
