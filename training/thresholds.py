"""Thresholds of a retrained bundle: re-calibrated only on enough data, otherwise kept.

Training calibrates the out-of-scope rule and the FAQ answer threshold and margin on the rows it
held out. On a small team's data that is a handful of rows: the out-of-scope threshold chosen on
5 out-of-scope rows, or a margin of 0 chosen on 11 queries, moves every decision of the bot on
noise. So after a retraining each threshold is judged by the rows behind it:

- the out-of-scope rule (score, temperature, threshold) is the new model's only when its
  validation had ``MIN_INSCOPE_ROWS`` in-scope rows and, if it had out-of-scope rows at all,
  ``MIN_OOS_ROWS`` of them; else the old bundle's rule is kept (and the recorded out-of-scope
  recall re-measured with it, so the export's check of recorded metrics holds);
- the FAQ answer threshold and margin are the new model's only when ``MIN_QUERIES`` queries were
  held out to choose them; else the old bundle's are kept, and so is how FAQ search scores (what
  is embedded per phrasing, the weight of the customer's own words): a threshold is a point on
  one scoring's scale. A retrain fixes the scoring before training (``kept_scoring``); where its
  options ask for another one explicitly, that is what was trained, and the list says the kept
  thresholds were chosen for the old one.

Every threshold is listed, changed or kept, with the numbers and why: the retraining report and
the console show the list.

Example::

    rule = settle_intent_rule(old_intents, new_intents, "v1", predict)
    answer = settle_answer_thresholds(old_retriever, new_retriever, "v1")
    [c.note for c in (rule, *answer)]   # ["kept: the new model's validation has 33 in-scope row(s) and 5 ..."]
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bot.models.oos import OosRule
from export.checkpoint import (
    IntentCheckpoint,
    RetrieverCheckpoint,
    read_intent_checkpoint,
    read_retriever_checkpoint,
    write_intent_json,
    write_retriever_json,
)
from training.args import RetrieverTrainingArgs
from training.calibration import IntentPredict
from training.data import read_intents, read_rows

MIN_INSCOPE_ROWS = 30
MIN_OOS_ROWS = 20
MIN_QUERIES = 30


@dataclass(frozen=True)
class ThresholdChange:
    name: str  # "out-of-scope rule" | "FAQ answer threshold" | "FAQ answer margin" | "FAQ search scoring"
    old: str
    new: str
    changed: bool
    note: str  # why, with the rows behind it

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def settle_intent_rule(old_dir: Path, new_dir: Path, old_bundle: str,
                       predict: Callable[[Path], IntentPredict] | None = None) -> ThresholdChange:
    """Keep the old out-of-scope rule in the new checkpoint unless its validation had enough rows."""
    old, new = read_intent_checkpoint(old_dir), read_intent_checkpoint(new_dir)
    rows = read_intents(new.heldout_path)
    oos = sum(row.label == new.oos_label for row in rows)
    inscope = len(rows) - oos
    before, after = _rule(old.oos), _rule(new.oos)
    if inscope >= MIN_INSCOPE_ROWS and (oos == 0 or oos >= MIN_OOS_ROWS):
        return ThresholdChange("out-of-scope rule", before, after, before != after,
                               f"re-calibrated on {inscope} in-scope and {oos} out-of-scope validation rows: "
                               f"{new.oos.calibration}")
    why = (f"the new model's validation has {inscope} in-scope row(s) and {oos} out-of-scope row(s); "
           f"re-calibrating needs {MIN_INSCOPE_ROWS} and {MIN_OOS_ROWS}")
    kept = replace(old.oos, calibration=f"kept from bundle {old_bundle}: {why} (it had chosen {after})")
    _write_intent(new, kept, predict)
    return ThresholdChange("out-of-scope rule", before, before, False, f"kept: {why}")


def settle_answer_thresholds(old_dir: Path, new_dir: Path, old_bundle: str) -> list[ThresholdChange]:
    """Keep the old FAQ answer threshold and margin, and the scoring they are points of, unless
    enough queries were held out to choose them."""
    if old_dir.resolve() == new_dir.resolve():
        return [ThresholdChange(name, value, value, False, "retriever not retrained") for name, value in
                _answer_values(read_retriever_checkpoint(old_dir))]
    old, new = read_retriever_checkpoint(old_dir), read_retriever_checkpoint(new_dir)
    queries = held_out_queries(new)
    pairs = zip(_answer_values(old), _answer_values(new))
    if queries >= MIN_QUERIES:
        return [ThresholdChange(name, before, after, before != after,
                                f"re-calibrated on {queries} held-out queries: {new.thresholds.calibration}")
                for (name, before), (_, after) in pairs]
    why = f"{queries} held-out queries chose them; re-calibrating needs {MIN_QUERIES}"
    chosen = f"{new.thresholds.answer:.3f}/{new.thresholds.margin:.3f}"
    kept = replace(old.thresholds, calibration=f"kept from bundle {old_bundle}: {why} (they had chosen {chosen})")
    write_retriever_json(replace(new, thresholds=kept))
    *numbers, ((name, before), (_, after)) = pairs
    if after != before:  # the options asked for another scoring (kept_scoring lets them)
        scoring = ThresholdChange(name, before, after, True, f"changed by the training options, but the answer "
                                  f"threshold and margin kept were chosen for {before}: {why}")
    else:  # trained for it (kept_scoring): nothing chose another
        scoring = ThresholdChange(name, before, before, False, f"kept: {queries} held-out queries are too few to "
                                  f"choose another scoring (re-calibrating needs {MIN_QUERIES})")
    return [*(ThresholdChange(name, before, before, False, f"kept: {why} (they had chosen {after})")
              for (name, before), (_, after) in numbers), scoring]


def held_out_queries(checkpoint: RetrieverCheckpoint) -> int:
    """How many queries a retriever checkpoint held out to calibrate on."""
    path = checkpoint.heldout_queries_path
    return len(read_rows(path, ("query", "faq_id"))) if path.exists() else 0


def kept_scoring(queries: int, old_dir: Path, args: RetrieverTrainingArgs) -> RetrieverTrainingArgs:
    """``args`` for retraining a retriever that will hold out ``queries`` queries: where they are
    too few to calibrate on, FAQ search scores as the old checkpoint's did (what is embedded,
    the lexical weight), so that the old threshold and margin kept for it still apply, and the
    encoder learns for that scoring. Choices the options make explicitly stand."""
    if queries >= MIN_QUERIES:
        return args
    old = read_retriever_checkpoint(old_dir)
    return replace(args, document=old.document if args.document == "auto" else args.document,
                   lexical_weight=old.lexical_weight if args.lexical_weight is None else args.lexical_weight)


def _answer_values(checkpoint: RetrieverCheckpoint) -> list[tuple[str, str]]:
    thresholds = checkpoint.thresholds
    return [("FAQ answer threshold", f"{thresholds.answer:.3f}"), ("FAQ answer margin", f"{thresholds.margin:.3f}"),
            ("FAQ search scoring", f"{checkpoint.document}, lexical weight {checkpoint.lexical_weight:.2f}")]


def _rule(rule: OosRule) -> str:
    return f"{rule.threshold:.4f} ({rule.score})"


def _write_intent(checkpoint: IntentCheckpoint, rule: OosRule, predict: Callable[[Path], IntentPredict] | None) -> None:
    """Write ``rule`` into the checkpoint, with its recorded out-of-scope recall re-measured under it."""
    metrics = dict(checkpoint.encoder.metrics)
    if "oos_recall" in metrics and predict is not None:
        rows = [row for row in read_intents(checkpoint.heldout_path) if row.label == checkpoint.oos_label]
        if rows:
            outputs = predict(checkpoint.encoder.path)([row.text for row in rows])
            metrics["oos_recall"] = round(float(np.mean(~outputs.in_scope(rule))), 6)
    write_intent_json(replace(checkpoint, oos=rule, encoder=replace(checkpoint.encoder, metrics=metrics)))
