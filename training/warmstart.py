"""Warm start without forgetting: a retrained intent classifier keeps answering like the active one.

``supportbot retrain`` starts from the active checkpoint's encoder (``training.retrain``) and
trains a fresh head on the old rows plus the new labels. On its own that moves the whole model:
on the demo shop, a retrain with 23 new rows lost 7 and gained 3 of 77 held-out rows of intents
it already knew, and the gate rightly refused it. So the retrain also learns *without forgetting*
(Li and Hoiem, "Learning without Forgetting", 2016): before training, the active model's logits
over its own intents are recorded for every training row (``record_anchor``: the warm encoder is
the active model's, its head is read from the checkpoint); during training, each batch adds

    weight * T^2 * KL(softmax(old / T) || softmax(new[:, old intents] / T))

to the loss (``Anchor.loss``), so on every row the new model ranks the old intents as the active
one did, while the cross-entropy teaches the new intents. The active model's head is recorded,
not reused: a fresh head learns the new intents as readily as a first training does.

The same record can hold a second term, for any training, warm or not (``preserve``, the
``--preserve-base`` weight): the starting encoder's pooled vector of every training row, and

    preserve * mean(1 - cosine(pooled_new, pooled_start))

keeps the fine-tuned vectors near the ones the encoder started from. Cross-entropy alone pulls
every intent's rows into a tight cluster and forgets the pre-trained geometry, which is what tells
an unfamiliar message from a familiar one: on HINT3 sofmattress (292 training rows) the
out-of-scope score's test AUROC was 0.841-0.864 over three seeds without the term and 0.875-0.890
with weight 1 (``benchmarks/results/preserve_base.md``; docs/checkpoints.md).

Example::

    anchor = record_anchor(model, tokenizer, source, texts, labels, max_length, preserve=1.0)
    model.anchor = anchor   # PooledClassifier adds anchor.loss(logits, rows, pooled) when given row numbers
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

TEMPERATURE = 2.0  # softens the recorded logits, as in the paper
WEIGHT = 1.0  # the distillation term against the cross-entropy


def previous_head(source: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
    """(labels, weight [labels, hidden], bias [labels]) of the intent checkpoint whose encoder is
    ``source`` (``CHECKPOINT/model``), or None when ``source`` is not an intent checkpoint's."""
    from export.checkpoint import CheckpointError, read_intent_checkpoint

    try:  # a base model's directory has no checkpoint around it
        checkpoint = read_intent_checkpoint(Path(source).parent)
    except CheckpointError:
        return None
    with np.load(checkpoint.head_path) as head:
        return checkpoint.labels, np.asarray(head["weight"], np.float32), np.asarray(head["bias"], np.float32)


@dataclass(frozen=True)
class Anchor:
    """What the starting model made of the training rows, for the two terms of the module docstring.

    logits: [rows, kept] float32, row i = training row i, the active model's logits over the
        intents both models have; None when training does not start from an intent checkpoint
        with at least two of the new intents. columns: the new head's index of each kept intent.
    vectors: [rows, hidden] float32, the starting encoder's unit pooled vector of each row; None
        when ``preserve`` is 0.
    """

    logits: np.ndarray | None
    columns: tuple[int, ...] = ()
    vectors: np.ndarray | None = None
    preserve: float = 0.0
    temperature: float = TEMPERATURE
    weight: float = WEIGHT

    def loss(self, new_logits: Any, rows: Any, pooled: Any = None) -> Any:
        """Both terms for a batch: ``new_logits`` [batch, labels] and ``pooled`` [batch, hidden]
        (torch), ``rows`` [batch] the training row numbers."""
        import torch
        import torch.nn.functional as F

        index = rows.cpu().numpy()
        total = new_logits.new_zeros(())
        if self.logits is not None:
            old = torch.as_tensor(self.logits[index], device=new_logits.device)  # the batch's rows only
            new = new_logits[:, list(self.columns)]
            t = self.temperature
            kl = F.kl_div(F.log_softmax(new / t, dim=-1), F.log_softmax(old / t, dim=-1), log_target=True,
                          reduction="batchmean")
            total = total + self.weight * t * t * kl
        if self.vectors is not None and pooled is not None:
            start = torch.as_tensor(self.vectors[index], device=pooled.device)
            total = total + self.preserve * (1 - F.cosine_similarity(pooled, start, dim=-1)).mean()
        return total


def anchor_from(previous: tuple[tuple[str, ...], np.ndarray, np.ndarray], pooled: np.ndarray,
                labels: Sequence[str]) -> Anchor | None:
    """The anchor for a new head over ``labels``, from the active head and the training rows'
    pooled vectors [rows, hidden] under the active encoder; None when fewer than two intents are
    shared (nothing to rank).

    >>> head = (("a", "b", "gone"), np.eye(3, 2, dtype=np.float32), np.zeros(3, np.float32))
    >>> anchor = anchor_from(head, np.array([[2.0, 0.0], [0.0, 3.0]]), ["b", "new", "a"])
    >>> anchor.columns, anchor.logits.tolist()
    ((2, 0), [[2.0, 0.0], [0.0, 3.0]])
    """
    old_labels, weight, bias = previous
    shared = [(i, labels.index(label)) for i, label in enumerate(old_labels) if label in labels]
    if len(shared) < 2 or pooled.shape[1] != weight.shape[1]:
        return None
    old = [i for i, _ in shared]
    logits = pooled.astype(np.float32) @ weight[old].T + bias[old]
    return Anchor(logits.astype(np.float32), tuple(j for _, j in shared))


def record_anchor(model, tokenizer, source: str, texts: Sequence[str], labels: Sequence[str],  # type: ignore[no-untyped-def]  # torch/transformers objects: imported lazily, so left unannotated
                  max_length: int, preserve: float = 0.0) -> Anchor | None:
    """Record what ``model``, still untrained, makes of ``texts`` (the training rows, in order):
    the active model's logits when ``source`` is an intent checkpoint's encoder, and the pooled
    vectors when ``preserve`` is above 0. None when there is nothing to record."""
    from training.encoder import predict_pooled

    previous = previous_head(source)
    if previous is not None and previous[1].shape[1] != model.head.in_features:
        previous = None
    if previous is None and preserve <= 0:
        return None
    _, pooled = predict_pooled(model, tokenizer, list(texts), max_length)
    model.train()
    anchor = anchor_from(previous, pooled, labels) if previous is not None else None
    if preserve <= 0:
        return anchor
    unit = (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return replace(anchor or Anchor(None), vectors=unit, preserve=preserve)
