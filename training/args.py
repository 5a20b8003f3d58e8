"""Training arguments: one documented dataclass per model, validated on creation, saved as JSON.

The defaults are the settings that reach the benchmark numbers in
``benchmarks/results/accuracy.md``; change them only with a new measurement.

Example::

    args = IntentTrainingArgs(epochs=3)
    args.save(out_dir / "training_args.json")
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bot.models.oos import OOS_SCORES
from training.errors import TrainingInputError

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
OOS_SCORE_CHOICES = ("auto", *OOS_SCORES)  # "auto": the better validation AUROC


def _check(condition: bool, name: str, expected: str, value: object) -> None:
    if not condition:
        raise TrainingInputError(f"training argument {name}: expected {expected}, got {value!r}")


@dataclass(frozen=True)
class IntentTrainingArgs:
    """How the intent classifier is fine-tuned and calibrated.

    base_model: Hugging Face id or local path; "" means the bundled all-MiniLM-L6-v2.
    epochs: passes over the training data (raised for small data sets, see min_train_steps).
    min_train_steps: the least number of optimizer steps; small data sets get more epochs.
    learning_rate: peak learning rate of the top encoder layer.
    layer_decay: each lower encoder layer (and the embeddings) gets this factor less.
    head_learning_rate: learning rate of the freshly initialised linear head.
    warmup_ratio: share of steps with a linear warmup; linear decay after it.
    label_smoothing: cross-entropy label smoothing.
    pooling: "mean" over tokens (how the base model was pre-trained) or "cls".
    max_length: tokens per message; longer messages are truncated.
    valid_fraction, max_valid_rows: the stratified validation split when no --valid is given.
    train_only: intents the split leaves wholly in training (learnt, not validated): a retrain's
        intents that staff labels brought, which its gate measures on phrasings it holds out.
    oos_label: rows with this label are out-of-scope examples, never a class.
    oos_score: "max_softmax", "energy", "knn", or "auto" (the best validation AUROC among
        max_softmax, knn and, when validation has out-of-scope rows, energy;
        ``training.calibration``).
    oos_share: the share of out-of-scope messages the out-of-scope threshold is chosen for, when
        the data has out-of-scope rows: the threshold maximises (1 - share) * in-scope accuracy +
        share * out-of-scope recall. 0.5, the default, is balanced accuracy; a bot whose traffic
        is mostly its own questions (the demo shop: 0.25) rejects fewer of them. Joint training
        chooses the FAQ answer threshold for the same share.
    oos_exposure: the share of the out-of-scope rows on the training side of the split that the
        classifier is trained on as outliers, each pushed toward the same probability for every
        intent (outlier exposure): a message like them then scores low with every out-of-scope
        score. The rest, and every out-of-scope row of --valid, still calibrate the threshold.
        0, the default, trains on none of them.
    knn_per_label: the knn score's neighbours per intent: an intent with more training rows
        keeps this many k-means centroids of them (``training.neighbours``); 0 keeps every row.
    nearest_vote: weight of the nearest-example vote in the intent probabilities (0 to 1;
        ``bot.models.vote``): how much the intent whose training examples lie nearest counts
        beside the head's softmax. 0, the default, is the head alone.
    preserve_base: weight of the term that keeps each training row's pooled vector near the one
        the starting encoder gave it (``training.warmstart``): keeps the pre-trained geometry
        that the ``knn`` out-of-scope score and the vote measure with. 0, the default, turns it
        off: it helped the benchmark sets, and cost the demo shop's dialogue suite some
        out-of-scope answers (docs/checkpoints.md).
    precision: "auto" = bf16 on GPUs and CPUs that support it natively, fp16 on other GPUs, else fp32.
    """

    base_model: str = ""
    epochs: int = 6
    min_train_steps: int = 600
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 1e-4
    layer_decay: float = 0.9
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    label_smoothing: float = 0.1
    pooling: str = "mean"
    max_length: int = 64
    valid_fraction: float = 0.1
    max_valid_rows: int = 500
    train_only: tuple[str, ...] = ()
    oos_label: str = "oos"
    oos_score: str = "auto"
    oos_share: float = 0.5
    oos_exposure: float = 0.0
    knn_per_label: int = 32
    nearest_vote: float = 0.0
    preserve_base: float = 0.0
    precision: str = "auto"
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "max_length", "max_valid_rows"):
            _check(getattr(self, name) >= 1, name, "an integer >= 1", getattr(self, name))
        _check(self.min_train_steps >= 0, "min_train_steps", "an integer >= 0", self.min_train_steps)
        _check(self.knn_per_label >= 0, "knn_per_label", "an integer >= 0", self.knn_per_label)
        _check(not isinstance(self.train_only, str), "train_only", "a list of intent names", self.train_only)
        object.__setattr__(self, "train_only", tuple(self.train_only))  # a list, as training_args.json keeps it
        _check(all(isinstance(label, str) for label in self.train_only), "train_only", "intent names",
               self.train_only)
        for name in ("learning_rate", "head_learning_rate"):
            _check(0 < getattr(self, name) < 1, name, "a number in (0, 1)", getattr(self, name))
        _check(0 < self.layer_decay <= 1, "layer_decay", "a number in (0, 1]", self.layer_decay)
        for name in ("weight_decay", "warmup_ratio", "label_smoothing"):
            _check(0 <= getattr(self, name) < 1, name, "a number in [0, 1)", getattr(self, name))
        _check(0 <= self.nearest_vote <= 1, "nearest_vote", "a number in [0, 1]", self.nearest_vote)
        _check(0 <= self.preserve_base <= 100, "preserve_base", "a number in [0, 100]", self.preserve_base)
        _check(0 < self.oos_share < 1, "oos_share", "a number in (0, 1)", self.oos_share)
        _check(0 <= self.oos_exposure < 1, "oos_exposure", "a number in [0, 1)", self.oos_exposure)
        _check(0 < self.valid_fraction < 1, "valid_fraction", "a number in (0, 1)", self.valid_fraction)
        _check(self.pooling in ("mean", "cls"), "pooling", "'mean' or 'cls'", self.pooling)
        _check(self.oos_score in OOS_SCORE_CHOICES, "oos_score", " or ".join(OOS_SCORE_CHOICES), self.oos_score)
        _check(self.precision in PRECISIONS, "precision", " or ".join(PRECISIONS), self.precision)
        _check(bool(self.oos_label.strip()), "oos_label", "a non-empty label", self.oos_label)

    def save(self, path: Path) -> None:
        """Write the arguments as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class RetrieverTrainingArgs:
    """How the FAQ retriever (a sentence-transformers bi-encoder) is fine-tuned.

    document: what is embedded per FAQ phrasing: "question", "question_answer", or "auto"
        (measure both with the base model on the held-out queries and keep the better MRR).
    hard_negatives: mine one hard negative per pair with the base model.
    valid_fraction: share of the labelled queries held out for calibration and reports.
    target_precision: the answer threshold and margin are the pair with the most answered
        held-out queries whose top hit is right at least this often. Joint training with
        out-of-scope rows weighs the queries against those instead and does not use it
        (``training.calibration.calibrate_answer``).
    lexical_weight: weight of the lexical (BM25) score in the bot's hybrid FAQ search, in
        [0, 1] (0: dense search alone); None chooses it on the held-out queries
        (``training.fusion``). The thresholds are calibrated on the hybrid scores.
    """

    base_model: str = ""
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    max_length: int = 128
    document: str = "auto"
    hard_negatives: bool = True
    valid_fraction: float = 0.1
    target_precision: float = 0.9
    precision: str = "auto"
    seed: int = 42
    lexical_weight: float | None = None

    def __post_init__(self) -> None:
        weight = self.lexical_weight
        _check(weight is None or 0 <= weight <= 1, "lexical_weight", "a number in [0, 1] or auto", weight)
        for name in ("epochs", "batch_size", "max_length"):
            _check(getattr(self, name) >= 1, name, "an integer >= 1", getattr(self, name))
        _check(self.batch_size >= 2, "batch_size", "at least 2 (in-batch negatives)", self.batch_size)
        _check(0 < self.learning_rate < 1, "learning_rate", "a number in (0, 1)", self.learning_rate)
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", "a number in [0, 1)", self.warmup_ratio)
        _check(0 < self.valid_fraction < 1, "valid_fraction", "a number in (0, 1)", self.valid_fraction)
        _check(0 < self.target_precision <= 1, "target_precision", "a number in (0, 1]", self.target_precision)
        documents = ("auto", "question", "question_answer")
        _check(self.document in documents, "document", " or ".join(documents), self.document)
        _check(self.precision in PRECISIONS, "precision", " or ".join(PRECISIONS), self.precision)

    def save(self, path: Path) -> None:
        """Write the arguments as JSON."""
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def field_names(cls: type) -> list[str]:
    """The argument names of a training-arguments dataclass."""
    return [f.name for f in fields(cls)]
