"""Checkpoints -> a gated, published bundle: export, quantize, gate, write the manifest, rename.

The bundle is assembled in ``BUNDLES_DIR/.build-<version>-<random>`` and renamed to
``BUNDLES_DIR/<version>`` only after the parity gate passed and the manifest was written; any
failure removes the build directory, so a reader never sees a half-written or ungated version.
Then ``current`` is switched to it (unless asked not to).

Checkpoints of one shared encoder (``supportbot train joint``: equal weights) are exported
and quantized once; both models' specs name that one graph, and the runtime runs it once.

Example::

    result = export_bundle(ExportRequest(Path("ckpt/intents"), Path("ckpt/retriever"), Path("data/bundles")))
    result.passed, result.path, format_table(result.metrics)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.models.encoder import OnnxEncoder, tokenize
from bot.models.intent_head import IntentHead
from bot.models.manifest import (
    EncoderSpec,
    IntentSpec,
    Manifest,
    RetrieverSpec,
    digest_tree,
    write_manifest,
)
from bot.models.store import activate, check_version_name
from export.checkpoint import (
    EncoderCheckpoint,
    IntentCheckpoint,
    RetrieverCheckpoint,
    read_intent_checkpoint,
    read_retriever_checkpoint,
)
from export.gate import (
    GateFailure,
    HeldoutData,
    Metrics,
    Model,
    TextEncoder,
    Vectors,
    embed,
    encode_in_batches,
    judge,
    measure,
)
from export.heldout import fingerprint_files, read_intent_examples, read_retrieval_set, read_texts
from export.onnx_export import export_onnx
from export.quantize import detect_isa, quantize_model
from export.recorded import Measured, RecordedCheck, compare, remeasure_intents, remeasure_retrieval
from export.request import ExportRequest, ExportResult, PublishError

GATE_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class _Staged:
    fp32: Path  # the optimised fp32 graph, in the work directory
    shipped: Path  # the model copied into the bundle
    spec: EncoderSpec


def _stage(checkpoint: EncoderCheckpoint, name: str, work: Path, build: Path, request: ExportRequest,
           isa: str, calibration_texts: list[str]) -> _Staged:
    """Export one encoder, quantize it into ``build/name/model.onnx``, copy its tokenizer."""
    exported = export_onnx(checkpoint.model_dir, work / name)
    (build / name).mkdir(parents=True)
    for path in exported.tokenizer_files:
        shutil.copyfile(path, build / name / path.name)
    calibration = None
    source = exported.optimized
    if request.options.quantization == "static":
        source = exported.plain  # QDQ needs typed tensors; onnxruntime fuses the result on load
        plain = OnnxEncoder.open(exported.plain, exported.tokenizer, pooling=checkpoint.pooling, normalize=False,
                                 max_length=checkpoint.max_length, pad_token=exported.pad_token)
        calibration = [tokenize(plain.tokenizer, calibration_texts[i:i + 16]).feeds(plain.input_names)
                       for i in range(0, len(calibration_texts), 16)]
    shipped = quantize_model(source, build / name / "model.onnx", request.options.quantization, isa, calibration)
    spec = EncoderSpec(
        model=f"{name}/model.onnx", tokenizer=f"{name}/tokenizer.json", pooling=checkpoint.pooling,
        normalize=checkpoint.normalize, max_length=checkpoint.max_length, pad_token=exported.pad_token,
        base_model=checkpoint.base_model, data_fingerprint=checkpoint.data_fingerprint,
        checkpoint_metrics=checkpoint.metrics,
    )
    return _Staged(exported.optimized, shipped, spec)


def _shared(encoder: _Staged, checkpoint: EncoderCheckpoint) -> _Staged:
    """The intent model's view of a shared encoder: the same graph and tokenizer, its own pooling."""
    spec = replace(encoder.spec, pooling=checkpoint.pooling, normalize=checkpoint.normalize,
                   max_length=checkpoint.max_length, base_model=checkpoint.base_model,
                   data_fingerprint=checkpoint.data_fingerprint, checkpoint_metrics=checkpoint.metrics)
    return _Staged(encoder.fp32, encoder.shipped, spec)


def _heldout(request: ExportRequest, intents: IntentCheckpoint, retriever: RetrieverCheckpoint
             ) -> tuple[HeldoutData, list[Path]]:
    paths = [
        request.heldout_intents or intents.heldout_path,
        request.heldout_faq or retriever.heldout_faq_path,
        request.heldout_queries or retriever.heldout_queries_path,
    ]
    data = HeldoutData(read_intent_examples(paths[0]), read_retrieval_set(paths[1], paths[2], retriever.document))
    return data, paths


