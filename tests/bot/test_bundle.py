"""Loading a bundle: verification before anything is opened, then batched inference."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.models.bundle import Bundle, load_bundle
from bot.models.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    BundleError,
    digest_tree,
    read_manifest,
    verify_bundle,
)
from tests.bot.toy_bundle import LABELS, build_toy_bundle

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def toy_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_toy_bundle(tmp_path_factory.mktemp("toy-bundles"))


@pytest.fixture()
def toy(toy_master: Path, tmp_path: Path) -> Path:
    """A private copy of the toy bundle that a test may damage."""
    return Path(shutil.copytree(toy_master, tmp_path / toy_master.name))


@pytest.fixture(scope="module")
def bundle(toy_master: Path) -> Bundle:
    return load_bundle(toy_master)


TEXTS = ["hello", "where is my order", "", "🙂", "你好", "refund " * 300, "unknown words only"]


def test_load_bundle_exposes_manifest_and_version(bundle: Bundle, toy_master: Path) -> None:
    assert bundle.version == "v1" == toy_master.name
    assert bundle.manifest.intent.labels == LABELS
    assert bundle.manifest.format_version == FORMAT_VERSION
    assert bundle.threads == 1


def test_classify_returns_probabilities_and_threshold_decision(bundle: Bundle) -> None:
    scores = bundle.classify(TEXTS)
    assert scores.labels == LABELS
    assert scores.probabilities.shape == (len(TEXTS), len(LABELS))
    assert scores.probabilities.dtype == np.float32
    np.testing.assert_allclose(scores.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scores.oos_scores, scores.probabilities.max(axis=1), rtol=1e-5)  # T = 1
    np.testing.assert_array_equal(scores.in_scope, scores.oos_scores >= 0.5)
    predicted = scores.predicted()
    assert all(p in (*LABELS, "oos") for p in predicted)
    assert [p == "oos" for p in predicted] == list(~scores.in_scope)


def test_encode_returns_unit_float32_rows(bundle: Bundle) -> None:
    vectors = bundle.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_infer_equals_classify_and_encode(bundle: Bundle) -> None:
    result = bundle.infer(TEXTS)
    np.testing.assert_array_equal(result.intents.probabilities, bundle.classify(TEXTS).probabilities)
    np.testing.assert_array_equal(result.embeddings, bundle.encode(TEXTS))


def test_batching_does_not_change_a_text_result(bundle: Bundle) -> None:
    """Padding to the batch's longest text must not leak into mean pooling."""
    alone = np.concatenate([bundle.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(bundle.encode(TEXTS), alone, atol=1e-6)


def test_empty_batch(bundle: Bundle) -> None:
    assert bundle.encode([]).shape == (0, 8)
    assert bundle.classify([]).probabilities.shape == (0, len(LABELS))


def test_threads_are_passed_to_onnxruntime(toy_master: Path) -> None:
    bundle = load_bundle(toy_master, threads=2)
    assert bundle.encoder.session.get_session_options().intra_op_num_threads == 2
    with pytest.raises(ValueError, match="threads"):
        load_bundle(toy_master, threads=0)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_file_is_refused(toy: Path) -> None:
    _flip_last_byte(toy / "intent" / "model.onnx")
    with pytest.raises(BundleError, match=r"intent/model\.onnx: corrupted: sha256") as caught:
        load_bundle(toy)
    assert caught.value.path == toy / "intent" / "model.onnx"


def test_truncated_file_is_refused(toy: Path) -> None:
    path = toy / "encoder" / "tokenizer.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"encoder/tokenizer\.json: truncated"):
        load_bundle(toy)


def test_missing_file_is_refused(toy: Path) -> None:
    (toy / "intent" / "head.npz").unlink()
    with pytest.raises(BundleError, match=r"intent/head\.npz: missing"):
        load_bundle(toy)


def test_missing_manifest_is_refused(toy: Path) -> None:
    (toy / MANIFEST).unlink()
    with pytest.raises(BundleError, match="manifest.json: missing"):
        load_bundle(toy)


def _edit_manifest(bundle_dir: Path, **changes: object) -> None:
    path = bundle_dir / MANIFEST
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("changes", [{"format_version": FORMAT_VERSION + 1}, {"format": "other-bundle"}])
def test_wrong_format_version_is_refused(toy: Path, changes: dict[str, object]) -> None:
    _edit_manifest(toy, **changes)
    with pytest.raises(BundleError, match="this bot reads 'supportbot-bundle' version 1"):
        load_bundle(toy)


def test_malformed_field_is_named(toy: Path) -> None:
    data = json.loads((toy / MANIFEST).read_text())
    data["intent"]["oos"]["threshold"] = "high"
    (toy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"field intent\.oos\.threshold: expected a number, got 'high'"):
        read_manifest(toy)


def test_lexical_weight_is_read_and_older_manifests_mean_dense_search(toy: Path) -> None:
    data = json.loads((toy / MANIFEST).read_text())
    assert data["retriever"]["lexical_weight"] == 0.0 and read_manifest(toy).retriever.lexical_weight == 0.0
    data["retriever"]["lexical_weight"] = 0.35
    (toy / MANIFEST).write_text(json.dumps(data))
    assert read_manifest(toy).retriever.lexical_weight == 0.35
    del data["retriever"]["lexical_weight"]  # a bundle exported before hybrid search
    (toy / MANIFEST).write_text(json.dumps(data))
    assert read_manifest(toy).retriever.lexical_weight == 0.0
    data["retriever"]["lexical_weight"] = 1.5
    (toy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"field retriever: lexical_weight must be in \[0, 1\], got 1.5"):
        read_manifest(toy)


def test_invalid_json_is_refused(toy: Path) -> None:
    (toy / MANIFEST).write_text('{"format": ')
    with pytest.raises(BundleError, match="not valid JSON"):
        verify_bundle(toy)


def test_bundle_moved_under_another_version_name_is_refused(toy: Path) -> None:
    moved = toy.rename(toy.parent / "v2")
    with pytest.raises(BundleError, match="names version 'v1' but lies in 'v2'"):
        load_bundle(moved)


def test_file_used_but_not_listed_is_refused(toy: Path) -> None:
    data = json.loads((toy / MANIFEST).read_text())
    del data["files"]["encoder/model.onnx"]
    (toy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="lists no checksum"):
        load_bundle(toy)


def test_path_outside_the_bundle_is_refused(toy: Path) -> None:
    data = json.loads((toy / MANIFEST).read_text())
    data["files"]["../escape.txt"] = {"size": 1, "sha256": "0" * 64}
    (toy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(toy)


def test_head_that_does_not_fit_the_model_is_refused(toy: Path) -> None:
    np.savez(toy / "intent" / "head.npz", weight=np.zeros((3, 5), np.float32), bias=np.zeros(3, np.float32))
    data = json.loads((toy / MANIFEST).read_text())
    digest = digest_tree(toy)["intent/head.npz"]
    data["files"]["intent/head.npz"] = {"size": digest.size, "sha256": digest.sha256}
    (toy / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"head\.npz: expects 5-dimensional vectors, the intent model gives 8"):
        load_bundle(toy)


def test_separate_encoders_are_two_sessions(bundle: Bundle) -> None:
    assert not bundle.shared
    assert bundle.encoder.session is not bundle.intent_encoder.session


class _CountingSession:
    """The real onnxruntime session, counting its runs."""

    def __init__(self, session: object) -> None:
        self.session, self.runs = session, 0

    def run(self, *args: object, **kwargs: object) -> object:
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_shared_encoder_runs_once_per_batch_for_both_models(tmp_path: Path) -> None:
    shared = load_bundle(build_toy_bundle(tmp_path, shared=True))
    assert shared.shared
    assert shared.manifest.intent.encoder.model == shared.manifest.retriever.encoder.model == "encoder/model.onnx"
    assert not (shared.path / "intent" / "model.onnx").exists()
    assert shared.encoder.session is shared.intent_encoder.session  # one copy of the graph in memory
    result = shared.infer(TEXTS)
    np.testing.assert_array_equal(result.intents.probabilities, shared.classify(TEXTS).probabilities)
    np.testing.assert_array_equal(result.embeddings, shared.encode(TEXTS))
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, rtol=1e-5)  # retrieval: normalised
    intent_vectors = shared.intent_encoder.encode(TEXTS)
    assert not np.allclose(np.linalg.norm(intent_vectors, axis=1), 1.0)  # the head's input: not normalised
    counting = _CountingSession(shared.intent_encoder.session)
    shared.intent_encoder.session = shared.encoder.session = counting
    shared.infer(TEXTS)
    assert counting.runs == 1
    assert shared.infer([]).embeddings.shape == (0, 8)
