"""The nearest-example vote: an intent with a handful of examples is heard beside a big class.

The head here is the demo shop's problem in miniature: a big ``faq`` class whose bias the head
learnt from many rows, and ``wholesale`` with one example. A message right next to that example
still reads as ``faq`` to the head alone; with the vote it is ``wholesale``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.models.intent_head import IntentHead
from bot.models.oos import OosRule, nearest_similarity, softmax
from bot.models.vote import NO_EXAMPLE, nearest_per_label, vote_probabilities

LABELS = ("faq", "greeting", "wholesale")
RULE = OosRule("knn", 1.0, 0.3)


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


# three faq examples, one greeting, one wholesale, in a 4-dimensional pooled space
REFERENCE = np.stack([_unit([1, 0, 0, 0]), _unit([1, 0.3, 0, 0]), _unit([1, 0, 0.3, 0]),
                      _unit([0, 1, 0, 0]), _unit([0.3, 0, 0, 1])])
REFERENCE_LABELS = np.array([0, 0, 0, 1, 2])
WEIGHT = np.array([[1.0, 0, 0, 0.4], [0, 1.0, 0, 0], [0, 0, 0, 1.0]], dtype=np.float32)
BIAS = np.array([2.0, 0.0, -1.0], dtype=np.float32)  # the big class's prior


def _head(vote_weight: float) -> IntentHead:
    return IntentHead(WEIGHT, BIAS, LABELS, "oos", RULE, REFERENCE, REFERENCE_LABELS, vote_weight)


def test_a_message_next_to_the_one_example_of_a_small_intent() -> None:
    near_wholesale = np.array([[0.35, 0.0, 0.05, 1.0]], dtype=np.float32)
    alone, voted = _head(0.0).score(near_wholesale), _head(0.5).score(near_wholesale)
    assert alone.predicted() == ["faq"]  # the head alone: the prior wins
    assert voted.predicted() == ["wholesale"]
    np.testing.assert_allclose(voted.probabilities.sum(axis=1), 1.0, rtol=1e-6)
    # the out-of-scope decision is the rule's, with or without the vote
    np.testing.assert_array_equal(alone.oos_scores, voted.oos_scores)
    np.testing.assert_array_equal(alone.in_scope, voted.in_scope)


def test_where_the_head_and_the_examples_agree_nothing_changes_but_the_confidence() -> None:
    pooled = np.array([[1.0, 0.05, 0.1, 0.0], [0.0, 4.0, 0.1, 0.0]], dtype=np.float32)
    alone, voted = _head(0.0).score(pooled), _head(0.5).score(pooled)
    assert alone.predicted() == voted.predicted() == ["faq", "greeting"]
    assert (voted.probabilities.max(axis=1) >= alone.probabilities.max(axis=1) - 1e-6).all()


def test_weight_zero_is_the_head_alone() -> None:
    logits = np.array([[1.0, 2.0, 0.5]], dtype=np.float32)
    nearest = np.array([[0.9, 0.1, 0.2]], dtype=np.float32)
    np.testing.assert_array_equal(vote_probabilities(logits, nearest, 0.0), softmax(logits))
    np.testing.assert_array_equal(vote_probabilities(logits, None, 0.5), softmax(logits))
    votes = vote_probabilities(logits, nearest, 1.0)  # the examples alone
    assert votes.argmax() == 0 and votes.sum() == pytest.approx(1.0)


def test_nearest_per_label_and_an_intent_without_examples() -> None:
    pooled = np.array([[0.0, 0.0, 0.0, 1.0]], dtype=np.float32)
    from bot.models.oos import cosines

    cos = cosines(pooled, REFERENCE)
    near = nearest_per_label(cos, REFERENCE_LABELS, 4)  # a fourth intent with no reference vector
    assert near[0, 2] == pytest.approx(float(REFERENCE[4, 3]))
    assert near[0, 3] == NO_EXAMPLE
    assert near.max() == pytest.approx(float(nearest_similarity(pooled, REFERENCE)[0]))


def test_the_head_reads_its_vote_from_head_npz(tmp_path: Path) -> None:
    path = tmp_path / "head.npz"
    np.savez(path, weight=WEIGHT, bias=BIAS, reference=REFERENCE.astype(np.float16),
             reference_labels=REFERENCE_LABELS, vote_weight=np.float32(0.5))
    head = IntentHead.load(path, labels=LABELS, oos_label="oos", rule=RULE)
    assert head.vote_weight == 0.5 and head.reference_labels is not None
    assert head.score(np.array([[0.35, 0.0, 0.05, 1.0]], dtype=np.float32)).predicted() == ["wholesale"]
    np.savez(path, weight=WEIGHT, bias=BIAS, reference=REFERENCE.astype(np.float16))  # an older head
    assert IntentHead.load(path, labels=LABELS, oos_label="oos", rule=RULE).vote_weight == 0.0


@pytest.mark.parametrize("change, message", [
    (dict(reference_labels=None), "needs the training examples"),
    (dict(reference_labels=np.array([0, 1])), "one intent per reference vector"),
    (dict(reference_labels=np.array([0, 0, 0, 1, 3])), "outside 0..2"),
    (dict(vote_weight=1.5), "in \\[0, 1\\]"),
])
def test_a_vote_that_cannot_be_taken_is_refused(change: dict[str, object], message: str) -> None:
    fields = dict(reference_labels=REFERENCE_LABELS, vote_weight=0.5) | change
    with pytest.raises(ValueError, match=message):
        IntentHead(WEIGHT, BIAS, LABELS, "oos", RULE, REFERENCE, **fields)  # type: ignore[arg-type]


def test_nearest_per_label_matches_a_plain_loop_for_labels_in_any_order() -> None:
    from bot.models.oos import cosines

    rng = np.random.default_rng(3)
    reference = rng.normal(size=(60, 8)).astype(np.float32)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    labels = rng.integers(0, 9, size=60)  # shuffled, and some of the 12 intents have no row
    cos = cosines(rng.normal(size=(5, 8)), reference)
    expected = np.full((5, 12), NO_EXAMPLE, dtype=np.float32)
    for label in set(labels.tolist()):
        expected[:, label] = cos[:, labels == label].max(axis=1)
    np.testing.assert_array_equal(nearest_per_label(cos, labels, 12), expected)
