"""The nearest-example vote side by side: one intent checkpoint, one test set, several weights.

The vote (``bot/models/vote.py``, ``supportbot train ... --nearest-vote W``) changes only which
intent wins and how sure it is; training and the out-of-scope threshold are the same at every
weight when validation has no out-of-scope rows (BANKING77, HINT3: the threshold comes from
simulated rows). So one checkpoint, read once, is evaluated here at each weight exactly as
``supportbot evaluate intents`` and the bot would with that weight saved in ``head.npz``.

Writes ``OUT/nearest_vote.{json,md}``, one entry per ``--name`` (earlier entries kept).

Example::

    .venv/bin/python benchmarks/accuracy.py --only hint3_sofmattress --checkpoints /tmp/ck
    .venv/bin/python benchmarks/nearest_vote.py --name hint3_sofmattress --checkpoint /tmp/ck/hint3_sofmattress \\
        --test ../shared/data/hint3/sofmattress/test.csv
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from bot.models.vote import TEMPERATURE  # noqa: E402
from training.checkpoint import load_intent_predictor  # noqa: E402
from training.data import read_intents  # noqa: E402
from training.evaluation import evaluate_intents  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5)
METRICS = ("accuracy", "macro_f1", "in_scope_rejected", "oos_recall", "mcc")


def measure(checkpoint: Path, test: Path, weights: tuple[float, ...]) -> dict[str, dict[str, float]]:
    """Metrics of ``checkpoint`` on ``test`` at each vote weight."""
    meta, predict = load_intent_predictor(checkpoint)
    rows = read_intents(test)
    outputs = predict([row.text for row in rows])  # read once, then decided at each weight
    if outputs.nearest is None:
        raise SystemExit(f"{checkpoint}: head.npz has no reference_labels (trained before the vote existed)")
    results = {}
    for weight in weights:
        voted = replace(outputs, vote_weight=weight)
        metrics = evaluate_intents(lambda texts, voted=voted: voted, meta, rows).metrics
        results[f"{weight:g}"] = {key: round(metrics[key], 4) for key in METRICS if key in metrics}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the entry's name, e.g. the data set")
    parser.add_argument("--checkpoint", type=Path, required=True, help="an intent checkpoint directory")
    parser.add_argument("--test", type=Path, required=True, help="text,label CSV")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = measure(args.checkpoint, args.test, WEIGHTS)
    path = args.out / "nearest_vote.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[args.name] = {"machine": describe_machine(), "checkpoint": str(args.checkpoint), "test": str(args.test),
                       "temperature": TEMPERATURE, "weights": results,
                       "seconds": round(time.monotonic() - started, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    lines = ["# The nearest-example vote, side by side", "",
             "Each row: one intent checkpoint evaluated on its test set at each vote weight (`benchmarks/nearest_vote.py`;"
             " weight 0 is the classifier alone). The out-of-scope rule is the same in every row.", ""]
    for name, entry in data.items():
        machine = entry["machine"]
        lines += [f"## {name}", "", f"Machine: {machine['cpu']}, {machine['cores']} cores; commit {machine['commit']}; "
                  f"temperature {entry['temperature']}; test `{Path(entry['test']).name}`.", "",
                  "| weight | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
        for weight, metrics in entry["weights"].items():
            lines.append(f"| {weight} | " + " | ".join(f"{metrics[k]:.4f}" if k in metrics else "-" for k in METRICS)
                         + " |")
        lines.append("")
    (args.out / "nearest_vote.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
