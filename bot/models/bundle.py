"""The bundle at run time: a verified bundle's ONNX models open and ready to answer.

When both models were trained as one shared encoder, each message goes through the
transformer once: the intent head and the FAQ search pool the same hidden states. Loading
verifies the manifest and every file first (``bot.models.manifest``); anything wrong raises
``BundleError`` naming the file, so the caller keeps the bundle it already runs.

Torch-free: onnxruntime, tokenizers, numpy and the standard library only.

Example::

    bundle = load_bundle(resolve_current(Path("data/bundles")), threads=1)
    result = bundle.infer(["where is my card?", "hello"])
    result.intents.predicted(), result.embeddings.shape     # [..], (2, 384)
"""
from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.models.encoder import EncoderFileError, OnnxEncoder
from bot.models.intent_head import IntentHead, IntentScores
from bot.models.manifest import BundleError, EncoderSpec, Manifest, verify_bundle

# Schemes whose graphs scale activations over each run's batch: their encoders run one text a pass.
DYNAMIC_QUANTIZATION = ("per-channel", "per-tensor")


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
        except (ValueError, OSError, zipfile.BadZipFile) as error:  # numpy: not an .npz, or a broken one
            raise BundleError(path / intent.head, f"cannot be read: {error}") from error
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
                                    pad_token=spec.pad_token, threads=threads,
                                    alone=self.manifest.quantization in DYNAMIC_QUANTIZATION)
        except EncoderFileError as error:
            raise BundleError(error.path, error.reason) from error
        except (RuntimeError, ValueError) as error:  # e.g. a graph without the inputs an encoder takes
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
            passes = self.intent_encoder.passes(texts)
            return Inference(self.head.score(self.intent_encoder.pooled(passes)), self.encoder.pooled(passes))
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
