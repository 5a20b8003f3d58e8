"""Calibration: the thresholds that turn out-of-scope scores and FAQ cosines into decisions.

The out-of-scope scores and the accept rule are ``bot.models.oos`` (docs/checkpoints.md), the
same functions the runtime head uses: thresholds are chosen on the float32 scores the runtime
computes and evaluated with its comparison, so every validation row, even one exactly at the
threshold, is decided here as the bot will decide it.

- With out-of-scope validation rows, the threshold maximises the balanced accuracy of the
  accept/reject decision: the mean of in-scope accuracy (a rejected in-scope message counts
  as wrong) and out-of-scope recall.
- Without them, out-of-scope messages are simulated: each in-scope validation message is
  scored once more with its own intent's logit removed (and, for ``knn``, its similarity taken to
  the other intents' training rows only), which is how the model sees a message whose intent it
  was never taught. The threshold maximises the accuracy expected when one message in four is
  out of scope (``SIMULATED_OOS_SHARE``): in-scope accuracy weighs 3 to 1 against the recall of
  the simulated rows. Weighing them equally, as with real rows, over-refuses: a simulated row is
  a question about a neighbouring intent the model knows, harder to tell from an in-scope one than
  most real out-of-scope messages, and nothing in the data says how often such messages come
  (the measurements: benchmarks/results/accuracy.md, BANKING77 and HINT3).
- The score: "auto" takes the candidate with the best validation AUROC (in-scope against
  out-of-scope, real or simulated): max_softmax, energy (with real out-of-scope rows only) and,
  when the training rows' vectors are given, ``knn`` at each of ``KNN_SOFTMAX_WEIGHTS``.

``IntentOutputs`` is what a model gives a batch of texts (logits and, for ``knn``, each text's
similarity to the training rows); evaluation and retraining decide with it. numpy only (no torch).

Example::

    rule = calibrate_with_oos(logits, correct, is_oos, "auto")     # an OosRule
    rule = calibrate_with_oos(logits, correct, is_oos, "auto", similarity=nearest_similarity(pooled, reference))
    rule.in_scope(logits, similarity)                               # as the bot decides
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from bot.models.manifest import RetrievalThresholds
from bot.models.oos import LOGIT_SCORES, OosRule, accepts
from bot.models.vote import vote_probabilities
from training.metrics import auroc

Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.floating]
# knn: similarity + weight * max_softmax. Weight 0 (similarity alone) did best on HINT3's validation
# and test rows (benchmarks/results/accuracy.md); the others let validation data choose a blend.
KNN_SOFTMAX_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
# Without real out-of-scope rows: the share of out-of-scope messages the threshold is chosen for.
SIMULATED_OOS_SHARE = 0.25


@dataclass(frozen=True)
class IntentOutputs:
    """An intent checkpoint's reading of n texts: ``logits`` [n, labels] and ``similarity`` [n],
    each text's cosine to the nearest training row (None when the checkpoint stores none);
    ``nearest`` [n, labels], the cosine to each intent's nearest row (None when the checkpoint
    stores no ``reference_labels``), which the nearest-example vote (``bot.models.vote``) mixes
    in at ``vote_weight``."""

    logits: np.ndarray
    similarity: np.ndarray | None = None
    nearest: np.ndarray | None = None
    vote_weight: float = 0.0

    def top1(self) -> npt.NDArray[np.int64]:
        """[n]: each text's intent index, as the bot picks it (the head, with the vote if any)."""
        return np.asarray(vote_probabilities(self.logits, self.nearest, self.vote_weight).argmax(axis=1))

    def scores(self, rule: OosRule) -> npt.NDArray[np.float32]:
        """The out-of-scope scores of ``rule`` (``bot.models.oos``), [n] float32."""
        return rule.scores(self.logits, self.similarity)

    def in_scope(self, rule: OosRule) -> Bools:
        """[n] bool: which texts ``rule`` keeps in scope, as the bot decides."""
        return rule.in_scope(self.logits, self.similarity)


IntentPredict = Callable[[list[str]], IntentOutputs]


