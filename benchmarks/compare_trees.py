"""Did a change move the load figures? ``benchmarks/load.py`` from two checkouts, interleaved.

Runs the load benchmark of a baseline checkout (e.g. a ``git worktree`` of the last release)
and of this one alternately on the same machine, the same data directory and the same
arguments, so a busy neighbour on the CPU slows both alike, and writes the runs side by side
with their medians to ``benchmarks/results/load_compare.{md,json}`` (``--name`` another stem).
With ``--db`` among load.py's arguments it compares the replica set-ups (``load_replicas.json``).

    git worktree add /tmp/baseline 727019f
    python benchmarks/compare_trees.py --baseline /tmp/baseline --runs 3 -- \\
        --data-dir data --sessions 32 --seconds 20 --rates 340 --only "batching on"
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402

FIGURES = ("throughput_msgs_per_s", "p50_ms", "p99_ms", "errors", "lost_turns")


def run_once(tree: Path, load_args: list[str], out: Path) -> dict[str, dict[str, float]]:
    """One ``load.py`` run of ``tree``; its configurations' figures."""
    subprocess.run([sys.executable, str(tree / "benchmarks" / "load.py"), "--out", str(out), *load_args],
                   cwd=tree, check=True)
    written = out / "load.json" if (out / "load.json").exists() else out / "load_replicas.json"
    configurations = json.loads(written.read_text())["configurations"]
    return {name: {k: c[k] for k in FIGURES} for name, c in configurations.items()}


def commit_of(tree: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True,
                          check=True).stdout.strip()


def render(result: dict) -> str:  # the JSON written below
    trees = result["trees"]
    lines = ["# Load: two checkouts side by side", "",
             f"Made by `benchmarks/compare_trees.py` at {result['ran_at']} on {result['machine']['cpu']} "
             f"({result['machine']['cores']} cores, shared with other work while it ran); "
             f"load.py arguments: `{' '.join(result['load_args'])}`; runs interleaved baseline, change, "
             f"baseline, ...; medians over {result['runs']} runs each.", "",
             "| configuration | checkout | commit | msgs/s | p50 ms | p99 ms | errors | lost turns | p50 / p99 of each run |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for name in result["configurations"]:
        for label in ("baseline", "change"):
            runs = [r[name] for r in trees[label]["runs"]]
            median = {k: statistics.median(r[k] for r in runs) for k in FIGURES}
            each = ", ".join(f"{r['p50_ms']} / {r['p99_ms']}" for r in runs)
            lines.append(f"| {name} | {label} | {trees[label]['commit']} | {median['throughput_msgs_per_s']:.1f} | "
                         f"{median['p50_ms']:.3f} | {median['p99_ms']:.3f} | {sum(r['errors'] for r in runs)} | "
                         f"{sum(r['lost_turns'] for r in runs)} | {each} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="load_compare", help="the result files' stem")
    parser.add_argument("load_args", nargs=argparse.REMAINDER, help="after --: arguments for load.py")
    args = parser.parse_args(argv)
    load_args = [a for a in args.load_args if a != "--"]
    trees = {"baseline": args.baseline.resolve(), "change": ROOT}
    ran_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runs: dict[str, list[dict[str, dict[str, float]]]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory() as temp:
        for run in range(args.runs):
            for label, tree in trees.items():
                runs[label].append(run_once(tree, load_args, Path(temp) / f"{label}-{run}"))
                print(f"{label} run {run + 1}: {json.dumps(runs[label][-1])}", flush=True)
    result = {
        "machine": describe_machine(), "ran_at": ran_at, "load_args": load_args, "runs": args.runs,
        "configurations": list(runs["change"][0]),
        "trees": {label: {"path": str(tree), "commit": commit_of(tree), "runs": runs[label]}
                  for label, tree in trees.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
