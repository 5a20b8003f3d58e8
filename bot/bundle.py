"""Runtime bundles: the versioned model directory that ``supportbot export`` writes and the bot loads.

Layout of ``BUNDLES_DIR`` (written once per version, never edited)::

    BUNDLES_DIR/
      current -> v20261129-101500       symlink naming the active version, swapped atomically
      v20261129-101500/
        manifest.json                   format + version first; sha256 and size of every file
        intent/  model.onnx tokenizer.json head.npz
        encoder/ model.onnx tokenizer.json

When both models were trained as one shared encoder (``supportbot train joint``), the bundle
holds one ``encoder/model.onnx`` that both specs name, ``intent/`` keeps only ``head.npz``,
and each message goes through the transformer once: the intent head and the FAQ search pool
the same hidden states.

Loading verifies the format version, then the size and sha256 of every file the manifest lists,
before any model is opened; anything wrong raises ``BundleError`` naming the file, so the caller
keeps the bundle it already runs. Errors::

    BundleError            missing, truncated, corrupted, mismatched or unknown-format bundle

Torch-free: onnxruntime, tokenizers, numpy and the standard library only.

Example::

    bundle = load_bundle(resolve_current(Path("data/bundles")), threads=1)
    result = bundle.infer(["where is my card?", "hello"])
    result.intents.predicted(), result.embeddings.shape     # [..], (2, 384)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.encoder import POOLING_MODES, OnnxEncoder, tokenize
from bot.intent_head import IntentHead, IntentScores, OosRule
from bot.field_reader import FieldReader
from knowledge.location import data_dir

FORMAT = "supportbot-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "current"
DOCUMENT_MODES = ("question", "question_answer")
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
    answer: float  # cosine above which the top FAQ hit is answered directly
    margin: float  # minimum gap between the first and second FAQ
    calibration: str


@dataclass(frozen=True)
class RetrieverSpec:
    encoder: EncoderSpec
    document: str  # "question" | "question_answer": the text embedded per FAQ phrasing
    thresholds: RetrievalThresholds


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
        checkpoint_metrics={k: metrics.number(k) for k in metrics.keys()},
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
                                          oos.number("threshold"), oos.text("calibration"))),
        ),
        retriever=RetrieverSpec(
            encoder=_read_encoder(retriever.mapping("encoder")),
            document=retriever.choice("document", DOCUMENT_MODES),
            thresholds=RetrievalThresholds(thresholds.number("answer"), thresholds.number("margin"),
                                           thresholds.text("calibration")),
        ),
        quantization=fields.text("quantization"),
        isa=fields.text("isa"),
        metrics={k: {m: metrics.mapping(k).number(m) for m in metrics.mapping(k).keys()} for k in metrics.keys()},
        gate={k: gate.number(k) for k in gate.keys()},
        heldout_fingerprint=fields.text("heldout_fingerprint"),
        heldout_rows={k: rows.integer(k) for k in rows.keys()},
        files={k: FileDigest(files.mapping(k).integer("size"), files.mapping(k).text("sha256")) for k in files.keys()},
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


def default_bundles_dir() -> Path:
    """``$SUPPORTBOT_DATA_DIR/bundles``; the data directory defaults to ``./data``."""
    return data_dir() / "bundles"


def check_version_name(version: str) -> str:
    """Return ``version`` if it can name a bundle directory, else raise ``ValueError``."""
    if not _VERSION_NAME.match(version) or version == CURRENT:
        raise ValueError(f"bad bundle version {version!r}: use letters, digits, '.', '_' or '-'")
    return version


def list_versions(bundles_dir: Path) -> list[str]:
    """The bundle versions in ``bundles_dir`` (directories with a manifest), oldest name first."""
    if not bundles_dir.is_dir():
        return []
    return sorted(
        p.name for p in bundles_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def current_version(bundles_dir: Path) -> str | None:
    """The version the ``current`` pointer names, or None when nothing was activated yet."""
    pointer = bundles_dir / CURRENT
    return os.readlink(pointer) if pointer.is_symlink() else None


def resolve_current(bundles_dir: Path) -> Path:
    """The directory of the active bundle; ``BundleError`` when there is none."""
    version = current_version(bundles_dir)
    if version is None:
        raise BundleError(bundles_dir / CURRENT, "no active bundle: run `supportbot bundles activate VERSION`")
    target = bundles_dir / version
    if not target.is_dir():
        raise BundleError(target, "the current pointer names a bundle that does not exist")
    return target


def activate(bundles_dir: Path, version: str) -> Path:
    """Verify bundle ``version`` and point ``current`` at it in one atomic rename.

    A reader sees the old pointer or the new one, never none. Rollback = activate the old version.
    """
    target = bundles_dir / check_version_name(version)
    verify_bundle(target)
    temp = bundles_dir / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(version, temp, target_is_directory=True)  # relative: the directory may move
    try:
        os.replace(temp, bundles_dir / CURRENT)
    except OSError:
        temp.unlink()
        raise
    return target


@dataclass(frozen=True)
class Inference:
    """Both models' answers for one batch: intent scores and [n, dim] unit embeddings."""

    intents: IntentScores
    embeddings: np.ndarray


