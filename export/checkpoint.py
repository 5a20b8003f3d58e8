"""Checkpoint metadata as docs/checkpoints.md defines it: the one reader and writer.

Training writes ``supportbot_intents.json`` and ``supportbot_retriever.json`` with
``write_intent_json`` / ``write_retriever_json``; training's evaluation and the export read
them with ``read_intent_checkpoint`` / ``read_retriever_checkpoint``, which check every field
(and the files beside it) before any work. torch-free: only numpy and bot/knowledge types.

Example::

    intents = read_intent_checkpoint(Path("artifacts/checkpoints/banking77"))
    intents.labels[:2], intents.oos.threshold, intents.encoder.model_dir
    write_intent_json(intents)        # writes intents.encoder.path / "supportbot_intents.json"
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bot.models.encoder import POOLING_MODES
from bot.models.field_reader import FieldReader
from bot.models.manifest import RetrievalThresholds
from bot.models.oos import OOS_SCORES, OosRule, rule_fields
from bot.models.vote import check_vote
from knowledge.faq.documents import DOCUMENT_MODES

INTENT_FORMAT = "supportbot-intents-checkpoint"
RETRIEVER_FORMAT = "supportbot-retriever-checkpoint"
CHECKPOINT_VERSION = 1
INTENT_JSON = "supportbot_intents.json"
RETRIEVER_JSON = "supportbot_retriever.json"


class CheckpointError(Exception):
    """A checkpoint directory that does not follow docs/checkpoints.md; the message names the file."""


@dataclass(frozen=True)
class EncoderCheckpoint:
    """What both checkpoint kinds share: the Hugging Face encoder and how it is pooled.

    ``path`` is the checkpoint directory; ``normalize`` is written for retrievers only (intent
    heads take unnormalised vectors).
    """

    path: Path
    base_model: str
    pooling: str
    normalize: bool
    max_length: int
    metrics: dict[str, float]
    data_fingerprint: str
    created_at: str

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def digest(self) -> str:
        """sha256 of the encoder's weights and tokenizer: equal digests are one shared encoder."""
        return encoder_digest(self.model_dir)


@dataclass(frozen=True)
class IntentCheckpoint:
    """``supportbot_intents.json``: the labels of the head's logits and the out-of-scope rule."""

    encoder: EncoderCheckpoint
    labels: tuple[str, ...]
    oos_label: str
    oos: OosRule

    @property
    def head_path(self) -> Path:
        return self.encoder.path / "head.npz"

    @property
    def heldout_path(self) -> Path:
        return self.encoder.path / "heldout.csv"


@dataclass(frozen=True)
class RetrieverCheckpoint:
    """``supportbot_retriever.json``: what is embedded per FAQ phrasing, how much the lexical
    score counts in FAQ search (0: dense alone; written by every retriever since hybrid search)
    and when to answer."""

    encoder: EncoderCheckpoint
    document: str
    thresholds: RetrievalThresholds
    lexical_weight: float = 0.0

    @property
    def heldout_faq_path(self) -> Path:
        return self.encoder.path / "heldout_faq.csv"

    @property
    def heldout_queries_path(self) -> Path:
        return self.encoder.path / "heldout_queries.csv"


def _read_json(path: Path, expected_format: str) -> FieldReader:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; is {path.parent} a finished checkpoint?") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON ({error})") from None
    fields = FieldReader(data, "", lambda reason: CheckpointError(f"{path}: {reason}"))
    found = (fields.optional_text("format"), fields.optional_integer("version"))
    if found != (expected_format, CHECKPOINT_VERSION):
        raise CheckpointError(
            f"{path}: format {found[0]!r} version {found[1]!r}; expected {expected_format!r} "
            f"version {CHECKPOINT_VERSION}"
        )
    if not (path.parent / "model" / "config.json").is_file():
        raise CheckpointError(f"{path.parent / 'model'}: missing the Hugging Face model (config.json)")
    return fields


