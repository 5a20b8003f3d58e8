"""``supportbot export`` end to end on tiny checkpoints: gate, manifest, pointer, and refusals."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.models.bundle import load_bundle
from bot.models.manifest import MANIFEST
from bot.models.store import current_version, list_versions, resolve_current
from export.reference import TorchEncoder
from tests.export.checkpoints import HELDOUT_INTENTS, INTENT_LABELS

EDGE_TEXTS = ["", "a", "🙂", "你好，请问我的订单在哪里？", "Where is my ORDER?!",
              "refund my money " * 200]


def test_export_publishes_and_activates_a_gated_bundle(published: Path) -> None:
    assert list_versions(published) == ["v1"] and current_version(published) == "v1"
    assert sorted(p.name for p in published.iterdir()) == ["current", "v1"]  # no build leftovers
    manifest = load_bundle(resolve_current(published)).manifest
    assert manifest.quantization == "per-channel" and manifest.isa in ("avx512_vnni", "avx2", "arm64")
    assert manifest.intent.labels == INTENT_LABELS and manifest.intent.oos.threshold == 0.5
    assert manifest.retriever.document == "question" and manifest.retriever.thresholds.answer == 0.7
    assert manifest.intent.encoder.max_length == 64 and manifest.retriever.encoder.max_length == 128
    assert set(manifest.metrics) == {"pytorch_fp32", "onnx_fp32", "onnx_int8", "checkpoint_recorded",
                                     "checkpoint_remeasured"}
    assert manifest.metrics["pytorch_fp32"]["accuracy"] == 1.0 == manifest.metrics["onnx_int8"]["accuracy"]
    assert manifest.metrics["onnx_int8"]["overall_accuracy"] == 1.0  # the two oos rows rejected
    assert manifest.metrics["onnx_int8"]["intent_cosine"] >= 0.99
    assert manifest.gate == {"max_accuracy_drop_points": 0.3, "max_recall_drop_points": 0.5, "min_cosine": 0.99}
    assert {"intent/model.onnx", "intent/head.npz", "intent/tokenizer.json", "encoder/model.onnx",
            "encoder/tokenizer.json"} <= set(manifest.files)
    assert manifest.intent.encoder.data_fingerprint == "0" * 64 and len(manifest.heldout_fingerprint) == 64
    assert manifest.heldout_rows == {"intents_in_scope": 12, "intents": 14, "faq_documents": 7, "queries": 8}
    raw = json.loads((published / "v1" / MANIFEST).read_text())
    assert list(raw)[:2] == ["format", "format_version"]


def test_int8_bundle_matches_pytorch_on_edge_texts(published: Path, checkpoints: tuple[Path, Path]) -> None:
    bundle = load_bundle(published / "v1")
    spec = bundle.manifest.retriever.encoder
    reference = TorchEncoder.open(checkpoints[1] / "model", published / "v1" / spec.tokenizer, pooling="mean",
                                  normalize=True, max_length=spec.max_length, pad_token=spec.pad_token)
    expected, got = reference.encode(EDGE_TEXTS), bundle.encode(EDGE_TEXTS)
    assert (expected * got).sum(axis=1).min() > 0.99


def test_an_int8_bundle_answers_a_text_the_same_whatever_shares_its_batch(published: Path) -> None:
    bundle = load_bundle(published / "v1")
    assert bundle.intent_encoder.alone and bundle.encoder.alone  # per-channel: activations scaled per run
    together = bundle.infer(EDGE_TEXTS)
    for row, text in enumerate(EDGE_TEXTS):
        alone = bundle.infer([text])
        assert np.array_equal(together.embeddings[row], alone.embeddings[0])
        # the head's matrix product may round differently by batch shape: float noise, not a scale
        np.testing.assert_allclose(together.intents.probabilities[row], alone.intents.probabilities[0], atol=1e-6)


def test_bundle_classifies_heldout_texts_like_the_checkpoint(published: Path) -> None:
    texts = [t for t, _ in HELDOUT_INTENTS]
    assert load_bundle(published / "v1").classify(texts).predicted() == [label for _, label in HELDOUT_INTENTS]


def _export(checkpoints: tuple[Path, Path], bundles: Path, *extra: str) -> int:
    return main(["export", "--intents", str(checkpoints[0]), "--retriever", str(checkpoints[1]),
                 "--out", str(bundles), *extra])


def test_failed_gate_publishes_nothing(checkpoints: tuple[Path, Path], published: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bundles = Path(shutil.copytree(published, tmp_path / "bundles", symlinks=True))
    # int8 never reproduces fp32 exactly, so a cosine of 1.0 cannot be met
    assert _export(checkpoints, bundles, "--version", "v2", "--min-cosine", "1.0") == 1
    err = capsys.readouterr().err
    assert "parity gate failed; nothing published" in err
    assert "embedding cosine to PyTorch 0.99" in err and "< 1.00000" in err
    assert "pytorch_fp32" in err and "onnx_int8" in err  # the numbers are shown
    assert "gate data: 12 in-scope intent rows (1 row = 8.33 points)" in err
    assert sorted(p.name for p in bundles.iterdir()) == ["current", "v1"]  # no v2, no build directory
    assert current_version(bundles) == "v1"


def test_existing_version_is_refused_before_any_work(checkpoints: tuple[Path, Path], published: Path,
                                                      tmp_path: Path) -> None:
    bundles = Path(shutil.copytree(published, tmp_path / "bundles", symlinks=True))
    with pytest.raises(SystemExit, match=r"^supportbot export: error: .*v1 exists; bundles are written once"):
        _export(checkpoints, bundles, "--version", "v1")


def test_checkpoint_errors_are_one_clear_line(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    intents = Path(shutil.copytree(checkpoints[0], tmp_path / "intents"))
    meta = json.loads((intents / "supportbot_intents.json").read_text())
    meta["labels"] = meta["labels"][:-1]
    (intents / "supportbot_intents.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match=r"head\.npz: weight \(4, 32\) and bias \(4,\) do not fit 3 labels"):
        _export((intents, checkpoints[1]), tmp_path / "bundles")
    (intents / "supportbot_intents.json").unlink()
    with pytest.raises(SystemExit, match=r"supportbot_intents\.json: missing; is .* a finished checkpoint"):
        _export((intents, checkpoints[1]), tmp_path / "bundles")
    assert not (tmp_path / "bundles").exists()


def test_static_needs_calibration_texts(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="static quantization needs --calibration CSV"):
        _export(checkpoints, tmp_path / "bundles", "--quantization", "static")


def test_heldout_flags_override_the_checkpoint_data(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    queries = tmp_path / "queries.csv"
    queries.write_text("query,faq_id\nwhere is my parcel,f9\n")
    with pytest.raises(SystemExit, match=r"queries\.csv, line 2: faq_id 'f9' is not in"):
        _export(checkpoints, tmp_path / "bundles", "--heldout-faq", str(checkpoints[1] / "heldout_faq.csv"),
                "--heldout-queries", str(queries))


def test_static_quantization_calibrates_on_the_given_texts(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    calibration = tmp_path / "calibration.csv"
    calibration.write_text("text\n" + "\n".join(t for t, _ in HELDOUT_INTENTS) + "\nhello where is my refund\n")
    bundles = tmp_path / "bundles"
    assert _export(checkpoints, bundles, "--quantization", "static", "--calibration", str(calibration),
                   "--version", "s1", "--no-activate") == 0
    bundle = load_bundle(bundles / "s1")
    assert bundle.manifest.quantization == "static" and current_version(bundles) is None
    assert bundle.classify(["hello"]).predicted() == ["greeting"]


def test_fp32_fallback_ships_the_failing_model_unquantized(checkpoints: tuple[Path, Path], published: Path,
                                                           tmp_path: Path) -> None:
    bundles = Path(shutil.copytree(published, tmp_path / "bundles", symlinks=True))
    # int8 misses a 0.99999 cosine; the fp32 graph meets it, so the fallback ships fp32 and passes
    assert _export(checkpoints, bundles, "--version", "v2", "--min-cosine", "0.99999", "--fp32-fallback") == 0
    manifest = json.loads((bundles / "v2" / MANIFEST).read_text())
    assert "kept in fp32" in manifest["quantization"]
    assert manifest["metrics"]["onnx_shipped"]["intent_cosine"] >= 0.99999
    assert manifest["metrics"]["onnx_int8"]["intent_cosine"] < 0.99999
    int8_size = (bundles / "v1" / "intent" / "model.onnx").stat().st_size
    assert (bundles / "v2" / "intent" / "model.onnx").stat().st_size > int8_size
    assert load_bundle(bundles / "v2").classify(["hello"]).labels == INTENT_LABELS


def test_separately_trained_encoders_ship_as_two_graphs(published: Path) -> None:
    bundle = load_bundle(published / "v1")
    assert not bundle.shared
    assert bundle.manifest.intent.encoder.model == "intent/model.onnx"
    assert bundle.manifest.retriever.encoder.model == "encoder/model.onnx"


def test_one_shared_encoder_is_exported_once_and_run_once(shared_checkpoints: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    assert _export(shared_checkpoints, bundles, "--version", "v1") == 0
    bundle = load_bundle(bundles / "v1")
    manifest = bundle.manifest
    assert manifest.intent.encoder.model == manifest.retriever.encoder.model == "encoder/model.onnx"
    assert not any(name.startswith("intent/") and name != "intent/head.npz" for name in manifest.files)
    assert bundle.shared and bundle.encoder.session is bundle.intent_encoder.session
    assert manifest.intent.encoder.normalize is False and manifest.retriever.encoder.normalize is True
    assert manifest.intent.encoder.data_fingerprint == "0" * 64  # each spec keeps its own checkpoint's facts
    assert manifest.retriever.encoder.data_fingerprint == "1" * 64
    assert manifest.metrics["onnx_int8"]["accuracy"] == 1.0  # the gate measured both models on the one graph
    assert manifest.metrics["onnx_int8"]["retrieval_cosine"] >= 0.99
    texts = [t for t, _ in HELDOUT_INTENTS]
    assert bundle.infer(texts).intents.predicted() == [label for _, label in HELDOUT_INTENTS]


def test_a_checkpoint_without_weights_is_refused_not_taken_for_a_shared_one(checkpoints: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    from export.checkpoint import CheckpointError, encoder_digest

    empty = tmp_path / "model"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no weights"):
        encoder_digest(empty)
    assert encoder_digest(checkpoints[0] / "model") != encoder_digest(checkpoints[1] / "model")