def _vectors(intent: Path, encoder: Path, build: Path, staged: tuple[_Staged, _Staged], data: HeldoutData) -> Vectors:
    opened = [
        OnnxEncoder.open(path, build / s.spec.tokenizer, pooling=s.spec.pooling, normalize=s.spec.normalize,
                         max_length=s.spec.max_length, pad_token=s.spec.pad_token, threads=GATE_THREADS)
        for path, s in zip((intent, encoder), staged, strict=True)
    ]
    return embed(opened[0], opened[1], data)


def _gate(request: ExportRequest, intents: IntentCheckpoint, retriever: RetrieverCheckpoint, build: Path,
          staged: tuple[_Staged, _Staged], data: HeldoutData) -> _GateRun:
    """Measure PyTorch, ONNX fp32 and the shipped models on ``data``; judge the shipped one."""
    from export.reference import TorchEncoder

    head = IntentHead.load(intents.head_path, labels=intents.labels, oos_label=intents.oos_label, rule=intents.oos)
    torch_models = [
        TorchEncoder.open(c.model_dir, build / s.spec.tokenizer, pooling=s.spec.pooling, normalize=s.spec.normalize,
                          max_length=s.spec.max_length, pad_token=s.spec.pad_token)
        for c, s in zip((intents.encoder, retriever.encoder), staged, strict=True)
    ]
    reference = embed(torch_models[0], torch_models[1], data)
    recorded = _check_recorded(request, intents, retriever, data, reference, torch_models, head)
    del torch_models
    metrics = {"pytorch_fp32": measure(reference, data, head)}
    fp32 = _vectors(staged[0].fp32, staged[1].fp32, build, staged, data)
    metrics["onnx_fp32"] = measure(fp32, data, head, reference)
    reverted: tuple[Model, ...] = ()
    if request.options.quantization != "none":
        shipped = _vectors(staged[0].shipped, staged[1].shipped, build, staged, data)
        metrics["onnx_int8"] = measure(shipped, data, head, reference)
        failures = judge(metrics["pytorch_fp32"], metrics["onnx_int8"], request.options.tolerances)
        reverted = _revert_failed(failures, staged) if request.options.fp32_fallback else ()
        if reverted:
            shipped = _vectors(staged[0].shipped, staged[1].shipped, build, staged, data)
            metrics["onnx_shipped"] = measure(shipped, data, head, reference)
    failures = judge(metrics["pytorch_fp32"], list(metrics.values())[-1], request.options.tolerances)
    return _GateRun(metrics, (*recorded.failures, *failures), reverted, recorded)


@dataclass(frozen=True)
class _GateRun:
    metrics: dict[str, Metrics]  # by variant, the shipped one last
    failures: tuple[GateFailure, ...]
    fp32_models: tuple[Model, ...]
    recorded: RecordedCheck


def _check_recorded(request: ExportRequest, intents: IntentCheckpoint, retriever: RetrieverCheckpoint,
                    data: HeldoutData, reference: Vectors, torch_models: Sequence[TextEncoder],
                    head: IntentHead) -> RecordedCheck:
    """Re-measure the PyTorch checkpoints on the held-out splits they keep and compare with what
    training recorded there (``export.recorded``). Where the gate's data is that split (no
    ``--heldout-*`` given), its PyTorch vectors serve; a split the checkpoint lacks is skipped."""
    measured: dict[str, Measured] = {}
    if request.heldout_intents is None:
        measured |= remeasure_intents(reference.intent, data.intents, head)
    elif intents.heldout_path.is_file():
        examples = read_intent_examples(intents.heldout_path)
        measured |= remeasure_intents(encode_in_batches(torch_models[0], examples.texts), examples, head)
    if request.heldout_faq is None:
        measured |= remeasure_retrieval(reference.queries, reference.documents, data.retrieval)
    elif retriever.heldout_faq_path.is_file() and retriever.heldout_queries_path.is_file():
        split = read_retrieval_set(retriever.heldout_faq_path, retriever.heldout_queries_path, retriever.document)
        measured |= remeasure_retrieval(encode_in_batches(torch_models[1], split.queries),
                                        encode_in_batches(torch_models[1], split.documents), split)
    return compare({"intent": intents.encoder.metrics, "retriever": retriever.encoder.metrics}, measured,
                   request.options.tolerances)


