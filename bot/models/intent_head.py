"""The intent classifier's head: pooled vector -> logits -> probabilities and an out-of-scope rule.

The out-of-scope rule itself (scores and threshold) is ``bot.models.oos``, shared with
training's calibration. Out-of-scope is a rejection rule, not a class. A head whose rule is
``knn`` carries ``reference``, the unit pooled vectors of its training examples (float16 in
``head.npz``, float32 here), and scores each text by its nearest one. A head with
``vote_weight`` above 0 also has ``reference_labels`` and mixes the nearest-example vote into its
probabilities (``bot.models.vote``).

Example::

    head = IntentHead.load(Path("bundle/intent/head.npz"), labels=("refund", "track"),
                           oos_label="oos", rule=OosRule("max_softmax", 1.0, 0.5, "..."))
    scores = head.score(pooled)          # pooled: [n, hidden] float32
    scores.predicted()                   # ["refund", "oos", ...]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.models.oos import OosRule, accepts, cosines, oos_scores
from bot.models.vote import check_vote, nearest_per_label, vote_probabilities


@dataclass(frozen=True)
class IntentScores:
    """Intent predictions for a batch of n texts.

    ``probabilities`` [n, len(labels)] float32 is softmax of the logits (temperature 1), mixed
    with the nearest-example vote when the head has one (``bot.models.vote``);
    ``oos_scores`` [n] is the rule's score; ``in_scope`` [n] bool is score >= threshold
    (``bot.models.oos.accepts``, as calibration decides).
    """

    labels: tuple[str, ...]
    oos_label: str
    probabilities: npt.NDArray[np.float32]
    oos_scores: npt.NDArray[np.float32]
    in_scope: npt.NDArray[np.bool_]

    def predicted(self) -> list[str]:
        """The label of each text, or ``oos_label`` where the text is out of scope."""
        best = self.probabilities.argmax(axis=1)
        return [
            self.labels[int(i)] if keep else self.oos_label
            for i, keep in zip(best, self.in_scope, strict=True)
        ]


@dataclass(frozen=True)
class IntentHead:
    """A linear layer over pooled vectors plus the out-of-scope rule."""

    weight: npt.NDArray[np.float32]  # [num_labels, hidden]
    bias: npt.NDArray[np.float32]  # [num_labels]
    labels: tuple[str, ...]
    oos_label: str
    rule: OosRule
    reference: npt.NDArray[np.float32] | None = None  # [examples, hidden] unit vectors, for ``knn``
    reference_labels: npt.NDArray[np.int64] | None = None  # [examples]: each reference vector's intent
    vote_weight: float = 0.0  # of the nearest-example vote (``bot.models.vote``); 0 = the head alone

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("an intent head needs at least one label")
        if self.rule.needs_similarity and (self.reference is None or len(self.reference) == 0):
            raise ValueError(f"the out-of-scope score {self.rule.score!r} needs the training examples' vectors "
                             f"(array 'reference' beside the head's weights); none were given")
        if self.reference is not None and self.reference.shape[1:] != self.weight.shape[1:]:
            raise ValueError(f"reference vectors {self.reference.shape} do not fit the head's "
                             f"{self.weight.shape[1]}-dimensional input")
        check_vote(self.vote_weight, self.reference, self.reference_labels, len(self.labels))
        expected = (len(self.labels),)
        if self.weight.ndim != 2 or self.weight.shape[:1] != expected or self.bias.shape != expected:
            raise ValueError(
                f"head shapes weight {self.weight.shape} and bias {self.bias.shape} do not fit "
                f"{len(self.labels)} labels; expected weight [{len(self.labels)}, hidden]"
            )

    @classmethod
    def load(cls, path: Path, *, labels: tuple[str, ...], oos_label: str, rule: OosRule) -> IntentHead:
        """Read ``weight`` and ``bias`` from an ``.npz`` written without pickle."""
        with np.load(path, allow_pickle=False) as arrays:
            missing = {"weight", "bias"} - set(arrays.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}")
            weight = arrays["weight"].astype(np.float32)
            bias = arrays["bias"].astype(np.float32)
            # float16 on disk (half the size); float32 for the product with the pooled vectors
            reference = arrays["reference"].astype(np.float32) if "reference" in arrays.files else None
            reference_labels = arrays["reference_labels"].astype(np.int64) if "reference_labels" in arrays.files \
                else None
            vote_weight = float(arrays["vote_weight"]) if "vote_weight" in arrays.files else 0.0
        return cls(weight, bias, labels, oos_label, rule, reference, reference_labels, vote_weight)

    def logits(self, pooled: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """[n, hidden] -> [n, num_labels] float32."""
        return np.asarray(pooled @ self.weight.T + self.bias, dtype=np.float32)

    def score(self, pooled: npt.NDArray[np.floating]) -> IntentScores:
        """Probabilities, out-of-scope scores and the in-scope decision for each pooled vector."""
        logits = self.logits(pooled)
        similarity = nearest = None
        if (self.rule.needs_similarity or self.vote_weight) and self.reference is not None:
            cos = cosines(pooled, self.reference)  # [n, examples], once for both uses
            similarity = cos.max(axis=1) if self.rule.needs_similarity else None
            if self.vote_weight and self.reference_labels is not None:
                nearest = nearest_per_label(cos, self.reference_labels, len(self.labels))
        scores = oos_scores(logits, self.rule, similarity)
        return IntentScores(
            labels=self.labels,
            oos_label=self.oos_label,
            probabilities=vote_probabilities(logits, nearest, self.vote_weight),
            oos_scores=scores,
            in_scope=accepts(scores, self.rule.threshold),
        )
