"""The nearest-example vote: intent probabilities that also ask the training examples.

A linear head learns an intent from its examples' share of the loss. An intent staff labelled
six times, beside 96 FAQ questions, gets a small share, and the head keeps the big class's prior:
on the demo shop, after a retrain, "we're a restaurant, can we buy wholesale?" read 0.69 ``faq``
and 0.16 ``wholesale``, although its nearest training example, at cosine 0.645, was "wholesale
prices please" (the nearest ``faq`` one: 0.395). The vote asks the examples directly. For each
intent it takes the cosine of the text's pooled vector to that intent's nearest reference vector
(the head's ``reference``: every training row of a small intent, k-means centroids of a big one,
``training.neighbours``), turns those into a distribution with a softmax at ``TEMPERATURE``, and
mixes it with the head's softmax:

    p = (1 - weight) * softmax(logits) + weight * softmax(nearest_per_intent / TEMPERATURE)

``weight`` 0 is the head alone (checkpoints and bundles without a vote). The out-of-scope rule
(``bot.models.oos``) is not changed by the vote; only which intent wins and how sure it is.
Training (``training.calibration.IntentOutputs``), the export gate and the runtime head
(``bot.models.intent_head``) all decide with ``vote_probabilities``. numpy only.

Example::

    cos = cosines(pooled, reference)                             # [n, m]
    near = nearest_per_label(cos, reference_labels, len(labels))  # [n, labels]
    vote_probabilities(logits, near, weight=0.5)                  # [n, labels], rows sum to 1
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bot.models.oos import cosines, softmax

__all__ = ["cosines", "nearest_per_label", "vote_probabilities", "check_vote", "TEMPERATURE"]

TEMPERATURE = 0.1  # a cosine 0.1 closer counts e = 2.7 times more
NO_EXAMPLE = -1.0  # an intent without reference vectors: the lowest cosine

FloatArray = npt.NDArray[np.floating]


def nearest_per_label(cos: FloatArray, reference_labels: npt.NDArray[np.integer], num_labels: int
                      ) -> npt.NDArray[np.float32]:
    """[n, num_labels]: for each text and intent, the cosine to the intent's nearest reference row
    (``NO_EXAMPLE`` for an intent with none).

    >>> nearest_per_label(np.array([[0.25, 0.75, 0.5]]), np.array([1, 0, 1]), 3).tolist()
    [[0.75, 0.5, -1.0]]
    """
    cos = np.asarray(cos, dtype=np.float32)
    near = np.full((cos.shape[0], num_labels), NO_EXAMPLE, dtype=np.float32)
    labels = np.asarray(reference_labels, dtype=np.int64)
    if not len(labels):
        return near
    order = np.argsort(labels, kind="stable")  # training.neighbours keeps them grouped: cheap
    grouped = labels[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])  # first row of each label
    near[:, grouped[starts]] = np.maximum.reduceat(cos[:, order], starts, axis=1)  # one pass, not one per label
    return near


def vote_probabilities(logits: FloatArray, nearest: FloatArray | None, weight: float,
                       temperature: float = TEMPERATURE) -> npt.NDArray[np.float32]:
    """The head's softmax mixed with the examples' vote (module docstring); the head's softmax
    alone when ``weight`` is 0 or there is nothing to vote with.

    >>> vote_probabilities(np.zeros((1, 2)), np.array([[0.9, 0.2]]), 0.5).round(3).tolist()
    [[0.75, 0.25]]
    """
    head = softmax(logits)
    if not weight or nearest is None:
        return head
    votes = softmax(np.asarray(nearest, dtype=np.float64) / temperature)
    return np.asarray((1.0 - weight) * head + weight * votes, dtype=np.float32)


def check_vote(weight: float, reference: FloatArray | None, reference_labels: npt.NDArray[np.integer] | None,
               num_labels: int) -> None:
    """Raise ValueError unless a vote of ``weight`` can be taken with these reference rows."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the nearest-example vote's weight must lie in [0, 1], got {weight}")
    if reference_labels is None:
        if weight:
            raise ValueError("the nearest-example vote needs the training examples' vectors and their intents "
                             "(arrays 'reference' and 'reference_labels' beside the head's weights)")
        return
    labels = np.asarray(reference_labels)
    if reference is None or labels.shape != (len(reference),):
        raise ValueError(f"reference_labels {labels.shape} do not name one intent per reference vector "
                         f"({None if reference is None else len(reference)})")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(f"reference_labels name intents outside 0..{num_labels - 1}")
