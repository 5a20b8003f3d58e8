"""The bundle manifest: the contract between ``supportbot export`` and the runtime.

``manifest.json`` lies at the top of every bundle version directory (``bot.models.store``)::

    manifest.json                   format + version first; sha256 and size of every file
    intent/  model.onnx tokenizer.json head.npz
    encoder/ model.onnx tokenizer.json

When both models were trained as one shared encoder (``supportbot train joint``), the bundle
holds one ``encoder/model.onnx`` that both specs name and ``intent/`` keeps only ``head.npz``.

This module is the one reader and writer of that file: the export writes it with
``write_manifest``, the runtime and the ``bundles`` commands read it with ``read_manifest`` and
check every file against it with ``verify_bundle``. Anything wrong raises ``BundleError``
naming the file. Torch-free.

Example::

    manifest = verify_bundle(Path("data/bundles/v20261129-101500"))
    manifest.intent.labels, manifest.retriever.thresholds.answer
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from bot.models.encoder import POOLING_MODES
from bot.models.field_reader import FieldReader
from bot.models.oos import OosRule, rule_fields
from knowledge.faq.documents import DOCUMENT_MODES

FORMAT = "supportbot-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class BundleError(Exception):
    """A bundle that cannot be used; ``path`` is the offending file or directory."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class FileDigest:
    """Size in bytes and sha256 (hex) of one bundle file."""

    size: int
    sha256: str


@dataclass(frozen=True)
class EncoderSpec:
    """One ONNX transformer in the bundle and how to tokenize for it and pool its output."""

    model: str  # bundle-relative path of the .onnx file
    tokenizer: str  # bundle-relative path of tokenizer.json
    pooling: str  # "mean" | "cls"
    normalize: bool
    max_length: int
    pad_token: str
    base_model: str
    data_fingerprint: str  # sha256 of the training data, from the checkpoint
    checkpoint_metrics: dict[str, float]  # as training reported them


@dataclass(frozen=True)
class IntentSpec:
    encoder: EncoderSpec
    head: str  # bundle-relative path of head.npz
    labels: tuple[str, ...]
    oos_label: str
    oos: OosRule


@dataclass(frozen=True)
class RetrievalThresholds:
    answer: float  # FAQ search score (cosine or hybrid) above which the top hit is answered directly
    margin: float  # minimum gap between the first and second FAQ
    calibration: str


@dataclass(frozen=True)
class RetrieverSpec:
    encoder: EncoderSpec
    document: str  # "question" | "question_answer": the text embedded per FAQ phrasing
    thresholds: RetrievalThresholds  # calibrated on the hybrid score that ``lexical_weight`` gives
    # Weight of the lexical (BM25) score in the FAQ search's score (``knowledge.faq.lexical.fuse``);
    # 0 is dense search alone, what bundles made before hybrid search hold.
    lexical_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1], got {self.lexical_weight}")


@dataclass(frozen=True)
class Manifest:
    """Everything ``manifest.json`` says; ``metrics`` holds the gate's measurements of the
    PyTorch checkpoints and of the ONNX models on the same held-out data."""

    version: str
    created_at: str
    intent: IntentSpec
    retriever: RetrieverSpec
    quantization: str  # "per-channel" | "per-tensor" | "static" | "none"
    isa: str
    metrics: dict[str, dict[str, float]]  # {"pytorch_fp32": {...}, "onnx_fp32": ..., "onnx_int8": ...}
    gate: dict[str, float]  # the tolerances the bundle passed
    heldout_fingerprint: str
    heldout_rows: dict[str, int]  # sizes of the gate's data: one row is 100/n points of a metric
    files: dict[str, FileDigest]
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["intent"]["oos"] = rule_fields(self.intent.oos)
        ordered = {"format": data.pop("format"), "format_version": data.pop("format_version"), **data}
        return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def _read_encoder(fields: FieldReader) -> EncoderSpec:
    metrics = fields.mapping("checkpoint_metrics")
    return EncoderSpec(
        model=fields.text("model"),
        tokenizer=fields.text("tokenizer"),
        pooling=fields.choice("pooling", POOLING_MODES),
        normalize=fields.flag("normalize"),
        max_length=fields.integer("max_length"),
        pad_token=fields.text("pad_token"),
        base_model=fields.text("base_model"),
        data_fingerprint=fields.text("data_fingerprint"),
        checkpoint_metrics={k: metrics.number(k) for k in metrics},
    )


