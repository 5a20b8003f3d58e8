"""One Telegram chat floods; how long do 20 ordinary chats wait for their answers?

The real channel (python-telegram-bot, the per-chat processor, the flood limiter) in a bot app
served on loopback, against the fake Bot API of the tests, which holds every chat to Telegram's
1 message a second (after a burst of 3) and answers 429 beyond it. A flooding chat sends
``--flood`` messages at once (queued for getUpdates in polling mode, POSTed one by one in
webhook mode); then 20 ordinary chats ask ``--questions`` questions each, one a second. Reported:
the ordinary chats' time from question to answer (p50, p99), how often the flooding chat was
told it is too fast, how many of its updates were dropped, and how long the stop took. The
model is the tests' keyword model: what is measured is the channel's queueing, not inference.

    python benchmarks/telegram_flood.py --flood 300 3000 --out benchmarks/results
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.machine import describe_machine  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.channels.telegram.channel import LIMITS  # noqa: E402
from bot.channels.telegram.customers import TOO_FAST  # noqa: E402
from bot.channels.telegram.ratelimit import Limits  # noqa: E402
from bot.channels.telegram.webhook import SECRET_HEADER, WEBHOOK_PATH  # noqa: E402
from tests.bot.service import demo_settings  # noqa: E402
from tests.fakes import KeywordModel  # noqa: E402
from tests.telegram.fake_api import TOKEN, FakeTelegram  # noqa: E402

FLOODER = 9000
ORDINARY = [10_000 + i for i in range(20)]
SECRET = "benchmark-webhook-secret-0123456789"
QUESTION = "How long does delivery take?"
TARGET_P99_S = 2.0


@dataclass
class Run:
    mode: str
    flood: int
    samples: int
    p50_s: float
    p99_s: float
    max_s: float
    flood_sent_s: float
    notices_to_flooder: int
    flooder_answered: int
    dropped_backlog: int
    stop_s: float
    meets_target: bool


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_once(mode: str, flood: int, questions: int) -> Run:
    fake = FakeTelegram(per_chat_rate=1.0, burst=3)
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        changes: dict[str, object] = {"telegram_token": TOKEN, "telegram_api_url": fake.url,
                                      "rate_limit_per_minute": 100_000}
        if mode == "webhook":
            changes["telegram_webhook_secret"] = SECRET
        app = create_app(demo_settings(Path(tmp), **changes), model_loader=lambda s: KeywordModel())
        app[LIMITS] = Limits()  # Telegram's real sending limits
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        try:
            started = time.monotonic()
            for i in range(flood):
                update = fake.text_update(FLOODER, f"where is my order? #{i}")
                if mode == "webhook":
                    await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
                else:
                    await fake.push(update)
            flood_sent = time.monotonic() - started
            waits = await asyncio.gather(*(ask(client, fake, mode, chat, n, questions)
                                           for n, chat in enumerate(ORDINARY)))
            samples = [w for chat in waits for w in chat]
            metrics = await (await client.get("/metrics")).text()
            dropped = re.search(r'^supportbot_telegram_dropped_updates_total\{reason="backlog"\} (\S+)$',
                                metrics, re.MULTILINE)
        finally:
            stopping = time.monotonic()
            await client.close()
            stop_s = time.monotonic() - stopping
            await fake.close()
    answered = fake.sent(FLOODER)
    p99 = percentile(samples, 0.99)
    return Run(mode, flood, len(samples), round(statistics.median(samples), 3), round(p99, 3),
               round(max(samples), 3), round(flood_sent, 2),
               sum(c.params["text"] == TOO_FAST for c in answered),
               sum(c.params["text"] != TOO_FAST for c in answered),
               int(float(dropped[1])) if dropped else 0, round(stop_s, 2), p99 <= TARGET_P99_S)


async def ask(client: TestClient, fake: FakeTelegram, mode: str, chat: int, n: int, questions: int) -> list[float]:
    """``questions`` questions from ``chat``, one a second; the seconds each waited for its answer."""
    await asyncio.sleep(0.05 * n)  # the chats' questions spread over a second
    waits = []
    for i in range(questions):
        update = fake.text_update(chat, QUESTION)
        asked = time.monotonic()
        if mode == "webhook":
            await client.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: SECRET})
        else:
            await fake.push(update)
        await fake.wait_sent(chat, count=i + 1, timeout=60)
        waits.append(time.monotonic() - asked)
        await asyncio.sleep(max(0.0, 1.0 - waits[-1]))
    return waits


def write(runs: list[Run], out: Path, questions: int) -> None:
    info = describe_machine()
    out.mkdir(parents=True, exist_ok=True)
    (out / "telegram_flood.json").write_text(json.dumps(
        {"machine": info, "target_p99_s": TARGET_P99_S, "questions_per_chat": questions,
         "ordinary_chats": len(ORDINARY), "runs": [asdict(r) for r in runs]}, indent=2) + "\n")
    lines = [
        "# Telegram channel under a flooding chat",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared with other work while this ran), "
        f"Python {info['python']}, commit {info['commit']}. Written by `benchmarks/telegram_flood.py`.",
        "",
        "The real channel in a bot app on loopback against the fake Bot API of the tests, which holds "
        "each chat to 1 message/s after a burst of 3 (429 beyond, as Telegram does); the bot sends "
        "within Telegram's real limits. One chat sends FLOOD messages at once, then "
        f"{len(ORDINARY)} ordinary chats ask {questions} questions each, one a second. Times are from "
        "question to answer for the ordinary chats (medians and 99th percentiles of all their "
        f"questions). Target: p99 <= {TARGET_P99_S:g} s in every run; the flooding chat told once. "
        "The model is a keyword stand-in: this measures queueing in the channel, not inference.",
        "",
        "| mode | flood | ordinary p50 (s) | ordinary p99 (s) | max (s) | notices to flooder | "
        "flooder answered | dropped (backlog) | stop (s) | target met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(f"| {r.mode} | {r.flood} | {r.p50_s:.3f} | {r.p99_s:.3f} | {r.max_s:.3f} | {r.notices_to_flooder} | "
          f"{r.flooder_answered} | {r.dropped_backlog} | {r.stop_s:.2f} | "
          f"{'yes' if r.meets_target and r.notices_to_flooder == 1 else 'NO'} |" for r in runs),
        "",
    ]
    (out / "telegram_flood.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--questions", type=int, default=3, help="questions per ordinary chat")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    runs = []
    for flood in args.flood:
        for mode in ("polling", "webhook"):
            run = asyncio.run(asyncio.wait_for(run_once(mode, flood, args.questions), timeout=300))
            print(run, flush=True)
            runs.append(run)
    write(runs, args.out, args.questions)
    print((args.out / "telegram_flood.md").read_text())


if __name__ == "__main__":
    main()
