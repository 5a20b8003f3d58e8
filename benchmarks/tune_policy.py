"""Tune the decision policy's settings on the dialogue suite's tuning part (never the held-out).

Loads the bundle once, then replays the tuning dialogues against the real application
in-process for each candidate setting, changing one setting at a time (coordinate ascent)
until no change helps: the FAQ answer threshold and margin, the clarification window, the
probability a handler intent needs, the global ``handler_sure``, the ``sure`` of the
conversational intents (greeting, goodbye, thanks, bot_identity, complaint, affirm, deny), the
extra an out-of-scope reading needs, the extra an FAQ answer needs to beat a handler intent,
the window of choices for a message of a word or two, and the lead in the customer's wording
that breaks a near tie between FAQ entries. Prints every step and writes the result to
``tune_policy.json``.

    python benchmarks/tune_policy.py --data-dir data --out benchmarks/results
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dialogue_suite import SUITE_DIR, Dialogue, load_suite, play, summary  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from bot.app import create_app, demo_handlers, load_model  # noqa: E402
from bot.core.brain import BundleModel  # noqa: E402
from bot.core.routing import DEFAULT_ROUTING, RoutingTable, load_routing  # noqa: E402
from bot.settings import Settings  # noqa: E402

CONVERSATIONAL = ("greeting", "goodbye", "thanks", "bot_identity", "complaint", "affirm", "deny")
GRID: dict[str, list[float]] = {
    "answer_threshold": [0.25, 0.3, 0.35, 0.4, 0.45],
    "margin": [0.0, 0.04, 0.08, 0.13],
    "clarify_window": [0.06, 0.12, 0.18],
    "handler_threshold": [0.3, 0.35, 0.4, 0.45, 0.5, 0.55],
    "handler_sure_threshold": [0.5, 0.6, 0.7, 0.8, 0.9],
    "conversational_sure": [0.3, 0.45, 0.6, 0.8],
    "oos_extra": [0.0, 0.1, 0.2, 0.3],
    "overrule_extra": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
    "short_window": [0.12, 0.2, 0.25, 0.3],
    "tie_lead": [0.0, 0.01, 0.03, 0.05, 0.1, 2.0],
}


def routing_with(base: RoutingTable, sure: float) -> RoutingTable:
    routes = {intent: replace(route, sure=sure) if intent in CONVERSATIONAL else route
              for intent, route in base.routes.items()}
    return RoutingTable(routes)


async def score(settings: Settings, model: object, routing: RoutingTable, dialogues: list[Dialogue]) -> tuple:
    app = create_app(settings, model_loader=lambda s: model, routing=routing)  # type: ignore[arg-type,return-value]
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url("")).rstrip("/")
            outcomes = [await play(http, url, dialogue) for dialogue in dialogues]
    finally:
        await server.close()
    overall = summary(outcomes)["overall"]
    # A confidently wrong answer costs as much as a failed dialogue more: answering near-ties
    # would otherwise buy a pass here and there with wrong answers elsewhere.
    return overall["passed"] - overall["confidently_wrong"], overall["turns_passed"], -overall["confidently_wrong"]


async def tune(data_dir: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="supportbot-tune-") as temp:
        copy = Path(temp) / "data"
        shutil.copytree(data_dir, copy, symlinks=True, ignore=shutil.ignore_patterns("checkpoints", "demo-build",
                                                                                     "training", "*.log"))
        base_settings = Settings(data_dir=copy, address_rate_per_minute=1_000_000, rate_limit_per_minute=1000)
        model = load_model(base_settings)
        assert isinstance(model, BundleModel)
        calibrated = {"answer_threshold": model.answer_threshold, "margin": model.margin}
        current = {"answer_threshold": round(model.answer_threshold, 3), "margin": round(model.margin, 3),
                   "clarify_window": base_settings.clarify_window, "handler_threshold": base_settings.handler_threshold,
                   "handler_sure_threshold": base_settings.handler_sure_threshold, "conversational_sure": 0.8,
                   "oos_extra": base_settings.oos_extra, "short_window": base_settings.short_window,
                   "overrule_extra": base_settings.overrule_extra, "tie_lead": base_settings.tie_lead}
        base_routing = load_routing(DEFAULT_ROUTING, demo_handlers())
        dialogues = load_suite(SUITE_DIR / "tuning.yaml")

        async def evaluate(values: dict[str, float]) -> tuple:
            settings = base_settings.with_changes(**{k: v for k, v in values.items() if k != "conversational_sure"})
            return await score(settings, model, routing_with(base_routing, values["conversational_sure"]), dialogues)

        best = await evaluate(current)
        steps = [{"values": dict(current), "score": best}]
        print("start", current, best, flush=True)
        improved = True
        while improved:
            improved = False
            for name, candidates in GRID.items():
                for value in candidates:
                    if value == current[name]:
                        continue
                    trial = {**current, name: value}
                    result = await evaluate(trial)
                    if result > best:
                        best, current, improved = result, trial, True
                        steps.append({"values": dict(current), "score": best})
                        print("better", current, best, flush=True)
        return {"bundle": (data_dir / "bundles" / "current").resolve().name, "calibrated": calibrated,
                "chosen": current, "score": {"dialogues_passed": best[0] - best[2], "turns_right": best[1],
                                             "confidently_wrong": -best[2], "dialogues": len(dialogues)},
                "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    result = asyncio.run(tune(args.data_dir))
    result["machine"] = describe_machine()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_policy.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("chosen", "score")}, indent=2))


if __name__ == "__main__":
    main()
