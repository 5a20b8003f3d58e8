"""How well a bundle's intent model tells in-scope messages from out-of-scope ones, on the dialogue suite.

The training data's validation rows are short and clean; the dialogue suite's messages are
written as customers write. Every message of the suite is classified once (no policy, no
server): in scope are the messages whose turn expects the bot to act on them (an answer, a
handler, choices or a handoff; not a fallback, nor a message relayed to a person, which no model
reads); out of scope, those of the out-of-scope category whose turn expects a fallback. For each bundle and part it writes the AUROC of
the out-of-scope score, the share of in-scope messages the calibrated threshold rejects, and the
share of out-of-scope messages it accepts, to ``dialogues_oos.{md,json}``:

    python benchmarks/dialogue_oos.py --bundle seed42=data --bundle seed7=/tmp/seed7 --out benchmarks/results
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dialogue_suite import PARTS, SUITE_DIR, Dialogue, load_suite  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from bot.models.bundle import load_bundle  # noqa: E402
from training.metrics import auroc  # noqa: E402

ACTED_ON = {"answer", "handler", "clarify", "handoff"}  # expected actions of an in-scope message


def messages(dialogues: list[Dialogue]) -> tuple[list[str], list[str]]:
    """(in-scope messages, out-of-scope messages) of the dialogues' checked turns."""
    inside, outside = [], []
    for dialogue in dialogues:
        for turn in dialogue.turns:
            if not turn.say or turn.expect is None or not turn.expect.actions:
                continue
            if dialogue.category == "out_of_scope" and turn.expect.actions == ("fallback",):
                outside.append(turn.say)
            elif set(turn.expect.actions) <= ACTED_ON:
                inside.append(turn.say)
    return inside, outside


def measure(data_dir: Path, parts: list[str]) -> dict[str, object]:
    bundle = load_bundle(data_dir / "bundles" / "current")
    rows: dict[str, object] = {}
    for part in parts:
        inside, outside = messages(load_suite(SUITE_DIR / f"{part}.yaml"))
        scored_in, scored_out = bundle.classify(inside), bundle.classify(outside)
        rows[part] = {"in_scope": len(inside), "out_of_scope": len(outside),
                      "auroc": round(auroc(scored_in.oos_scores.tolist(), scored_out.oos_scores.tolist()), 3),
                      "in_scope_rejected": round(float(np.mean(~scored_in.in_scope)), 3),
                      "out_of_scope_accepted": round(float(np.mean(scored_out.in_scope)), 3)}
    return {"bundle": bundle.version, "oos_score": bundle.manifest.intent.oos.score, "parts": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", action="append", required=True, metavar="NAME=DATA_DIR",
                        help="a name and the data directory whose active bundle to measure; repeatable")
    parser.add_argument("--part", choices=PARTS, action="append", help="default: all")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    results = {}
    for spec in args.bundle:
        name, _, data_dir = spec.partition("=")
        results[name] = measure(Path(data_dir), parts)
    info = describe_machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dialogues_oos.json").write_text(json.dumps({"machine": info, "bundles": results}, indent=2) + "\n")
    lines = ["# Out of scope or not: the intent model on the dialogue suite's messages", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; commit {info['commit']}.", "",
             "Every checked message of the suite classified once: in scope where the turn expects no fallback, "
             "out of scope where an out-of-scope dialogue's turn expects one. AUROC of the out-of-scope score; "
             "the share of in-scope messages the calibrated threshold rejects (the policy then offers no "
             "choices and answers only a clearly better FAQ match), and of out-of-scope ones it accepts.", "",
             "| bundle | score | part | in scope / out of scope | AUROC | in scope rejected | out of scope accepted |",
             "|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        for part, row in result["parts"].items():
            lines.append(f"| {name} ({result['bundle']}) | {result['oos_score']} | {part} | {row['in_scope']} / "
                         f"{row['out_of_scope']} | {row['auroc']:.3f} | {row['in_scope_rejected']:.0%} | "
                         f"{row['out_of_scope_accepted']:.0%} |")
    (args.out / "dialogues_oos.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
