"""Fine-tune the intent classifier and calibrate its out-of-scope rule.

The model is the base encoder with mean pooling and a linear head (docs/checkpoints.md),
trained with the transformers ``Trainer``: CUDA with bf16/fp16 when present, bf16 autocast on
a CPU that has native bf16 (fp32 on others), fixed seed, dynamic padding with length-grouped batches, evaluation every epoch and the
best epoch's weights kept (by validation accuracy, then loss). Rows labelled ``oos`` are
never a class: they only calibrate the out-of-scope threshold. Messy data is taken as it comes:
the data check (``training.datacheck``) drops blank, repeated and conflicting rows, and an intent
too rare to validate is trained on; ``data_report.md`` beside the checkpoint says what was done.

Example::

    train_intents(Path("train.csv"), None, Path("ckpt"), IntentTrainingArgs())
"""
from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.models.oos import OosRule
from export.checkpoint import EncoderCheckpoint, IntentCheckpoint, write_intent_json
from training.args import IntentTrainingArgs
from training.calibration import IntentOutputs, calibrate_with_oos, calibrate_without_oos
from training.checkpoint import atomic_output_dir, now_iso
from training.data import MIN_TO_VALIDATE, IntentExample, fingerprint, split_stratified, write_intents
from training.datacheck import DataReport, load_intents
from training.errors import TrainingInputError
from training.metrics import accuracy, auroc, macro_f1


@dataclass(frozen=True)
class IntentSplits:
    """Training rows (in scope), validation rows (in scope), out-of-scope calibration rows and
    the out-of-scope rows trained on as outliers (``IntentTrainingArgs.oos_exposure``), with the
    data check's report (``training.datacheck``)."""

    train: list[IntentExample]
    valid: list[IntentExample]
    oos: list[IntentExample]
    labels: tuple[str, ...]
    report: DataReport
    outliers: list[IntentExample] = field(default_factory=list)


def prepare_splits(train_path: Path, valid_path: Path | None, args: IntentTrainingArgs) -> IntentSplits:
    """Read and check the CSVs, split off validation when needed and set the ``oos`` rows aside.

    This is the whole data check: ``retrain --dry-run`` runs it too, so what passes here never
    fails later for its data. Out-of-scope rows are never a class. Every one of them, from either
    file and from both sides of the split, calibrates the out-of-scope rule, except the share
    ``args.oos_exposure`` of the training side's, chosen with ``args.seed``, that training shows
    the classifier as outliers. Intents without validation rows are trained on and named in
    ``report.not_validated``.
    """
    data = load_intents(train_path)
    labels = tuple(sorted({row.label for row in data.rows} - {args.oos_label}))
    if len(labels) < 2:
        named = f" ({', '.join(labels)})" if labels else ""
        raise TrainingInputError(f"{train_path}: {len(labels)} intent(s) to learn{named} besides "
                                 f"'{args.oos_label}'; a classifier needs at least 2")
    if valid_path is None:
        train, valid = split_stratified(data.rows, args.valid_fraction, args.max_valid_rows, args.seed,
                                        keep=args.train_only)
        files, reason = (data.check,), "too few examples"
        if args.train_only:
            reason += f", or kept wholly for training ({', '.join(sorted(args.train_only))})"
    else:
        checked = load_intents(valid_path)
        train, valid = data.rows, checked.rows
        files, reason = (data.check, checked.check), f"no rows in {valid_path}"
    outliers = exposed(train, args)
    oos = [row for row in valid + train if row.label == args.oos_label and row not in outliers]
    train = [row for row in train if row.label != args.oos_label]
    valid = [row for row in valid if row.label != args.oos_label]
    unknown = sorted({row.label for row in valid} - set(labels))
    if unknown:
        raise TrainingInputError(f"{valid_path}: label '{unknown[0]}' does not occur in {train_path}")
    if not valid:
        raise TrainingInputError(
            f"{valid_path}: no in-scope validation rows" if valid_path else
            f"{train_path}: no intent has the {MIN_TO_VALIDATE} examples needed to hold one out for "
            "validation; add examples or pass --valid CSV")  # fmt: skip
    validated = {row.label for row in valid}
    missing = Counter(row.label for row in train if row.label not in validated)
    return IntentSplits(train, valid, oos, labels, DataReport(files, dict(missing), reason), outliers)