def candidate_rules(score: str, temperature: float, names: Sequence[str], knn: bool) -> list[OosRule]:
    """The rules "auto" (or one named ``score``) chooses among, threshold 0 until calibrated:
    the logit scores in ``names``, then ``knn`` at each softmax weight when ``knn``."""
    rules = [OosRule(name, temperature, 0.0) for name in names if score in ("auto", name)]
    if knn and score in ("auto", "knn"):
        rules += [OosRule("knn", temperature, 0.0, softmax_weight=w) for w in KNN_SOFTMAX_WEIGHTS]
    if not rules:
        raise ValueError(f"out-of-scope score {score!r} cannot be calibrated here"
                         + ("; knn needs the training rows' vectors" if score == "knn" else ""))
    return rules


def rule_name(rule: OosRule) -> str:
    """``max_softmax``, ``energy``, ``knn`` or ``knn+0.25*softmax``: how calibration texts name a rule."""
    return f"knn+{rule.softmax_weight:g}*softmax" if rule.needs_similarity and rule.softmax_weight else rule.score


def nearest_similarity_of_others(vectors: Floats, reference: Floats, reference_labels: npt.NDArray[np.integer],
                                 gold: npt.NDArray[np.integer]) -> npt.NDArray[np.float32]:
    """Each vector's cosine to its nearest ``reference`` row of another label than its ``gold``:
    ``bot.models.oos.nearest_similarity`` as a model that never saw the message's intent has it."""
    vectors = np.asarray(vectors, dtype=np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosines = unit @ np.asarray(reference, dtype=np.float32).T  # [n, m]
    own = np.asarray(reference_labels)[None, :] == np.asarray(gold)[:, None]  # [n, m]
    return np.asarray(np.where(own, -np.inf, cosines).max(axis=1), dtype=np.float32)


def candidate_thresholds(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Float32 thresholds: one below all scores, one between each pair of neighbouring distinct
    scores (their midpoint), one above all scores.

    Each candidate is a float32 value strictly above the lower neighbour, so stored in JSON and
    read back it splits the scores exactly as it did here.

    >>> candidate_thresholds(np.array([0.2, 0.6], np.float32)).tolist()  # doctest: +ELLIPSIS
    [0.19999..., 0.40000..., 0.60000...]
    """
    values = np.unique(np.asarray(scores, dtype=np.float32))
    up, down = np.float32(np.inf), np.float32(-np.inf)
    # midpoints in float64, rounded to float32, and never onto the lower neighbour itself
    middle = ((values[:-1].astype(np.float64) + values[1:]) / 2).astype(np.float32)
    middle = np.maximum(middle, np.nextafter(values[:-1], up))
    low = min(np.float32(values[0] - 1e-6), np.nextafter(values[0], down))
    high = max(np.float32(values[-1] + 1e-6), np.nextafter(values[-1], up))
    return np.concatenate([[low], middle, [high]]).astype(np.float32)


def balanced_threshold(scores: Floats, correct: Bools, is_oos: Bools, oos_share: float = 0.5) -> tuple[float, float]:
    """Return (threshold, accuracy) maximising ``(1 - oos_share) * in-scope accuracy + oos_share *
    oos recall``: at the default 0.5, the balanced accuracy (their mean).

    ``scores`` are float32 out-of-scope scores (``bot.models.oos.score_logits``); ``correct``
    says whether the argmax label of an in-scope row is right (ignored for oos rows). The
    candidates are ``candidate_thresholds``; ties keep the lower threshold.
    """
    if not 0 < oos_share < 1:
        raise ValueError(f"oos_share must be in (0, 1), got {oos_share}")
    scores = np.asarray(scores, dtype=np.float32)
    inscope, oos = ~is_oos, is_oos
    candidates = candidate_thresholds(scores)
    best = (float(candidates[0]), -1.0)
    for threshold in candidates:
        accepted = accepts(scores, float(threshold))
        in_acc = float(np.mean(accepted[inscope] & correct[inscope])) if inscope.any() else 0.0
        oos_recall = float(np.mean(~accepted[oos])) if oos.any() else 0.0
        value = (1 - oos_share) * in_acc + oos_share * oos_recall
        if value > best[1] + 1e-12:
            best = (float(threshold), value)
    return best


def calibrate_with_oos(
    logits: Floats, correct: Bools, is_oos: Bools, score: str, temperature: float = 1.0,
    similarity: Floats | None = None, oos_share: float = 0.5,
) -> OosRule:
    """Pick the score ("auto" = the best validation AUROC) and the threshold maximising the
    accuracy expected when ``oos_share`` of the messages are out of scope (0.5: balanced accuracy).

    ``similarity`` [n] (``bot.models.oos.nearest_similarity`` of each row to the training rows)
    makes ``knn`` a candidate.
    """
    by_auroc: dict[str, tuple[float, OosRule]] = {}
    for rule in candidate_rules(score, temperature, LOGIT_SCORES, similarity is not None):
        values = rule.scores(logits, similarity)
        by_auroc[rule_name(rule)] = (auroc(values[~is_oos].tolist(), values[is_oos].tolist()), rule)
    chosen = max(by_auroc.values(), key=lambda pair: pair[0])[1]  # ties: the first, the simplest
    threshold, balanced = balanced_threshold(chosen.scores(logits, similarity), correct, is_oos, oos_share)
    aurocs = ", ".join(f"{name} {value:.4f}" for name, (value, _) in by_auroc.items())
    objective = "balanced accuracy" if oos_share == 0.5 else f"accuracy expected at an out-of-scope share of {oos_share:g}"
    return replace(
        chosen,
        threshold=threshold,
        calibration=f"threshold maximising {objective} (in-scope accuracy with rejection, oos recall) "
        f"= {balanced:.4f} on {int((~is_oos).sum())} in-scope and {int(is_oos.sum())} out-of-scope "
        f"validation rows; validation AUROC {aurocs}",
    )


def without_own_intent(logits: Floats, gold: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """``logits`` [n, labels] with each row's gold label removed (its logit pushed to -1e9).

    Softmax and energy of the result are those of the remaining labels: the scores a message
    gets from a model that does not know its intent, i.e. a simulated out-of-scope message.
    """
    masked = np.array(logits, dtype=np.float64)
    masked[np.arange(len(masked)), np.asarray(gold, dtype=int)] = -1e9
    return masked


def calibrate_without_oos(
    logits: Floats, gold: npt.NDArray[np.integer], score: str, temperature: float = 1.0,
    similarity: Floats | None = None, similarity_of_others: Floats | None = None,
) -> OosRule:
    """Threshold from in-scope validation rows alone (``gold``: their label indices).

    Each row also stands in for an out-of-scope message through ``without_own_intent`` (and,
    for ``knn``, ``similarity_of_others``: ``nearest_similarity_of_others``); the threshold
    maximises the accuracy expected at ``SIMULATED_OOS_SHARE`` out-of-scope messages (the
    module's docstring says why not balanced accuracy, as ``calibrate_with_oos``). "auto" chooses
    between max_softmax and, given both similarities, ``knn`` by the AUROC of real against
    simulated rows. Needs at least two labels.
    """
    if logits.shape[1] < 2:
        raise ValueError("calibrating without out-of-scope rows needs at least two labels")
    gold = np.asarray(gold, dtype=int)
    knn = similarity is not None and similarity_of_others is not None
    masked = without_own_intent(logits, gold)
    best: tuple[float, OosRule, npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
    aurocs = []
    for rule in candidate_rules(score, temperature, ("max_softmax", "energy") if score == "energy" else ("max_softmax",),
                                knn):
        inscope = rule.scores(logits, similarity)
        simulated = rule.scores(masked, similarity_of_others)
        value = auroc(inscope.tolist(), simulated.tolist())
        aurocs.append(f"{rule_name(rule)} {value:.4f}")
        if best is None or value > best[0]:
            best = (value, rule, inscope, simulated)
    assert best is not None  # candidate_rules returns at least one rule
    _, chosen, inscope, simulated = best
    scores = np.concatenate([inscope, simulated])
    is_oos = np.arange(scores.size) >= inscope.size
    correct = np.concatenate([logits.argmax(axis=1) == gold, np.zeros(simulated.size, dtype=bool)])
    threshold, weighted = balanced_threshold(scores, correct, is_oos, SIMULATED_OOS_SHARE)
    rejected = float(np.mean(~accepts(inscope, threshold)))
    return replace(
        chosen,
        threshold=threshold,
        calibration=f"no out-of-scope validation rows: {inscope.size} in-scope validation rows, each also scored "
        f"without its own intent as a simulated out-of-scope message; threshold maximising the accuracy "
        f"expected at an out-of-scope share of {SIMULATED_OOS_SHARE:g} (in-scope accuracy with rejection "
        f"{1 - SIMULATED_OOS_SHARE:g}, simulated oos recall {SIMULATED_OOS_SHARE:g}) = {weighted:.4f}; "
        f"it rejects {rejected:.0%} of the in-scope validation rows"
        + (f"; AUROC against the simulated rows {', '.join(aurocs)}" if len(aurocs) > 1 else ""),
    )


def calibrate_answer(
    top_scores: Sequence[float] | Floats, second_scores: Sequence[float] | Floats, top_correct: Sequence[bool],
    target_precision: float, outside: Sequence[float] | Floats = (), oos_share: float = SIMULATED_OOS_SHARE,
) -> RetrievalThresholds:
    """Pick (answer, margin) for the held-out queries' top and second scores.

    A query is answered when its top score >= answer and exceeds the second entry's by >= margin.
    Without ``outside`` (the top scores of out-of-scope messages), the pair answers the most
    queries with precision >= ``target_precision``; when no pair reaches the target, the most
    precise pair is taken. With them, the answer threshold is ``expected_accuracy_threshold``'s
    (the queries against the out-of-scope messages at ``oos_share``), and the margin the lead
    that decides the most of the queries clearing it right, halfway between the leads on either
    side of it (``_margin``).
    """
    top, second = np.asarray(top_scores, float), np.asarray(second_scores, float)
    correct = np.asarray(top_correct, bool)
    gaps = top - second
    if len(outside):
        answer, accuracy = expected_accuracy_threshold(top, np.asarray(outside, float), oos_share)
        margin, how = _margin(gaps[top >= answer], correct[top >= answer])
        answered = (top >= answer) & (gaps >= margin)
        precision = float(correct[answered].mean()) if answered.any() else 0.0
        return RetrievalThresholds(
            answer,
            margin,
            f"answer threshold maximising the accuracy expected at an out-of-scope share of {oos_share:g}, "
            f"{top.size} held-out queries against {len(outside)} out-of-scope messages, each score smoothed "
            f"(Gaussian kernels) = {accuracy:.4f}; margin {how}: answers {answered.mean():.0%} of the queries "
            f"with top-1 precision {precision:.3f}",
        )
    answers = np.unique(np.quantile(top, np.linspace(0, 1, 41)))
    margins = np.unique(np.concatenate([[0.0], np.quantile(gaps, np.linspace(0, 0.9, 19))]))
    chosen = _most_answered(answers, margins, top, gaps, correct, target_precision)
    assert chosen is not None, "calibrate_answer needs at least one query"
    coverage, precision, answer, margin = chosen
    how = "the most answered" if precision >= target_precision else \
        f"no pair reached precision {target_precision:.2f}; the most precise"
    return RetrievalThresholds(
        answer,
        margin,
        f"{how} (answer, margin) pair on {top.size} held-out queries: answers {coverage:.0%} "
        f"with top-1 precision {precision:.3f} (target {target_precision:.2f})",
    )


def _margin(gaps: Floats, correct: Bools) -> tuple[float, str]:
    """(margin, how it was chosen) for queries' leads over the second entry: the smallest margin
    that decides the most queries right (a right top-1 answered, a wrong one held back), moved to
    halfway between the lead below it and the lead it keeps: a few queries do not show where
    wrong leads stop, and the bare cut would sit right on one of them."""
    right, wrong = gaps[correct], gaps[~correct]
    if not wrong.size:
        return 0.0, f"0: every one of the {right.size} queries that clear it has the right entry first"
    if not right.size:
        return float(gaps.max()) + 1e-6, f"above every lead: none of the {wrong.size} queries that clear it has the right entry first"
    # A wrong top-1 held back counts as a rejected out-of-scope row, a right one answered as an
    # accepted in-scope row; weighed by their shares, the accuracy is the share decided right.
    cut, accuracy = balanced_threshold(gaps, correct, ~correct, wrong.size / gaps.size)
    margin = 0.0 if cut <= gaps.min() else cut  # below every lead: no margin
    return margin, (f"halfway between the leads on either side of the smallest margin that decides the most of "
                    f"them right: {round(accuracy * gaps.size)} of the {gaps.size} queries that clear it "
                    f"({wrong.size} with a wrong top-1 entry)")


def _most_answered(answers: Sequence[float] | Floats, margins: Floats, top: Floats, gaps: Floats, correct: Bools,
                   target_precision: float) -> tuple[float, float, float, float] | None:
    """(coverage, precision, answer, margin): the pair answering the most queries at precision >=
    ``target_precision``, else the most precise pair (the first of equals: the lowest bars); None
    when no pair answers any query."""
    best: tuple[float, float, float, float] | None = None  # (coverage, precision, answer, margin)
    fallback: tuple[float, float, float, float] | None = None
    for answer in answers:
        for margin in margins:
            answered = (top >= answer) & (gaps >= margin)
            if not answered.any():
                continue
            precision, coverage = float(correct[answered].mean()), float(answered.mean())
            if precision >= target_precision and (best is None or coverage > best[0]):
                best = (coverage, precision, float(answer), float(margin))
            if fallback is None or (precision, coverage) > (fallback[1], fallback[0]):
                fallback = (coverage, precision, float(answer), float(margin))
    return best or fallback


def expected_accuracy_threshold(inside: Floats, outside: Floats, oos_share: float) -> tuple[float, float]:
    """(threshold, expected accuracy): the score maximising ``(1 - oos_share) * P(an in-scope
    score clears it) + oos_share * P(an out-of-scope score stays below it)``.

    Each probability is read from a Gaussian kernel density of the scores (Silverman's rule of
    thumb for the bandwidth), not from the samples themselves: a dozen held-out queries are too
    few for their lowest score to be where in-scope questions stop. On the samples, the best
    threshold is always one of the queries' own scores, with no room below it for the next
    customer's wording; smoothed, it lies where the two densities weigh equally.

    >>> round(expected_accuracy_threshold(np.array([0.6, 0.7, 0.8]), np.array([0.1, 0.2, 0.3]), 0.5)[0], 2)
    0.45
    """
    if not 0 < oos_share < 1:
        raise ValueError(f"oos_share must be in (0, 1), got {oos_share}")
    inside, outside = np.asarray(inside, float), np.asarray(outside, float)
    low, high = min(inside.min(), outside.min()), max(inside.max(), outside.max())
    grid = np.linspace(low, high, 1001)
    value = (1 - oos_share) * (1 - _smoothed_cdf(inside, grid)) + oos_share * _smoothed_cdf(outside, grid)
    best = int(np.argmax(value))
    return float(grid[best]), float(value[best])


_erf = np.frompyfunc(math.erf, 1, 1)


def _smoothed_cdf(samples: Floats, at: Floats) -> Floats:
    """The share of a Gaussian kernel density of ``samples`` below each point of ``at``."""
    spread = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
    bandwidth = max(1.06 * spread * samples.size ** -0.2, 1e-3)  # Silverman; a floor for identical scores
    z = (at[:, None] - samples[None, :]) / (bandwidth * math.sqrt(2))
    below: Floats = np.asarray(0.5 * (1 + _erf(z).astype(float)), float).mean(axis=1)
    return below
