"""Learning-loop benchmark: a deployment on BANKING77 that learns from its own conversations.

1. train the first bundle on 25% of BANKING77's training set (stratified), export and serve it
   (a real ``supportbot serve`` process on loopback);
2. send the other 75% as user conversations through the HTTP API;
3. label the queued turns with their gold intents, as staff would, through the same review
   code the staff console uses (``knowledge.conversations.reviews.Reviews.label``);
4. ``supportbot retrain`` (the same function): data set, training, old-vs-new evaluation on the
   BANKING77 test set, gate, export, reload of the running server, while a client keeps chatting;
5. report test accuracy before and after, the gate's decision, each step's time, and whether
   every message got an answer during the swap.

    python benchmarks/learning_loop.py --data ../shared/data --work /tmp/loop --out benchmarks/results
    python benchmarks/learning_loop.py --scenario small-team --work /tmp/small-team

The small-team scenario (``benchmarks/small_team.py``) writes its rows under ``small_team`` in the
same JSON file and its own section of the Markdown file.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from knowledge.conversations.reviews import Reviews  # noqa: E402
from knowledge.database import Database  # noqa: E402
from knowledge.faq.store import FaqStore  # noqa: E402
from training.args import RetrieverTrainingArgs  # noqa: E402
from training.retrain import RetrainOptions, retrain  # noqa: E402
from training.workspace import Workspace  # noqa: E402

TOKEN = "learning-loop-admin-token"
P = ParamSpec("P")
T = TypeVar("T")


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle)]


def write_rows(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def split(rows: list[tuple[str, str]], share: float, seed: int) -> tuple[list, list]:
    """Stratified: ``share`` of every label's rows for the first bundle, the rest for users."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    first, rest = [], []
    rng = random.Random(seed)
    for label_rows in by_label.values():
        rng.shuffle(label_rows)
        cut = max(2, round(len(label_rows) * share))
        first += label_rows[:cut]
        rest += label_rows[cut:]
    rng.shuffle(rest)
    return first, rest


def supportbot(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, check=True)


class Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        started = time.monotonic()
        result = function(*args, **kwargs)
        self.seconds[name] = round(time.monotonic() - started, 1)
        print(f"[{name}] {self.seconds[name]} s", flush=True)
        return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def converse(url: str, rows: list[tuple[str, str]], concurrency: int) -> tuple[dict[int, str], int]:
    """Send each row as one user's message; return turn id -> gold label, and failures."""
    gold: dict[int, str] = {}
    failures = 0
    queue = list(enumerate(rows))

    async def user(http: aiohttp.ClientSession) -> None:
        nonlocal failures
        while queue:
            number, (text, label) = queue.pop()
            body = {"session_id": f"banking-user-{number:05d}", "text": text}
            try:
                async with http.post(f"{url}/api/chat", json=body) as response:
                    data = await response.json()
                    if response.status == 200:
                        gold[int(data["turn_id"])] = label
                    else:
                        failures += 1
            except aiohttp.ClientError:
                failures += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        await asyncio.gather(*(user(http) for _ in range(concurrency)))
    return gold, failures