_STAGED_INDEX: dict[Model, int] = {"intent": 0, "retriever": 1}  # positions in the ``staged`` pair


def _revert_failed(failures: list[GateFailure], staged: tuple[_Staged, _Staged]) -> tuple[Model, ...]:
    """Put the fp32 graph in place of each quantized model that failed the gate; name them.

    Quantization is the only difference between the two, and the fp32 ONNX graph matches
    PyTorch, so the gate then measures exactly what will be served. A shared encoder is one
    file: reverting it for either model reverts it for both.
    """
    failed = tuple(sorted({f.model for f in failures if f.against == "pytorch"}, key=_STAGED_INDEX.__getitem__))
    for model in failed:
        shutil.copyfile(staged[_STAGED_INDEX[model]].fp32, staged[_STAGED_INDEX[model]].shipped)
    return failed


def _manifest(version: str, request: ExportRequest, isa: str, intents: IntentCheckpoint,
              retriever: RetrieverCheckpoint, staged: tuple[_Staged, _Staged], gate: _GateRun,
              data: HeldoutData, heldout: list[Path], build: Path) -> Manifest:
    return Manifest(
        version=version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        intent=IntentSpec(staged[0].spec, "intent/head.npz", intents.labels, intents.oos_label, intents.oos),
        retriever=RetrieverSpec(staged[1].spec, retriever.document, retriever.thresholds, retriever.lexical_weight),
        quantization=_quantization_note(request.options.quantization, gate.metrics),
        isa=isa,
        # the variants' metrics, then the recorded-metric check: a map of maps of numbers like them
        metrics={name: m.as_dict() for name, m in gate.metrics.items()} | gate.recorded.as_metrics(),
        gate={"max_accuracy_drop_points": request.options.tolerances.max_accuracy_drop,
              "max_recall_drop_points": request.options.tolerances.max_recall_drop,
              "min_cosine": request.options.tolerances.min_cosine},
        heldout_fingerprint=fingerprint_files(heldout),
        heldout_rows=data.sizes(intents.labels),
        files=digest_tree(build),
    )


def _quantization_note(scheme: str, metrics: dict[str, Metrics]) -> str:
    if "onnx_shipped" not in metrics:
        return scheme
    return f"{scheme}, with a model kept in fp32 where int8 failed the parity gate (see metrics.onnx_int8)"


def export_bundle(request: ExportRequest) -> ExportResult:
    """Run the whole export; publish (and activate) only when the gate passes."""
    intents = read_intent_checkpoint(request.intents)
    retriever = read_retriever_checkpoint(request.retriever)
    data, heldout = _heldout(request, intents, retriever)
    isa = detect_isa() if request.options.isa == "auto" else request.options.isa
    try:
        version = check_version_name(request.version or datetime.now(UTC).strftime("v%Y%m%d-%H%M%S"))
    except ValueError as error:
        raise PublishError(str(error)) from None
    calibration_texts = read_texts(request.options.calibration) if request.options.calibration else []
    bundles_dir = Path(request.bundles_dir)
    if (bundles_dir / version).exists():
        raise PublishError(f"{bundles_dir / version} exists; bundles are written once (pass another --version)")
    bundles_dir.mkdir(parents=True, exist_ok=True)
    build = bundles_dir / f".build-{version}-{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory(prefix="supportbot-export-") as work:
            encoder = _stage(retriever.encoder, "encoder", Path(work), build, request, isa, calibration_texts)
            if intents.encoder.digest() == retriever.encoder.digest():  # trained jointly: ship the graph once
                intent = _shared(encoder, intents.encoder)
                (build / "intent").mkdir()
            else:
                intent = _stage(intents.encoder, "intent", Path(work), build, request, isa, calibration_texts)
            staged = (intent, encoder)
            shutil.copyfile(intents.head_path, build / "intent" / "head.npz")
            gate = _gate(request, intents, retriever, build, staged, data)
        if gate.failures:
            return ExportResult(version, None, gate.metrics, gate.failures, data.sizes(intents.labels),
                                gate.fp32_models, gate.recorded)
        manifest = _manifest(version, request, isa, intents, retriever, staged, gate, data, heldout, build)
        write_manifest(build, manifest)
        os.rename(build, bundles_dir / version)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    if request.activate:
        activate(bundles_dir, version)
    return ExportResult(version, bundles_dir / version, gate.metrics, (), data.sizes(intents.labels), gate.fp32_models,
                        gate.recorded)