def exposed(train: Sequence[IntentExample], args: IntentTrainingArgs) -> list[IntentExample]:
    """The out-of-scope rows of ``train`` trained on as outliers: the share ``args.oos_exposure``
    of them (rounded down), drawn with ``args.seed``.

    >>> rows = [IntentExample(str(i), "oos") for i in range(5)] + [IntentExample("hi", "greeting")]
    >>> len(exposed(rows, IntentTrainingArgs(oos_exposure=0.5))), exposed(rows, IntentTrainingArgs())
    (2, [])
    """
    candidates = [row for row in train if row.label == args.oos_label]
    random.Random(args.seed).shuffle(candidates)
    return candidates[:int(len(candidates) * args.oos_exposure)]


OUTLIER = -1  # the label an outlier row is trained with: no intent (``PooledClassifier``)


def training_rows(tokenizer, splits: IntentSplits, max_length: int) -> list[dict]:
    """The training rows, numbered for a warm start's anchor, then the outliers (label
    ``OUTLIER``; the anchor leaves them out, so their number is only there to batch alike)."""
    rows = encode_rows(tokenizer, splits.train, splits.labels, max_length, numbered=True)
    if not splits.outliers:
        return rows
    return rows + encode_rows(tokenizer, splits.outliers, (), max_length, numbered=True)


def encode_rows(tokenizer, rows: Sequence[IntentExample], labels: Sequence[str], max_length: int,
                numbered: bool = False) -> list[dict]:
    """Tokenize rows without padding (the collator pads each batch to its longest message);
    ``numbered``: each row also carries its number ``row``, for a warm start's anchor. With no
    ``labels``, every row is an outlier (label ``OUTLIER``)."""
    index = {label: i for i, label in enumerate(labels)}
    encoded = tokenizer([row.text for row in rows], truncation=True, max_length=max_length)
    return [
        {**{key: values[i] for key, values in encoded.items()}, "labels": index[row.label] if labels else OUTLIER,
         **({"row": i} if numbered else {})}
        for i, row in enumerate(rows)
    ]


def epochs_for(args: IntentTrainingArgs, num_rows: int) -> int:
    """``args.epochs``, raised so that training takes at least ``args.min_train_steps`` steps."""
    steps_per_epoch = math.ceil(num_rows / args.batch_size)
    return max(args.epochs, math.ceil(args.min_train_steps / steps_per_epoch))


