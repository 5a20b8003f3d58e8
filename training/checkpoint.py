"""Training checkpoints on disk (docs/checkpoints.md): metadata, atomic output directories, loading.

Evaluation works on plain callables, ``predict(texts) -> logits [n, labels]`` for intents and
``encode(texts) -> unit vectors [n, dim]`` for the retriever, so a runtime bundle can be
plugged in later; this module builds them from a checkpoint directory.

Example::

    with atomic_output_dir(Path("ckpt")) as tmp:
        ...  # write into tmp; it becomes ckpt only when the block succeeds
    meta, predict = load_intent_predictor(Path("ckpt"))
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from training.errors import TrainingInputError

INTENTS_FORMAT = "supportbot-intents-checkpoint"
RETRIEVER_FORMAT = "supportbot-retriever-checkpoint"
FORMAT_VERSION = 1
INTENTS_META = "supportbot_intents.json"
RETRIEVER_META = "supportbot_retriever.json"

Predict = Callable[[list[str]], np.ndarray]


@contextlib.contextmanager
def atomic_output_dir(out: Path) -> Iterator[Path]:
    """Yield a temp dir beside ``out``; rename it to ``out`` on success, delete it on failure.

    ``out`` must not exist or be an empty directory, so nothing is ever half overwritten.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrainingInputError(f"--out {out}: already exists and is not empty; choose a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def now_iso() -> str:
    """The current UTC time, ISO-8601."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_json(path: Path, value: dict[str, object]) -> None:
    """Write ``value`` as indented UTF-8 JSON."""
    Path(path).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_meta(directory: Path, name: str, expected_format: str) -> dict[str, object]:
    """Read and check a checkpoint's metadata file (format and version first)."""
    directory = Path(directory)
    if (directory / "manifest.json").is_file():
        raise TrainingInputError(
            f"--model {directory}: this is a runtime bundle; evaluation of bundles is not wired in yet, "
            f"pass the training checkpoint directory instead"
        )
    path = directory / name
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise TrainingInputError(f"--model {directory}: no {name}; is this a {expected_format}?") from error
    except (OSError, json.JSONDecodeError) as error:
        raise TrainingInputError(f"{path}: unreadable metadata ({error})") from error
    if meta.get("format") != expected_format or meta.get("version") != FORMAT_VERSION:
        raise TrainingInputError(
            f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}; "
            f"expected {expected_format!r} version {FORMAT_VERSION}"
        )
    return meta


@dataclass(frozen=True)
class IntentMeta:
    """The parts of ``supportbot_intents.json`` that evaluation needs."""

    labels: tuple[str, ...]
    oos_label: str
    score: str
    temperature: float
    threshold: float


def load_intent_predictor(directory: Path) -> tuple[IntentMeta, Predict]:
    """Load an intent checkpoint as ``predict(texts) -> logits`` (PyTorch, fp32)."""
    import torch

    from training.encoder import PooledClassifier, load_encoder, load_tokenizer, predict_logits

    meta = read_meta(directory, INTENTS_META, INTENTS_FORMAT)
    oos = dict(meta["oos"])  # type: ignore[arg-type]
    info = IntentMeta(
        tuple(meta["labels"]), str(meta["oos_label"]), str(oos["score"]), float(oos["temperature"]),
        float(oos["threshold"]),
    )  # fmt: skip
    model_dir = str(Path(directory) / "model")
    tokenizer = load_tokenizer(model_dir)
    model = PooledClassifier(load_encoder(model_dir), len(info.labels), str(meta["pooling"]))
    with np.load(Path(directory) / "head.npz", allow_pickle=False) as head:
        model.head.weight.data = torch.from_numpy(head["weight"])
        model.head.bias.data = torch.from_numpy(head["bias"])
    max_length = int(meta["max_length"])

    def predict(texts: list[str]) -> np.ndarray:
        return predict_logits(model, tokenizer, list(texts), max_length)

    return info, predict


@dataclass(frozen=True)
class RetrieverMeta:
    """The parts of ``supportbot_retriever.json`` that evaluation needs."""

    document: str
    answer: float
    margin: float


def load_retriever_encoder(directory: Path) -> tuple[RetrieverMeta, Predict]:
    """Load a retriever checkpoint as ``encode(texts) -> unit vectors``."""
    meta = read_meta(directory, RETRIEVER_META, RETRIEVER_FORMAT)
    thresholds = dict(meta["thresholds"])  # type: ignore[arg-type]
    info = RetrieverMeta(str(meta["document"]), float(thresholds["answer"]), float(thresholds["margin"]))
    return info, sentence_encoder(str(Path(directory) / "model"), int(meta["max_length"]))


def sentence_encoder(source: str, max_length: int) -> Predict:
    """``encode(texts) -> unit vectors`` for a sentence-transformers model directory or id."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(source, device="cpu" if not _cuda() else None)
    model.max_seq_length = max_length

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    return encode


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