def _read_encoder(path: Path, fields: FieldReader, normalize: bool) -> EncoderCheckpoint:
    metrics = fields.mapping("metrics")
    max_length = fields.integer("max_length")
    if max_length < 2:
        raise CheckpointError(f"{path}: field max_length: expected at least 2, got {max_length}")
    return EncoderCheckpoint(
        path=path,
        base_model=fields.text("base_model"),
        pooling=fields.choice("pooling", POOLING_MODES),
        normalize=normalize,
        max_length=max_length,
        metrics={k: metrics.number(k) for k in metrics if _is_number(metrics.data[k])},
        data_fingerprint=fields.text("data_fingerprint"),
        created_at=fields.text("created_at"),
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_intent_checkpoint(path: Path) -> IntentCheckpoint:
    """Read ``supportbot_intents.json`` and check ``head.npz`` fits the labels."""
    path = Path(path)
    fields = _read_json(path / INTENT_JSON, INTENT_FORMAT)
    oos = fields.mapping("oos")
    checkpoint = IntentCheckpoint(
        encoder=_read_encoder(path, fields, normalize=False),
        labels=tuple(fields.texts("labels")),
        oos_label=fields.text("oos_label"),
        oos=oos.build(lambda: OosRule(oos.choice("score", OOS_SCORES), oos.number("temperature"),
                                      oos.number("threshold"), oos.optional_text("calibration") or "",
                                      oos.optional_number("softmax_weight") or 0.0)),
    )
    if not checkpoint.labels or checkpoint.oos_label in checkpoint.labels:
        raise CheckpointError(f"{path / INTENT_JSON}: labels must be non-empty and must not contain the oos_label")
    _check_head(checkpoint.head_path, len(checkpoint.labels), checkpoint.oos.needs_similarity)
    return checkpoint


def _check_head(path: Path, num_labels: int, needs_reference: bool) -> None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weight, bias = arrays["weight"], arrays["bias"]
            reference = arrays["reference"] if "reference" in arrays.files else None
            reference_labels = arrays["reference_labels"] if "reference_labels" in arrays.files else None
            vote_weight = float(arrays["vote_weight"]) if "vote_weight" in arrays.files else 0.0
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (KeyError, ValueError, TypeError, OSError) as error:
        raise CheckpointError(f"{path}: not a head of arrays 'weight' and 'bias' ({error})") from None
    if weight.ndim != 2 or weight.shape[0] != num_labels or bias.shape != (num_labels,):
        raise CheckpointError(
            f"{path}: weight {weight.shape} and bias {bias.shape} do not fit {num_labels} labels; "
            f"expected weight [{num_labels}, hidden] and bias [{num_labels}]"
        )
    if needs_reference and (reference is None or reference.ndim != 2 or not len(reference)
                            or reference.shape[1] != weight.shape[1]):
        found = "no array 'reference'" if reference is None else f"reference {reference.shape}"
        raise CheckpointError(f"{path}: the knn out-of-scope score needs the training examples' vectors, "
                              f"reference [examples, {weight.shape[1]}]; found {found}")
    try:
        check_vote(vote_weight, reference, reference_labels, num_labels)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None


def read_retriever_checkpoint(path: Path) -> RetrieverCheckpoint:
    """Read ``supportbot_retriever.json``."""
    path = Path(path)
    fields = _read_json(path / RETRIEVER_JSON, RETRIEVER_FORMAT)
    thresholds = fields.mapping("thresholds")
    lexical_weight = fields.optional_number("lexical_weight") or 0.0
    if not 0.0 <= lexical_weight <= 1.0:
        raise CheckpointError(f"{path / RETRIEVER_JSON}: field lexical_weight: expected a number in [0, 1], "
                              f"got {lexical_weight}")
    return RetrieverCheckpoint(
        encoder=_read_encoder(path, fields, normalize=fields.flag("normalize")),
        document=fields.choice("document", DOCUMENT_MODES),
        thresholds=RetrievalThresholds(
            answer=thresholds.number("answer"),
            margin=thresholds.number("margin"),
            calibration=thresholds.optional_text("calibration") or "",
        ),
        lexical_weight=lexical_weight,
    )


def write_intent_json(checkpoint: IntentCheckpoint) -> Path:
    """Write ``supportbot_intents.json`` for ``checkpoint`` into its directory; return the path.

    Example::

        write_intent_json(IntentCheckpoint(EncoderCheckpoint(tmp, "base", "mean", False, 64,
                          {"accuracy": 0.9}, fingerprint, now), ("refund", "track"), "oos", rule))
    """
    encoder = checkpoint.encoder
    if not checkpoint.labels or checkpoint.oos_label in checkpoint.labels:
        raise CheckpointError(f"{encoder.path / INTENT_JSON}: labels must be non-empty and must not "
                              f"contain the oos_label {checkpoint.oos_label!r}")
    return _write_json(encoder.path / INTENT_JSON, {
        "format": INTENT_FORMAT, "version": CHECKPOINT_VERSION, "base_model": encoder.base_model,
        "labels": list(checkpoint.labels), "pooling": encoder.pooling, "max_length": encoder.max_length,
        "oos_label": checkpoint.oos_label, "oos": rule_fields(checkpoint.oos), "metrics": encoder.metrics,
        "data_fingerprint": encoder.data_fingerprint, "created_at": encoder.created_at,
    })  # fmt: skip


def write_retriever_json(checkpoint: RetrieverCheckpoint) -> Path:
    """Write ``supportbot_retriever.json`` for ``checkpoint`` into its directory; return the path."""
    encoder = checkpoint.encoder
    return _write_json(encoder.path / RETRIEVER_JSON, {
        "format": RETRIEVER_FORMAT, "version": CHECKPOINT_VERSION, "base_model": encoder.base_model,
        "pooling": encoder.pooling, "normalize": encoder.normalize, "max_length": encoder.max_length,
        "document": checkpoint.document, "lexical_weight": checkpoint.lexical_weight,
        "thresholds": asdict(checkpoint.thresholds), "metrics": encoder.metrics,
        "data_fingerprint": encoder.data_fingerprint, "created_at": encoder.created_at,
    })  # fmt: skip


def _write_json(path: Path, value: dict[str, object]) -> Path:
    # key order as docs/checkpoints.md lists the fields: format and version first
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# What makes two saved encoders the same model; config.json is left out (it records paths).
_IDENTITY_FILES = ("*.safetensors", "*.bin", "tokenizer.json", "vocab.txt")


def encoder_digest(model_dir: Path) -> str:
    """sha256 over the weight and tokenizer files of a Hugging Face model directory."""
    digest = hashlib.sha256()
    files = sorted({path for pattern in _IDENTITY_FILES for path in Path(model_dir).glob(pattern)})
    if not any(path.suffix in (".safetensors", ".bin") for path in files):
        raise CheckpointError(f"{model_dir}: no weights (*.safetensors or *.bin) to tell the encoder by")
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