def parse_manifest(path: Path, data: object) -> Manifest:
    """Build a ``Manifest`` from decoded JSON; raise ``BundleError`` naming the bad field."""
    fields = FieldReader(data, "", lambda reason: BundleError(path, reason))
    found = (fields.optional_text("format"), fields.optional_integer("format_version"))
    if found != (FORMAT, FORMAT_VERSION):
        raise BundleError(path, f"format {found[0]!r} version {found[1]!r}; "
                                f"this bot reads {FORMAT!r} version {FORMAT_VERSION}")
    intent, retriever = fields.mapping("intent"), fields.mapping("retriever")
    oos, thresholds = intent.mapping("oos"), retriever.mapping("thresholds")
    metrics, gate, files = fields.mapping("metrics"), fields.mapping("gate"), fields.mapping("files")
    rows = fields.mapping("heldout_rows")
    return Manifest(
        version=fields.text("version"),
        created_at=fields.text("created_at"),
        intent=IntentSpec(
            encoder=_read_encoder(intent.mapping("encoder")),
            head=intent.text("head"),
            labels=tuple(intent.texts("labels")),
            oos_label=intent.text("oos_label"),
            oos=oos.build(lambda: OosRule(oos.text("score"), oos.number("temperature"),
                                          oos.number("threshold"), oos.text("calibration"),
                                          oos.optional_number("softmax_weight") or 0.0)),
        ),
        retriever=retriever.build(lambda: RetrieverSpec(
            encoder=_read_encoder(retriever.mapping("encoder")),
            document=retriever.choice("document", DOCUMENT_MODES),
            thresholds=RetrievalThresholds(thresholds.number("answer"), thresholds.number("margin"),
                                           thresholds.text("calibration")),
            lexical_weight=retriever.optional_number("lexical_weight") or 0.0,
        )),
        quantization=fields.text("quantization"),
        isa=fields.text("isa"),
        metrics={k: {m: metrics.mapping(k).number(m) for m in metrics.mapping(k)} for k in metrics},
        gate={k: gate.number(k) for k in gate},
        heldout_fingerprint=fields.text("heldout_fingerprint"),
        heldout_rows={k: rows.integer(k) for k in rows},
        files={k: FileDigest(files.mapping(k).integer("size"), files.mapping(k).text("sha256")) for k in files},
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest_tree(root: Path) -> dict[str, FileDigest]:
    """Size and sha256 of every file under ``root`` but the manifest, keyed by relative path."""
    return {
        path.relative_to(root).as_posix(): FileDigest(path.stat().st_size, sha256_file(path))
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST
    }


def read_manifest(bundle_dir: Path) -> Manifest:
    """Read and validate ``manifest.json`` (no checksums; see ``verify_bundle``)."""
    path = bundle_dir / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(path, "missing: not a bundle directory") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(path, f"not valid JSON ({error})") from None
    manifest = parse_manifest(path, data)
    directory = bundle_dir.resolve().name  # through a ``current`` symlink: the version it names
    if manifest.version != directory:
        raise BundleError(path, f"names version {manifest.version!r} but lies in {directory!r}")
    return manifest


def verify_bundle(bundle_dir: Path) -> Manifest:
    """Check the manifest, then the size and sha256 of every listed file; return the manifest."""
    manifest = read_manifest(bundle_dir)
    referenced = [manifest.intent.encoder.model, manifest.intent.encoder.tokenizer, manifest.intent.head,
                  manifest.retriever.encoder.model, manifest.retriever.encoder.tokenizer]
    for name in referenced:
        if name not in manifest.files:
            raise BundleError(bundle_dir / MANIFEST, f"uses {name!r} but lists no checksum for it")
    for name, expected in manifest.files.items():
        path = bundle_dir / name
        if not path.resolve().is_relative_to(bundle_dir.resolve()):
            raise BundleError(path, "lies outside the bundle")
        if not path.is_file():
            raise BundleError(path, "missing")
        size = path.stat().st_size
        if size != expected.size:
            raise BundleError(path, f"truncated or changed: {size} bytes, the manifest says {expected.size}")
        if sha256_file(path) != expected.sha256:
            raise BundleError(path, "corrupted: sha256 differs from the manifest")
    return manifest


def write_manifest(bundle_dir: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` (to a temporary name, then renamed) into a bundle being built."""
    temp = bundle_dir / f".{MANIFEST}.tmp"
    temp.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(temp, bundle_dir / MANIFEST)
