"""Fine-tune one encoder for both models: the intent classifier and the FAQ retriever.

Every optimizer step adds two losses on one transformer: the intent classifier's
cross-entropy on a batch of labelled messages (as ``training.intents``) and the retriever's
in-batch-negatives ranking loss on a batch of (query, FAQ document) pairs (as
``training.retriever``: scaled cosine, every other document in the batch a negative, one
hard negative mined with the encoder training starts from, no text twice in a batch). The bot then runs the
transformer once per message for both decisions instead of running two (``bot/models/bundle.py``),
which halves the model's CPU time per message (``benchmarks/results/load.md``).

The result is the two usual checkpoints (docs/checkpoints.md), ``OUT/intents`` and
``OUT/retriever``, holding identical encoder weights and calibrated exactly as the separate
trainers calibrate theirs; ``supportbot export`` sees the equal weights and ships one graph.

Example::

    train_joint(JointInputs(Path("intents.csv"), None, Path("faq.csv"), Path("queries.csv")),
                Path("ckpt"), IntentTrainingArgs(), RetrieverTrainingArgs())
"""
from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from training.args import IntentTrainingArgs, RetrieverTrainingArgs
from training.checkpoint import atomic_output_dir
from training.data import read_faq, read_queries, split_queries
from training.errors import TrainingInputError
from training.intents import IntentSplits, calibrate, epochs_for, prepare_splits, save_checkpoint, training_rows
from training.retriever import (
    calibrate_search,
    choose_document,
    mine_negatives,
    training_pairs,
    vocabulary_texts,
    write_checkpoint,
)
from training.vocabulary import extend_vocabulary
from training.warmstart import record_anchor

RANKING_SCALE = 20.0  # cosine similarities are multiplied by this before the softmax (as sentence-transformers)
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class JointInputs:
    intents: Path  # text,label CSV
    valid: Path | None  # validation text,label CSV (default: a stratified split of ``intents``)
    faq: Path  # faq_id,question,answer[,alternatives] CSV
    queries: Path  # query,faq_id CSV


def train_joint(inputs: JointInputs, out: Path, intent_args: IntentTrainingArgs,
                retriever_args: RetrieverTrainingArgs, log: Callable[[str], None] = print
                ) -> dict[str, dict[str, float]]:
    """Train one encoder on both tasks, calibrate both, write ``out/intents`` and ``out/retriever``.

    One tokenization serves both models, so both use ``retriever_args.max_length``; the base
    model is ``intent_args.base_model``. Returns {"intents": validation metrics, "retriever":
    held-out metrics}; ``log`` gets the intent data check's warnings before training starts.
    """
    from training.encoder import resolve_base_model

    intent_args = replace(intent_args, max_length=retriever_args.max_length)
    retriever_args = replace(retriever_args, base_model=intent_args.base_model)
    splits = prepare_splits(inputs.intents, inputs.valid, intent_args)
    for line in splits.report.warnings():
        log(line)
    entries = read_faq(inputs.faq)
    train_queries, held = split_queries(read_queries(inputs.queries, {e.faq_id for e in entries}),
                                        retriever_args.valid_fraction, retriever_args.seed)
    source, base_name = resolve_base_model(intent_args.base_model)
    with atomic_output_dir(out) as tmp:
        model, tokenizer = _base(source, splits, intent_args)
        model.anchor = record_anchor(model, tokenizer, source, [row.text for row in splits.train], splits.labels,
                                     intent_args.max_length, intent_args.preserve_base)  # before new tokens change the encoder
        texts = [row.text for row in splits.train] + vocabulary_texts(entries, train_queries)
        extend_vocabulary(tokenizer, model.encoder, texts)  # before training: both tasks learn the new tokens
        encode = _encoder(model, tokenizer, intent_args)  # follows the model: base now, fine-tuned after fit
        document, measured = choose_document(encode, entries, held, retriever_args.document)
        pairs = training_pairs(entries, train_queries, document)
        if not pairs:
            raise TrainingInputError(f"{inputs.queries}: no query or alternative phrasing left to train the "
                                     "FAQ search on after holding out the calibration queries")
        negatives = mine_negatives(encode, pairs, entries, document) if retriever_args.hard_negatives else None
        started = time.monotonic()
        fit(model, tokenizer, splits, _Pairs(pairs, negatives), intent_args, retriever_args)
        seconds = round(time.monotonic() - started, 1)
        rule, intent_metrics, neighbours = calibrate(model, tokenizer, splits, intent_args)
        weight, thresholds, retriever_metrics = calibrate_search(encode, entries, held, document, retriever_args,
                                                                 [row.text for row in splits.oos], intent_args.oos_share)
        retriever_metrics |= {k: round(v, 6) for k, v in measured.items()}
        for metrics in (intent_metrics, retriever_metrics):
            metrics["train_seconds"] = seconds
            metrics["joint"] = 1.0  # trained as one encoder with the other model
        save_checkpoint(tmp / "intents", model, tokenizer, splits, intent_args, base_name, rule, intent_metrics,
                        neighbours)
        shutil.copytree(tmp / "intents" / "model", tmp / "retriever" / "model")  # one encoder, byte for byte
        write_checkpoint(tmp / "retriever", entries, train_queries, held, retriever_args, base_name, document,
                         thresholds, retriever_metrics, weight)
    return {"intents": intent_metrics, "retriever": retriever_metrics}