class Bundle:
    """A verified bundle with its models open; thread-safe for concurrent calls (onnxruntime is)."""

    def __init__(self, path: Path, manifest: Manifest, threads: int) -> None:
        self.path = path
        self.manifest = manifest
        self.threads = threads
        intent, retriever = manifest.intent, manifest.retriever
        self.intent_encoder = self._open_encoder(intent.encoder, threads)
        try:
            self.head = IntentHead.load(path / intent.head, labels=intent.labels, oos_label=intent.oos_label,
                                        rule=intent.oos)
        except ValueError as error:
            raise BundleError(path / intent.head, str(error)) from error
        if self.head.weight.shape[1] != self.intent_encoder.dim:
            raise BundleError(path / intent.head, f"expects {self.head.weight.shape[1]}-dimensional vectors, "
                                                  f"the intent model gives {self.intent_encoder.dim}")
        self.shared = shares_pass(intent.encoder, retriever.encoder)
        if self.shared:  # one graph: one session, one pass per message
            self.encoder = self.intent_encoder.with_pooling(retriever.encoder.pooling, retriever.encoder.normalize)
        else:
            self.encoder = self._open_encoder(retriever.encoder, threads)
        self._second_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")

    @property
    def version(self) -> str:
        return self.manifest.version

    def _open_encoder(self, spec: EncoderSpec, threads: int) -> OnnxEncoder:
        try:
            return OnnxEncoder.open(self.path / spec.model, self.path / spec.tokenizer, pooling=spec.pooling,
                                    normalize=spec.normalize, max_length=spec.max_length,
                                    pad_token=spec.pad_token, threads=threads)
        except (RuntimeError, ValueError) as error:  # onnxruntime raises RuntimeError subclasses
            raise BundleError(self.path / spec.model, f"cannot be opened: {error}") from error

    def classify(self, texts: list[str]) -> IntentScores:
        """Intent probabilities and the out-of-scope decision for each text."""
        return self.head.score(self.intent_encoder.encode(texts))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Retrieval embeddings [n, dim] float32, L2-normalised as the FAQ index expects."""
        return self.encoder.encode(texts)

    def infer(self, texts: list[str]) -> Inference:
        """``classify`` and ``encode`` of one micro-batch in a single call.

        A shared encoder runs once and both heads pool its hidden states. Two encoders run at
        the same time (onnxruntime releases the GIL), so a batch takes about as long as the
        slower model rather than both added up.
        """
        if self.shared and texts:
            batch = tokenize(self.intent_encoder.tokenizer, texts)
            hidden = self.intent_encoder.hidden_states(batch)
            return Inference(self.head.score(self.intent_encoder.vectors(hidden, batch.attention_mask)),
                             self.encoder.vectors(hidden, batch.attention_mask))
        embeddings = self._second_thread.submit(self.encode, texts)
        intents = self.classify(texts)
        return Inference(intents, embeddings.result())


def shares_pass(intent: EncoderSpec, retriever: EncoderSpec) -> bool:
    """Whether one transformer pass serves both models: same graph, tokenizer and truncation."""
    return (intent.model, intent.tokenizer, intent.max_length, intent.pad_token) == \
        (retriever.model, retriever.tokenizer, retriever.max_length, retriever.pad_token)


def load_bundle(path: Path, threads: int = 1) -> Bundle:
    """Verify and open the bundle in ``path`` (a version directory, or ``BUNDLES_DIR/current``)
    with ``threads`` intra-op threads per model.

    Raises ``BundleError`` (naming the file) for a bundle that must not be served.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    # Resolve once: given ``bundles/current``, a pointer switched mid-load must not mix versions.
    path = Path(path).resolve()
    return Bundle(path, verify_bundle(path), threads)