def train_intents(
    train_path: Path, valid_path: Path | None, out: Path, args: IntentTrainingArgs,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train, calibrate and write a checkpoint to ``out``; return the validation metrics.

    ``log`` gets the data check's warnings (``training.datacheck``) before training starts.
    """
    from training.encoder import resolve_base_model

    splits = prepare_splits(train_path, valid_path, args)
    for line in splits.report.warnings():
        log(line)
    source, base_name = resolve_base_model(args.base_model)
    with atomic_output_dir(out) as tmp:
        started = time.monotonic()
        model, tokenizer = fit(splits, source, args, tmp / "trainer")
        seconds = time.monotonic() - started
        rule, metrics, neighbours = calibrate(model, tokenizer, splits, args)
        metrics["train_seconds"] = round(seconds, 1)
        save_checkpoint(tmp, model, tokenizer, splits, args, base_name, rule, metrics, neighbours)
    return metrics


def fit(splits: IntentSplits, source: str, args: IntentTrainingArgs, work_dir: Path):
    """Run the Trainer; return the best-validation model (in eval mode) and the tokenizer."""
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments, set_seed

    from training.encoder import PooledClassifier, choose_precision, load_encoder, load_tokenizer, parameter_groups
    from training.vocabulary import extend_vocabulary
    from training.warmstart import record_anchor

    set_seed(args.seed)
    tokenizer = load_tokenizer(source)
    model = PooledClassifier(load_encoder(source), len(splits.labels), args.pooling, args.label_smoothing)
    model.anchor = record_anchor(model, tokenizer, source, [row.text for row in splits.train], splits.labels,
                                 args.max_length, args.preserve_base)
    extend_vocabulary(tokenizer, model.encoder, [row.text for row in splits.train])
    use_cpu, bf16, fp16 = choose_precision(args.precision)
    training_args = TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=epochs_for(args, len(splits.train) + len(splits.outliers)),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        lr_scheduler_type="linear",
        warmup_ratio=args.warmup_ratio,
        eval_strategy="epoch",
        save_strategy="no",  # the best weights are kept in memory by KeepBest
        logging_strategy="epoch",
        group_by_length=True,
        remove_unused_columns=False,
        use_cpu=use_cpu,
        bf16=bf16,
        fp16=fp16,
        seed=args.seed,
        data_seed=args.seed,
        report_to=[],
        dataloader_num_workers=0,
    )
    optimizer = torch.optim.AdamW(
        parameter_groups(model, args.learning_rate, args.layer_decay, args.head_learning_rate, args.weight_decay)
    )

    class KeepBest(TrainerCallback):
        """Copy the weights whenever validation (accuracy, -loss) improves."""

        best: tuple[float, float] | None = None
        state: dict[str, torch.Tensor] | None = None

        def on_evaluate(self, _args, _state, _control, metrics=None, model=None, **_):
            key = (metrics["eval_accuracy"], -metrics["eval_loss"])
            if self.best is None or key > self.best:
                self.best = key
                self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    keep = KeepBest()
    trainer = Trainer(
        model=model,
        args=training_args,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=training_rows(tokenizer, splits, args.max_length),
        eval_dataset=encode_rows(tokenizer, splits.valid, splits.labels, args.max_length),
        compute_metrics=lambda p: {"accuracy": float(np.mean(p.predictions.argmax(-1) == p.label_ids))},
        callbacks=[keep],
        optimizers=(optimizer, None),
    )
    trainer.train()
    model.load_state_dict(keep.state)
    model.float().eval()
    return model, tokenizer


@dataclass(frozen=True)
class ValidationOutputs:
    """The model's reading of the validation rows (in scope, then out of scope) and the ``knn``
    score's neighbours: the training rows' unit pooled vectors, condensed to ``args.knn_per_label``
    per intent (``training.neighbours``), float16 as stored."""

    logits: np.ndarray  # [valid + oos, labels]
    similarity: np.ndarray  # [valid + oos]: cosine to the nearest reference vector
    pooled: np.ndarray  # [valid + oos, hidden]
    reference: np.ndarray  # [m, hidden] float16
    reference_labels: np.ndarray  # [m] label indices
    nearest: np.ndarray  # [valid + oos, labels]: cosine to each intent's nearest reference vector
    vote_weight: float  # the nearest-example vote's weight (``args.nearest_vote``)

    def top1(self) -> np.ndarray:
        """[valid + oos]: each row's intent index as the bot picks it (``bot.models.vote``)."""
        return IntentOutputs(self.logits, self.similarity, self.nearest, self.vote_weight).top1()


def read_validation(model, tokenizer, splits: IntentSplits, args: IntentTrainingArgs) -> ValidationOutputs:
    """Run the model over the validation and training rows (``ValidationOutputs``)."""
    from bot.models.encoder import l2_normalize
    from bot.models.oos import cosines
    from bot.models.vote import nearest_per_label
    from training.encoder import predict_pooled
    from training.neighbours import condense

    texts = [row.text for row in splits.valid + splits.oos]
    logits, pooled = predict_pooled(model, tokenizer, texts, args.max_length, args.eval_batch_size)
    train_pooled = predict_pooled(model, tokenizer, [row.text for row in splits.train], args.max_length,
                                  args.eval_batch_size)[1]  # fmt: skip
    index = {label: i for i, label in enumerate(splits.labels)}
    condensed, reference_labels = condense(l2_normalize(train_pooled), np.array([index[row.label] for row in splits.train]),
                                           args.knn_per_label, args.seed)  # fmt: skip
    # stored as float16 (half the size; cosines move by ~1e-3) and compared as stored
    reference = condensed.astype(np.float16)
    cos = cosines(pooled, reference)
    return ValidationOutputs(logits, cos.max(axis=1), pooled, reference, reference_labels,
                             nearest_per_label(cos, reference_labels, len(splits.labels)), args.nearest_vote)


def choose_rule(outputs: ValidationOutputs, splits: IntentSplits, args: IntentTrainingArgs,
                ) -> tuple[OosRule, dict[str, float]]:  # fmt: skip
    """The out-of-scope rule ``args.oos_score`` calibrated on the validation rows, with validation metrics."""
    from training.calibration import nearest_similarity_of_others

    logits, similarity = outputs.logits, outputs.similarity
    inscope = logits[: len(splits.valid)]
    predicted = [splits.labels[i] for i in outputs.top1()[: len(splits.valid)]]
    gold = [row.label for row in splits.valid]
    metrics = {"accuracy": accuracy(gold, predicted), "macro_f1": macro_f1(gold, predicted)}
    if splits.oos:
        is_oos = np.arange(len(logits)) >= len(splits.valid)
        correct = np.concatenate([np.asarray(gold, dtype=object) == np.asarray(predicted, dtype=object),
                                  np.zeros(len(splits.oos), dtype=bool)])  # fmt: skip
        rule = calibrate_with_oos(logits, correct, is_oos, args.oos_score, similarity=similarity,
                                  oos_share=args.oos_share)
        scores = rule.scores(logits, similarity)
        metrics["oos_auroc"] = auroc(scores[~is_oos], scores[is_oos])
        metrics["oos_recall"] = float(np.mean(~rule.in_scope(logits, similarity)[is_oos]))
    else:
        gold_index = np.array([splits.labels.index(label) for label in gold])
        others = nearest_similarity_of_others(outputs.pooled, outputs.reference, outputs.reference_labels, gold_index)
        rule = calibrate_without_oos(inscope, gold_index, args.oos_score, similarity=similarity,
                                     similarity_of_others=others)  # fmt: skip
    return rule, {key: round(value, 6) for key, value in metrics.items()}


def calibrate(
    model, tokenizer, splits: IntentSplits, args: IntentTrainingArgs,
) -> tuple[OosRule, dict[str, float], tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Choose the out-of-scope rule on validation data; return it with validation metrics and the
    reference vectors with their intents (``ValidationOutputs.reference``, ``reference_labels``),
    which the ``knn`` score and the nearest-example vote compare with."""
    outputs = read_validation(model, tokenizer, splits, args)
    rule, metrics = choose_rule(outputs, splits, args)
    return rule, metrics, (outputs.reference, outputs.reference_labels)


def save_checkpoint(
    out: Path, model, tokenizer, splits: IntentSplits, args: IntentTrainingArgs, base_name: str,
    rule: OosRule, metrics: dict[str, float], neighbours: tuple[np.ndarray, np.ndarray],
) -> None:  # fmt: skip
    """Write the checkpoint layout of docs/checkpoints.md into ``out``; ``neighbours``: the unit
    pooled vectors of the training rows, float16 [rows, hidden], and each one's intent index, for
    the ``knn`` score and the nearest-example vote (weight ``args.nearest_vote``)."""
    import shutil

    shutil.rmtree(out / "trainer", ignore_errors=True)
    model.encoder.save_pretrained(out / "model", safe_serialization=True)
    tokenizer.save_pretrained(out / "model")
    reference, reference_labels = neighbours
    np.savez(out / "head.npz", **model.head_arrays(), reference=reference, reference_labels=reference_labels,
             vote_weight=np.float32(args.nearest_vote))
    write_intents(out / "heldout.csv", splits.valid + splits.oos)
    (out / "data_report.json").write_text(json.dumps(splits.report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    (out / "data_report.md").write_text(splits.report.markdown(), encoding="utf-8")
    args.save(out / "training_args.json")
    encoder = EncoderCheckpoint(
        path=out, base_model=base_name, pooling=args.pooling, normalize=False, max_length=args.max_length,
        metrics=metrics, data_fingerprint=fingerprint(splits.train + splits.outliers, splits.valid, splits.oos), created_at=now_iso(),
    )  # fmt: skip
    write_intent_json(IntentCheckpoint(encoder, splits.labels, args.oos_label, rule))