def _base(source: str, splits: IntentSplits, args: IntentTrainingArgs):  # type: ignore[no-untyped-def]  # torch/transformers objects: imported lazily, so left unannotated
    from transformers import set_seed

    from training.encoder import PooledClassifier, choose_precision, load_encoder, load_tokenizer

    set_seed(args.seed)
    tokenizer = load_tokenizer(source)
    model = PooledClassifier(load_encoder(source), len(splits.labels), args.pooling, args.label_smoothing)
    use_cpu, _, _ = choose_precision(args.precision)
    return model.to("cpu" if use_cpu else "cuda"), tokenizer


def _encoder(model, tokenizer, args: IntentTrainingArgs) -> Callable[[Sequence[str]], object]:  # type: ignore[no-untyped-def]  # torch/transformers objects: imported lazily, so left unannotated
    from training.encoder import predict_vectors

    return lambda texts: predict_vectors(model, tokenizer, list(texts), args.max_length, args.eval_batch_size)


@dataclass(frozen=True)
class _Pairs:
    """(anchor, positive document, faq_id) pairs and an optional hard negative document for each."""

    pairs: list[tuple[str, str, str]]
    negatives: list[str] | None

    def texts(self, i: int) -> set[str]:
        return {self.pairs[i][0], self.pairs[i][1], *((self.negatives[i],) if self.negatives else ())}

    def batches(self, size: int, rng: random.Random) -> list[list[int]]:
        """One epoch of pair indices in batches where no text occurs twice: a repeated
        document would be its own negative."""
        pending = list(range(len(self.pairs)))
        rng.shuffle(pending)
        batches = []
        while pending:
            batch, seen, rest = [], set(), []
            for i in pending:
                texts = self.texts(i)
                if len(batch) < size and not texts & seen:
                    batch.append(i)
                    seen |= texts
                else:
                    rest.append(i)
            batches.append(batch)
            pending = rest
        return batches


def _forever(epoch: Callable[[], list[list[int]]]) -> Iterator[list[int]]:
    while True:
        yield from epoch()


def _shuffled_chunks(count: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(count))
    rng.shuffle(order)
    return [order[i:i + size] for i in range(0, count, size)]


def steps_for(intent_args: IntentTrainingArgs, retriever_args: RetrieverTrainingArgs, intent_rows: int,
              pair_batches: int) -> int:
    """Enough steps for the intent schedule (``epochs_for``) and for the retriever's epochs over its pairs."""
    intent_steps = epochs_for(intent_args, intent_rows) * math.ceil(intent_rows / intent_args.batch_size)
    return max(intent_steps, retriever_args.epochs * pair_batches)


def fit(model, tokenizer, splits: IntentSplits, pairs: _Pairs, intent_args: IntentTrainingArgs,  # type: ignore[no-untyped-def]  # torch/transformers objects: imported lazily, so left unannotated
        retriever_args: RetrieverTrainingArgs) -> None:
    """Train ``model`` in place on the sum of both losses; leaves it in eval mode, in fp32."""
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

    from training.encoder import choose_precision, embed, parameter_groups

    rng = random.Random(intent_args.seed)
    device = next(model.parameters()).device
    rows = training_rows(tokenizer, splits, intent_args.max_length)
    collate = DataCollatorWithPadding(tokenizer)
    intent_batches = _forever(lambda: _shuffled_chunks(len(rows), intent_args.batch_size, rng))
    pair_batches = _forever(lambda: pairs.batches(retriever_args.batch_size, rng))
    total = steps_for(intent_args, retriever_args, len(rows),
                      len(pairs.batches(retriever_args.batch_size, random.Random(0))))
    optimizer = torch.optim.AdamW(parameter_groups(model, intent_args.learning_rate, intent_args.layer_decay,
                                                   intent_args.head_learning_rate, intent_args.weight_decay))
    schedule = get_linear_schedule_with_warmup(optimizer, int(intent_args.warmup_ratio * total), total)
    _, bf16, fp16 = choose_precision(intent_args.precision)
    dtype = torch.bfloat16 if bf16 else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=fp16)

    def tokens(texts: list[str]) -> dict[str, torch.Tensor]:
        return tokenizer(texts, padding=True, truncation=True, max_length=intent_args.max_length,
                         return_tensors="pt").to(device)

    model.train()
    report_every = max(1, total // 10)
    for step in range(1, total + 1):
        batch = collate([rows[i] for i in next(intent_batches)]).to(device)
        chosen = next(pair_batches)
        anchors = [pairs.pairs[i][0] for i in chosen]
        documents = [pairs.pairs[i][1] for i in chosen] + ([pairs.negatives[i] for i in chosen]
                                                          if pairs.negatives else [])
        with torch.autocast(device.type, dtype=dtype, enabled=bf16 or fp16):
            intent_loss = model(**batch)["loss"]
            similarity = embed(model, tokens(anchors)) @ embed(model, tokens(documents)).T
            target = torch.arange(len(anchors), device=device)
            ranking_loss = F.cross_entropy(RANKING_SCALE * similarity.float(), target)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(intent_loss + ranking_loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        if step % report_every == 0 or step == total:
            print(f"joint training: step {step}/{total}, intent loss {intent_loss.item():.3f}, "
                  f"ranking loss {ranking_loss.item():.3f}", flush=True)
    model.float().eval()
