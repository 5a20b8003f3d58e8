"""Dialogue benchmark: the dialogue suite against a real ``supportbot serve`` over HTTP.

Starts the bot on a copy of a data directory (an active bundle and the FAQ database, e.g. the
demo's after ``make demo-bundle``), plays every dialogue of every part as a new web-chat
customer, and writes ``dialogues.{md,json}``: pass rate per category and overall for each part,
confidently wrong answers, and every failure with what the bot did.

    python benchmarks/dialogues.py --data-dir data --out benchmarks/results

Targets (held-out part): >= 95% of dialogues overall, no category below 85%, 0 confidently
wrong answers to small talk.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dialogue_suite import BLIND_PARTS, PARTS, SUITE_DIR, Dialogue, Outcome, load_suite, play, summary  # noqa: E402
from benchmarks.load import free_port, wait_ready  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402

TARGETS = {"overall": 0.95, "category": 0.85, "small_talk_confidently_wrong": 0}


async def run(data_dir: Path, parts: list[str], concurrency: int = 4) -> dict[str, list[Outcome]]:
    with tempfile.TemporaryDirectory(prefix="supportbot-dialogues-") as temp:
        copy = Path(temp) / "data"
        shutil.copytree(data_dir, copy, symlinks=True, ignore=shutil.ignore_patterns("checkpoints", "demo-build",
                                                                                     "*.log"))
        port = free_port()
        env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(copy), "SUPPORTBOT_PORT": str(port),
               "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000"}
        env.pop("SUPPORTBOT_DB", None)
        with open(Path(temp) / "server.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            try:
                await wait_ready(url, server)
                results = {}
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                    gate = asyncio.Semaphore(concurrency)

                    async def one(dialogue: Dialogue) -> Outcome:
                        async with gate:
                            return await play(http, url, dialogue)

                    for part in parts:
                        dialogues = load_suite(SUITE_DIR / f"{part}.yaml")
                        results[part] = list(await asyncio.gather(*(one(d) for d in dialogues)))
                return results
            finally:
                server.terminate()
                server.wait(timeout=30)


def verdict(part: dict[str, object]) -> dict[str, bool]:
    overall = part["overall"]
    categories = part["categories"]
    small_talk = categories.get("small_talk", {})
    return {
        "overall": (overall["pass_rate"] or 0) >= TARGETS["overall"],
        "every category": all((c["pass_rate"] or 0) >= TARGETS["category"] for c in categories.values()),
        "small talk never answered from the FAQ": small_talk.get("confidently_wrong", 0) == 0,
    }


def write(results: dict[str, list[Outcome]], out: Path, bundle: str) -> dict[str, object]:
    info = describe_machine()
    parts = {name: summary(outcomes) for name, outcomes in results.items()}
    for name in BLIND_PARTS:  # counted, never listed: a part read for failures no longer measures unseen ones
        if name in parts:
            parts[name]["failures"] = f"{len(parts[name]['failures'])}, not listed: the part is kept unread"
    data = {"machine": info, "bundle": bundle, "targets": TARGETS, "parts": parts,
            "verdict": {name: verdict(part) for name, part in parts.items()}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "dialogues.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    lines = ["# Dialogue suite", "",
             f"Machine: {info['cpu']}, {info['cores']} cores; commit {info['commit']}; bundle {bundle}.", "",
             "Every dialogue of `benchmarks/dialogues/` played against a real `supportbot serve` over HTTP, each "
             "as a new web-chat customer. A dialogue passes when every checked turn does. The tuning part may be "
             "used to tune thresholds and policy; the held-out part never is; the fresh part was written once the "
             "held-out part had been read for failures, and is never read so; the fresh2 to fresh8 parts "
             "were written by someone who had seen no result, before any run on them (fresh2's and fresh3's "
             "failures have been read since; the blind parts' (fresh4 to fresh8) are not listed, here or in the JSON). Confidently wrong: an "
             "FAQ answer where none, or another entry, was expected.", ""]
    for name, part in parts.items():
        lines += [f"## {name} part", "",
                  "| category | dialogues | passed | pass rate | turns checked | turns right | confidently wrong |",
                  "|---|---|---|---|---|---|---|"]
        rows = [*part["categories"].items(), ("**overall**", part["overall"])]
        for category, c in rows:
            lines.append(f"| {category} | {c['dialogues']} | {c['passed']} | {c['pass_rate']:.1%} | {c['turns']} | "
                         f"{c['turns_passed']} | {c['confidently_wrong']} |")
        checks = data["verdict"][name]
        lines += ["", "Targets (held-out part: >= 95% overall, no category below 85%, 0 confidently wrong small "
                      "talk): " + ", ".join(f"{k}: {'met' if v else 'missed'}" for k, v in checks.items()), "",
                  f"Failures ({part['failures'] if name in BLIND_PARTS else len(part['failures'])}):", ""]
        for failure in part["failures"] if name not in BLIND_PARTS else ():
            lines.append(f"- `{failure['id']}` ({failure['category']})")
            for turn in failure["turns"]:
                mark = "✗" if turn["problems"] else "·"
                what = turn["faq_id"] or turn["handler"] or ""
                lines.append(f"  - {mark} “{turn['sent'][:90]}” → {turn['action']} {what}"
                             + (f": {'; '.join(turn['problems'])}" if turn["problems"] else ""))
        lines.append("")
    (out / "dialogues.md").write_text("\n".join(lines))
    print("\n".join(lines[:60]))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--part", choices=PARTS, action="append", help="default: all")
    args = parser.parse_args()
    bundle = (args.data_dir / "bundles" / "current").resolve().name
    results = asyncio.run(run(args.data_dir, args.part or list(PARTS)))
    write(results, args.out, bundle)


if __name__ == "__main__":
    main()