def keep_chatting(url: str, texts: list[str], stop: threading.Event, counts: dict[str, int]) -> None:
    """Users who keep writing while the bot retrains and swaps bundles: each message a new
    conversation, so that three unanswered ones in a row never hand the rest to a person (whose
    relayed replies name no bundle, and would measure no swap)."""
    import urllib.error
    import urllib.request

    i = 0
    while not stop.is_set():
        body = json.dumps({"session_id": f"during-swap-user-{i}", "text": texts[i % len(texts)]}).encode()
        request = urllib.request.Request(f"{url}/api/chat", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                version = json.loads(response.read())["bundle_version"]
                counts["answered"] += 1
                counts.setdefault(f"version {version}", 0)
                counts[f"version {version}"] += 1
        except (urllib.error.URLError, OSError):
            counts["failed"] += 1
        i += 1
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/supportbot-learning-loop"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--resume", action="store_true", help="reuse the first bundle's checkpoints in --work")
    parser.add_argument("--scenario", choices=("banking77", "small-team"), default="banking77",
                        help="BANKING77 at scale, or a small team's session on the demo shop (benchmarks/small_team.py)")
    args = parser.parse_args()
    if args.scenario == "small-team":
        from benchmarks.small_team import run

        run(args)
        return

    data_dir, work = args.work / "data", args.work
    if args.resume:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        shutil.rmtree(args.work, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_ADMIN_TOKEN": TOKEN,
           "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "1000000", "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000"}
    env.pop("SUPPORTBOT_DB", None)
    clock = Clock()
    train = read_rows(args.data / "banking77" / "train.csv")
    first, conversations = split(train, args.share, seed=13)
    write_rows(work / "first.csv", first)
    shutil.copyfile(args.data / "banking77" / "test.csv", work / "test.csv")
    print(f"first bundle: {len(first)} rows; conversations: {len(conversations)}", flush=True)

    if not (work / "ck" / "intents" / "supportbot_intents.json").exists():
        clock.run("train_first_intents", supportbot, "train", "intents", "--train", str(work / "first.csv"),
                  "--out", str(work / "ck" / "intents"), env=env)
    # The bundle needs a retriever too: the demo shop's FAQ (the users here only ask banking intents).
    supportbot("kb", "import", str(ROOT / "knowledge" / "demo" / "faq.yaml"), env=env)
    supportbot("kb", "export", "--output", str(work / "faq.csv"), env=env)
    if not (work / "ck" / "retriever" / "supportbot_retriever.json").exists():
        clock.run("train_first_retriever", supportbot, "train", "retriever", "--faq", str(work / "faq.csv"),
                  "--queries", str(ROOT / "knowledge" / "demo" / "queries.csv"), "--epochs", "1",
                  "--out", str(work / "ck" / "retriever"), env=env)
    # The parity gate measures on the test set (3080 rows, never trained on), as retraining does.
    clock.run("export_first", supportbot, "export", "--intents", str(work / "ck" / "intents"), "--retriever",
              str(work / "ck" / "retriever"), "--out", str(data_dir / "bundles"), "--version", "v1",
              "--heldout-intents", str(work / "test.csv"), "--fp32-fallback", env=env)
    url = f"http://127.0.0.1:{free_port()}"
    # The banking users ask nothing the shop FAQ answers: remove it so every turn is judged by intent.
    database = Database.open(f"sqlite:///{data_dir / 'supportbot.db'}")
    store = FaqStore(database)
    for entry in store.list():
        store.remove(entry.faq_id, "benchmark")
    Workspace.init(data_dir / "training", "v1", work / "first.csv", work / "test.csv", None, None, work / "ck" / "intents",
                   work / "ck" / "retriever", store.kb_revision())
    log = open(work / "server.log", "wb")  # noqa: SIM115 (the server writes it until stopped below)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", url.rsplit(":", 1)[1]], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(url, server)
        gold, failures = clock.run("conversations", asyncio.run, converse(url, conversations, args.concurrency))
        print(f"conversations: {len(gold)} answered, {failures} failed", flush=True)
        reviews = Reviews(database)
        queued = {i for turn in reviews.pending(limit=10_000_000) for i in turn.turn_ids}
        items = [(turn_id, "intent", label) for turn_id, label in gold.items() if turn_id in queued]
        clock.run("labelling", lambda: [reviews.label([i], k, v, "staff") for i, k, v in items])
        stop, counts = threading.Event(), {"answered": 0, "failed": 0}
        chatter = threading.Thread(target=keep_chatting, args=(url, [t for t, _ in conversations[:200]], stop, counts))
        chatter.start()
        options = RetrainOptions(workspace=data_dir / "training", bundles_dir=data_dir / "bundles",
                                 database_url=f"sqlite:///{data_dir / 'supportbot.db'}", notify_url=url,
                                 admin_token=TOKEN, version="v2",
                                 retriever_args=RetrieverTrainingArgs(epochs=1))
        try:
            report = clock.run("retrain_total", retrain, options)
        finally:
            time.sleep(2)  # keep chatting a moment on the new bundle
            stop.set()
            chatter.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    write(args.out, report, clock.seconds, len(first), len(gold), failures, len(items), counts)


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    import urllib.request

    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit("the server exited; see server.log")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit("the server did not start")


def write(out: Path, report, seconds: dict[str, float], first: int, sent: int, failures: int,  # type: ignore[no-untyped-def]  # report.gate is JSON-like data, indexed freely here
          labelled: int, during: dict[str, int]) -> None:
    gate = report.gate
    intents = next(group for group in gate["groups"] if group["name"] == "old data: intents")
    before, after = intents["old_right"] / intents["items"], intents["new_right"] / intents["items"]
    steps = {**seconds, **{f"retrain_{name}": value for name, value in report.seconds.items()}}
    data = {"machine": describe_machine(), "accuracy_before": round(before, 4), "accuracy_after": round(after, 4),
            "gate": {"publish": gate["publish"], "rule": gate["rule"]}, "parity_gate": report.export.get("verdict"),
            "published": report.new_bundle,
            "first_bundle_rows": first, "conversations_answered": sent, "conversation_failures": failures,
            "turns_labelled": labelled, "dataset": report.dataset, "during_swap": during, "step_seconds": steps}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "learning_loop.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    if "small_team" in previous:  # the other scenario's rows stay
        data["small_team"] = previous["small_team"]
    path.write_text(json.dumps(data, indent=2) + "\n")
    machine = data["machine"]
    lines = ["# Learning loop on BANKING77", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores; commit {machine['commit']}.", "",
             f"- first bundle trained on {first} rows (25% of the training set, stratified)",
             f"- {sent} conversations answered through the HTTP API ({failures} failed); {labelled} queued turns "
             "labelled with their gold intent through the review code the console uses",
             f"- test accuracy (BANKING77 test set, 3080 rows): **{before:.2%} before, {after:.2%} after**",
             f"- gate: {'publish' if gate['publish'] else 'reject'}: {gate['rule']}; now serving {report.new_bundle}",
             f"- parity gate of the new bundle: {report.export.get('verdict', 'not reached')}",
             f"- while retraining and swapping, a user kept chatting: {during}", "",
             "| step | seconds |", "|---|---|", *[f"| {name} | {value} |" for name, value in steps.items()], ""]
    md = out / "learning_loop.md"
    small_team = md.read_text().partition("\n## Small team on the demo shop")[1:] if md.exists() else ("", "")
    md.write_text("\n".join(lines) + "".join(small_team))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
