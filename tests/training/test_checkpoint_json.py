"""Training writes checkpoint metadata through ``export.checkpoint``: the JSON is the documented one.

``tests/export/checkpoints.py`` writes checkpoints straight from docs/checkpoints.md, without
the project's code; reading one and writing it back must give the same keys, in the same
order, with the same values.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.checkpoint import (
    INTENT_JSON,
    RETRIEVER_JSON,
    CheckpointError,
    read_intent_checkpoint,
    read_retriever_checkpoint,
    write_intent_json,
    write_retriever_json,
)
from tests.export.checkpoints import write_intent_checkpoint, write_retriever_checkpoint


def test_intent_json_round_trips(tiny_bert_master: Path, tmp_path: Path) -> None:
    ckpt = write_intent_checkpoint(tiny_bert_master, tmp_path / "intents", threshold=0.375, pooling="cls")
    documented = json.loads((ckpt / INTENT_JSON).read_text(encoding="utf-8"))
    checkpoint = read_intent_checkpoint(ckpt)
    (ckpt / INTENT_JSON).unlink()
    assert write_intent_json(checkpoint) == ckpt / INTENT_JSON
    written = json.loads((ckpt / INTENT_JSON).read_text(encoding="utf-8"))
    assert written == documented and list(written) == list(documented)
    assert list(written["oos"]) == ["score", "temperature", "threshold", "calibration"]
    assert read_intent_checkpoint(ckpt) == checkpoint


def test_retriever_json_round_trips(tiny_bert_master: Path, tmp_path: Path) -> None:
    ckpt = write_retriever_checkpoint(tiny_bert_master, tmp_path / "retriever", document="question_answer")
    documented = json.loads((ckpt / RETRIEVER_JSON).read_text(encoding="utf-8"))
    checkpoint = read_retriever_checkpoint(ckpt)
    (ckpt / RETRIEVER_JSON).unlink()
    write_retriever_json(checkpoint)
    written = json.loads((ckpt / RETRIEVER_JSON).read_text(encoding="utf-8"))
    assert written == documented and list(written) == list(documented)
    assert list(written["thresholds"]) == ["answer", "margin", "calibration"]
    assert read_retriever_checkpoint(ckpt) == checkpoint


def test_the_writer_refuses_the_oos_label_as_a_class(tiny_bert_master: Path, tmp_path: Path) -> None:
    checkpoint = read_intent_checkpoint(write_intent_checkpoint(tiny_bert_master, tmp_path / "intents"))
    bad = type(checkpoint)(checkpoint.encoder, (*checkpoint.labels, "oos"), "oos", checkpoint.oos)
    with pytest.raises(CheckpointError, match="oos_label"):
        write_intent_json(bad)
