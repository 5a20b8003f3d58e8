"""Keeping the pre-trained geometry (``--preserve-base W``), side by side: several seeds, one run.

For one intent data set of ``../shared/data``, trains the default recipe at each weight with each
seed (weights alternated within a seed, so the machine's load falls on all of them alike) and
evaluates each checkpoint on the test file exactly as ``benchmarks/accuracy.py`` does: MCC with
the threshold calibrated in training, MCC at the best threshold on the test set itself (the
score's quality, whatever the calibration), the out-of-scope AUROC, accuracy and in-scope
rejections. One training is a weak measurement on a small data set (HINT3's MCC moves by several
points with the seed), hence the seeds and the medians.

Writes ``OUT/preserve_base.{json,md}``, one entry per data set (earlier entries kept).

Example::

    .venv/bin/python benchmarks/preserve_base.py --dataset hint3_sofmattress --weights 0 1 --seeds 1 2 3 \\
        --work /tmp/preserve
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import INTENT_SETS, evaluate_intent_checkpoint, intent_files  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from training.args import IntentTrainingArgs  # noqa: E402
from training.intents import train_intents  # noqa: E402

METRICS = ("mcc", "mcc_oracle_threshold", "oos_auroc", "accuracy", "in_scope_rejected", "oos_recall")


def run(dataset: str, data: Path, work: Path, weights: list[float], seeds: list[int],
        min_train_steps: int | None) -> dict[str, object]:
    """Train and evaluate every (seed, weight); the per-run metrics and their medians per weight."""
    train, valid, test = intent_files(dataset, data)
    runs = []
    for seed in seeds:
        for weight in weights:
            out = work / f"{dataset}-w{weight:g}-s{seed}"
            shutil.rmtree(out, ignore_errors=True)
            steps = {} if min_train_steps is None else {"min_train_steps": min_train_steps}
            train_intents(train, valid, out, IntentTrainingArgs(preserve_base=weight, seed=seed, **steps),
                          log=lambda line: None)
            metrics = evaluate_intent_checkpoint(dataset, out, test, work / "reports" / out.name)
            row = {"weight": weight, "seed": seed, "train_seconds": metrics["train_seconds"],
                   **{key: round(float(metrics[key]), 4) for key in METRICS if key in metrics}}
            print(json.dumps(row), flush=True)
            runs.append(row)
    medians = {f"{weight:g}": {key: round(statistics.median(r[key] for r in runs if r["weight"] == weight), 4)
                               for key in METRICS if key in runs[0]} for weight in weights}
    return {"machine": describe_machine(), "min_train_steps": min_train_steps or IntentTrainingArgs.min_train_steps,
            "runs": runs, "medians": medians}


def render(results: dict[str, dict[str, object]]) -> str:
    lines = ["# Keeping the pre-trained geometry while fine-tuning (`--preserve-base W`)", "",
             "Made by `benchmarks/preserve_base.py`: the default training recipe at each weight and seed, "
             "alternated, in one run; each checkpoint evaluated on the test file as `benchmarks/accuracy.py` "
             "does. `mcc`: with the threshold calibrated in training (what the bot does); `mcc_oracle_threshold`: "
             "at the best threshold on the test set (the out-of-scope score's quality alone).", ""]
    for name, entry in results.items():
        machine = entry["machine"]
        keys = [key for key in METRICS if key in entry["runs"][0]]
        lines += [f"## {name}", "", f"Machine: {machine['cpu']}, {machine['cores']} cores; commit {machine['commit']}; "
                  f"min_train_steps {entry['min_train_steps']}.", "",
                  "Medians over the seeds:", "", "| weight | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
        for weight, medians in entry["medians"].items():
            lines.append(f"| {weight} | " + " | ".join(f"{medians[k]:.4f}" for k in keys) + " |")
        lines += ["", "Every run:", "", "| weight | seed | " + " | ".join(keys) + " | train s |",
                  "|---|---|" + "---:|" * (len(keys) + 1)]
        for row in entry["runs"]:
            lines.append(f"| {row['weight']:g} | {row['seed']} | " + " | ".join(f"{row[k]:.4f}" for k in keys)
                         + f" | {row['train_seconds']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=list(INTENT_SETS))
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--min-train-steps", type=int, help="default: the training default")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, required=True, help="checkpoints and reports go here")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    entry = run(args.dataset, args.data, args.work, args.weights, args.seeds, args.min_train_steps)
    path = args.out / "preserve_base.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    key = args.dataset if args.min_train_steps is None else f"{args.dataset}@{args.min_train_steps}steps"
    results[key] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "preserve_base.md").write_text(render(results))
    print(render({key: entry}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
