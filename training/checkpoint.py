"""Training checkpoints on disk (docs/checkpoints.md): atomic output directories and loading.

The metadata files are read and written by ``export.checkpoint`` only, the one definition of
their schema. Evaluation works on plain callables, ``predict(texts) -> IntentOutputs`` (logits [n, labels]
and, for the ``knn`` out-of-scope score, each text's similarity to the training rows) for
intents and ``encode(texts) -> unit vectors [n, dim]`` for the retriever, so a runtime
bundle can be plugged in later; this module builds them from a checkpoint directory.

Example::

    with atomic_output_dir(Path("ckpt")) as tmp:
        ...  # write into tmp; it becomes ckpt only when the block succeeds
    checkpoint, predict = load_intent_predictor(Path("ckpt"))   # an export.checkpoint.IntentCheckpoint
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import numpy as np

from bot.models.oos import cosines
from bot.models.vote import nearest_per_label
from export.checkpoint import (
    CheckpointError,
    IntentCheckpoint,
    RetrieverCheckpoint,
    read_intent_checkpoint,
    read_retriever_checkpoint,
)
from training.calibration import IntentOutputs, IntentPredict
from training.errors import TrainingInputError

Predict = Callable[[list[str]], np.ndarray]
T = TypeVar("T")



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


def _checked(directory: Path, read: Callable[[Path], T]) -> T:
    """``read(directory)`` with its ``CheckpointError`` as a ``TrainingInputError`` (one CLI line)."""
    directory = Path(directory)
    if (directory / "manifest.json").is_file():
        raise TrainingInputError(
            f"--model {directory}: this is a runtime bundle; evaluation of bundles is not wired in yet, "
            f"pass the training checkpoint directory instead"
        )
    try:
        return read(directory)
    except CheckpointError as error:
        raise TrainingInputError(str(error)) from error


def load_intent_predictor(directory: Path) -> tuple[IntentCheckpoint, IntentPredict]:
    """Load an intent checkpoint as ``predict(texts) -> IntentOutputs`` (PyTorch, fp32)."""
    import torch

    from training.encoder import PooledClassifier, load_encoder, load_tokenizer, predict_pooled

    checkpoint = _checked(directory, read_intent_checkpoint)
    encoder = checkpoint.encoder
    tokenizer = load_tokenizer(str(encoder.model_dir))
    model = PooledClassifier(load_encoder(str(encoder.model_dir)), len(checkpoint.labels), encoder.pooling)
    with np.load(checkpoint.head_path, allow_pickle=False) as head:
        model.head.weight.data = torch.from_numpy(head["weight"])
        model.head.bias.data = torch.from_numpy(head["bias"])
        reference = head["reference"].astype(np.float32) if "reference" in head.files else None
        reference_labels = head["reference_labels"] if "reference_labels" in head.files else None
        vote_weight = float(head["vote_weight"]) if "vote_weight" in head.files else 0.0

    def predict(texts: list[str]) -> IntentOutputs:
        logits, pooled = predict_pooled(model, tokenizer, list(texts), encoder.max_length)
        if reference is None:
            return IntentOutputs(logits)
        cos = cosines(pooled, reference)
        nearest = None if reference_labels is None else nearest_per_label(cos, reference_labels, len(checkpoint.labels))
        return IntentOutputs(logits, cos.max(axis=1), nearest, vote_weight)

    return checkpoint, predict


def load_retriever_encoder(directory: Path) -> tuple[RetrieverCheckpoint, Predict]:
    """Load a retriever checkpoint as ``encode(texts) -> unit vectors``."""
    checkpoint = _checked(directory, read_retriever_checkpoint)
    return checkpoint, sentence_encoder(str(checkpoint.encoder.model_dir), checkpoint.encoder.max_length)


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
