"""Load benchmark: a real ``supportbot serve`` process on loopback, N concurrent chat sessions.

For each configuration (micro-batching on, then off) it starts a fresh server on a copy of
the data directory, lets N sessions send real questions as fast as answers come back, and
during the measured run reloads the bundle once and makes 10 FAQ edits through the admin
API. It reports throughput, p50/p99 end-to-end latency, errors, and lost turns (acknowledged
messages missing from the database afterwards).

    python benchmarks/load.py --data-dir data --sessions 32 --seconds 20 --repeat 3 --out benchmarks/results
    python benchmarks/load.py --data-dir data --db postgresql+psycopg://postgres@127.0.0.1/postgres --replicas 2

The data directory must hold an active bundle (``make demo-bundle``) and the FAQ database.
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
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_machine  # noqa: E402
from knowledge.database import Database  # noqa: E402
from knowledge.migrations.history import upgrade  # noqa: E402

TOKEN = "load-benchmark-admin-token"
# A simulated customer's conversation lasts this many messages, then the customer starts a new
# one, as chats do. The question list asks for a person now and then; a conversation that went on
# for ever would stay with the person from then on, and every later message would be relayed to
# staff unanswered: the runs measured relays, not answers (before this, nine turns in ten).
TURNS_PER_CONVERSATION = 6
CONFIGURATIONS = {"batching on": [], "batching off": ["--no-batching"]}


@dataclass
class Result:
    configuration: str
    sessions: int
    seconds: float
    messages: int
    throughput_msgs_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    lost_turns: int
    reloads: int
    faq_edits: int
    runs: int = 1
    p50_ms_runs: tuple[float, ...] = ()  # each run's p50 and p99 when repeated: medians are quoted
    p99_ms_runs: tuple[float, ...] = ()
    actions: dict[str, int] = field(default_factory=dict)  # the measured turns by what the bot did


def session_name(prefix: str, number: int, sent: int) -> str:
    """The conversation that simulated customer ``number``'s ``sent``-th message belongs to."""
    return f"{prefix}-{number:04d}-{sent // TURNS_PER_CONVERSATION}"


def actions_of(db: sqlite3.Connection, where: str) -> dict[str, int]:
    """How many of the turns ``where`` (a fixed condition, no outside text) selects the bot answered,
    handled, relayed, ...: what was measured."""
    rows = db.execute(f"SELECT action, count(*) FROM turns WHERE {where} GROUP BY action ORDER BY 2 DESC")
    return {action: count for action, count in rows}


def combine(runs: list[Result]) -> Result:
    """One row for repeated runs of a configuration: the median of each rate and latency, the sum of
    messages, errors, lost turns, reloads and edits (one error in any run shows)."""
    def median(name: str) -> float:
        return round(statistics.median(getattr(r, name) for r in runs), 3)

    first = runs[0]
    return Result(first.configuration, first.sessions, sum(r.seconds for r in runs), sum(r.messages for r in runs),
                  median("throughput_msgs_per_s"), median("p50_ms"), median("p90_ms"), median("p99_ms"),
                  sum(r.errors for r in runs), sum(r.lost_turns for r in runs), sum(r.reloads for r in runs),
                  sum(r.faq_edits for r in runs), len(runs), tuple(r.p50_ms for r in runs),
                  tuple(r.p99_ms for r in runs),
                  dict(sum((Counter(r.actions) for r in runs), Counter()).most_common()))


def questions() -> list[str]:
    texts: list[str] = []
    for name, column in (("queries.csv", "query"), ("intents.csv", "text")):
        with open(ROOT / "knowledge" / "demo" / name, encoding="utf-8", newline="") as handle:
            texts += [row[column] for row in csv.DictReader(handle)]
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(source: Path, target: Path) -> str:
    """Copy the data directory (its database brought to this release's schema, as `make run`
    does) and add a second bundle version to reload into; return it."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns("checkpoints", "*.log"))
    with Database.open_as_is(f"sqlite:///{target / 'supportbot.db'}") as database:
        upgrade(database.engine)
    bundles = target / "bundles"
    current = (bundles / "current").resolve().name
    reload_version = f"{current}-reload"
    shutil.copytree(bundles / current, bundles / reload_version)
    manifest = json.loads((bundles / reload_version / "manifest.json").read_text())
    manifest["version"] = reload_version
    (bundles / reload_version / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return reload_version


async def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start within a minute")


async def user(http: aiohttp.ClientSession, url: str, number: int, texts: list[str], stop: float,
               latencies: list[float], acknowledged: list[int], errors: list[str], interval: float = 0.0,
               headers: Callable[[int], dict[str, str]] | None = None, prefix: str = "load-session") -> None:
    """One simulated customer: a message every ``interval`` seconds (0: as soon as the answer came),
    in conversations named from ``prefix`` (the warm-up's own, so that none carries into the measured
    run); ``headers(i)`` adds headers to the i-th message (``benchmarks/abuse.py``: a client address)."""
    i = start = number * 7
    next_send = time.perf_counter() + interval * random.random()  # spread the sessions out
    while time.perf_counter() < stop:
        if interval:
            await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
            next_send += interval
        body = {"session_id": session_name(prefix, number, i - start), "text": texts[i % len(texts)]}
        started = time.perf_counter()
        try:
            async with http.post(f"{url}/api/chat", json=body, headers=headers(i) if headers else None) as response:
                data = await response.json()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}")
                    continue
            latencies.append((time.perf_counter() - started) * 1000)
            acknowledged.append(int(data["turn_id"]))
        except (TimeoutError, aiohttp.ClientError) as error:
            errors.append(type(error).__name__)
        i += 1


async def staff(http: aiohttp.ClientSession, url: str, reload_version: str, seconds: float,
                errors: list[str]) -> tuple[int, int]:
    """10 FAQ edits spread over the run and one bundle reload in the middle."""
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Supportbot-Author": "load-benchmark"}
    async with http.get(f"{url}/admin/faq", headers=headers) as response:
        entry = (await response.json())[0]
    edits = reloads = 0
    for step in range(10):
        await asyncio.sleep(seconds / 12)
        body = {"base_revision": entry["revision"], "answer": entry["answer"] + f" (checked {step})"}
        async with http.put(f"{url}/admin/faq/{entry['faq_id']}", json=body, headers=headers) as response:
            if response.status != 200:
                errors.append(f"edit HTTP {response.status}")
                continue
            entry = await response.json()
            edits += 1
        if step == 4:
            async with http.post(f"{url}/admin/reload", json={"version": reload_version}, headers=headers) as response:
                if response.status == 200:
                    reloads += 1
                else:
                    errors.append(f"reload HTTP {response.status}: {await response.text()}")
    return edits, reloads


async def measure(name: str, flags: list[str], source: Path, sessions: int, seconds: float,
                  rate: float = 0.0, client: str = "wrk") -> Result:
    with tempfile.TemporaryDirectory(prefix="supportbot-load-") as temp:
        data_dir = Path(temp) / "data"
        reload_version = prepare(source, data_dir)
        port = free_port()
        env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_PORT": str(port),
               "SUPPORTBOT_ADMIN_TOKEN": TOKEN, "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "1000000",
               # every simulated customer comes from 127.0.0.1
               "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000"}
        env.pop("SUPPORTBOT_DB", None)
        log = open(Path(temp) / "server.log", "wb")  # noqa: SIM115 (the server writes it until stopped below)
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve", *flags], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        interval = sessions / rate if rate else 0.0
        latencies: list[float] = []
        acknowledged: list[int] = []
        errors: list[str] = []
        try:
            await wait_ready(url, server)
            texts = questions()
            connector = aiohttp.TCPConnector(limit=sessions + 4)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                await asyncio.gather(*(user(http, url, n, texts, time.perf_counter() + 2, [], [], [], prefix="warm-up")
                                       for n in range(sessions)))
                started = time.perf_counter()
                team = asyncio.create_task(staff(http, url, reload_version, seconds, errors))
                if client == "wrk":
                    summary = await run_wrk(url, texts, sessions, seconds, interval * 1000, "measure", Path(temp))
                else:
                    stop = started + seconds
                    await asyncio.gather(*(user(http, url, n, texts, stop, latencies, acknowledged, errors, interval)
                                           for n in range(sessions)))
                edits, reloads = await team
                elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
        label = name if not rate else f"{name}, paced: {interval * 1000:.0f} ms between answer and next message"
        with sqlite3.connect(data_dir / "supportbot.db") as db:
            if client == "wrk":
                stored = db.execute("SELECT count(*) FROM turns WHERE session_id LIKE 'web:wrk-measure-%'").fetchone()[0]
                errors += ["HTTP error"] * summary["bad"] + ["socket error"] * summary["socket_errors"]
                if errors:
                    print(f"{name}: errors: {sorted(set(errors))[:5]}", file=sys.stderr)
                duration = summary["duration_us"] / 1e6
                return Result(label, sessions, round(duration, 1), summary["ok"], round(summary["ok"] / duration, 1),
                              summary["p50_us"] / 1000, summary["p90_us"] / 1000, summary["p99_us"] / 1000,
                              len(errors), max(0, summary["ok"] - stored), reloads, edits,
                              actions=actions_of(db, "session_id LIKE 'web:wrk-measure-%'"))
            stored_ids = {row[0] for row in db.execute("SELECT id FROM turns")}
            measured = actions_of(db, f"id IN ({', '.join(str(int(t)) for t in acknowledged) or 'NULL'})")
        lost = sum(1 for turn_id in acknowledged if turn_id not in stored_ids)
        if errors:
            print(f"{name}: errors: {sorted(set(errors))[:5]}", file=sys.stderr)
        ordered = sorted(latencies)
        return Result(label, sessions, round(elapsed, 1), len(latencies), round(len(latencies) / elapsed, 1),
                      round(statistics.median(ordered), 2), round(_quantile(ordered, 0.90), 2),
                      round(_quantile(ordered, 0.99), 2), len(errors), lost, reloads, edits, actions=measured)


WRK_SCRIPT = """
local texts = {%(texts)s}
local threads = {}
local n = 0
local delay_ms = %(delay)s
local sessions = %(sessions)s

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  bad = 0
end

function request()
  n = n + 1
  -- each of the thread's sessions gets every sessions-th message; after %(turns)s it starts anew
  local session = "wrk-%(phase)s-" .. number .. "-" .. (n %% sessions) .. "-" .. math.floor(n / (sessions * %(turns)s))
  local body = '{"session_id":"' .. session .. '","text":' .. texts[(n %% #texts) + 1] .. '}'
  return wrk.format("POST", "/api/chat", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local ok_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    bad_total = bad_total + thread:get("bad")
  end
  local e = summary.errors
  io.write(string.format('WRK-RESULT {"ok": %%d, "bad": %%d, "socket_errors": %%d, "duration_us": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d}\\n', ok_total, bad_total,
    e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50),
    latency:percentile(90), latency:percentile(99)))
end
"""


async def run_wrk(url: str, texts: list[str], sessions: int, seconds: float, delay_ms: float, phase: str,
                  folder: Path) -> dict[str, int]:
    """wrk (C, from Debian's package) as the load generator: it leaves the cores to the server."""
    lua = ", ".join("[==[" + json.dumps(text) + "]==]" for text in texts)
    script = folder / f"load-{phase}.lua"
    script.write_text(WRK_SCRIPT % {"texts": lua, "delay": int(delay_ms), "sessions": max(1, sessions // 2),
                                    "phase": phase, "turns": TURNS_PER_CONVERSATION})
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{sessions}", f"-d{int(seconds)}s", "--timeout", "30s", "-s", str(script), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await process.communicate())[0].decode()
    line = next((x for x in output.splitlines() if x.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed:\n{output}")
    return json.loads(line.removeprefix("WRK-RESULT "))


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write(results: list[Result], out: Path, bundle: str) -> None:
    info = describe_machine()
    out.mkdir(parents=True, exist_ok=True)
    data = {"machine": info, "bundle": bundle,
            "targets": {"throughput_msgs_per_s": ">= 300", "p50_ms": "<= 10", "p99_ms": "<= 50",
                        "errors": 0, "lost_turns": 0},
            "configurations": {r.configuration: asdict(r) for r in results}}
    (out / "load.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Load benchmark", "",
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['isa']}), Python {info['python']}; commit {info['commit']}; "
        f"bundle {bundle}.", "",
        f"A real `supportbot serve` process on loopback; {results[0].sessions} concurrent chat sessions "
        "sending real questions; one bundle reload and 10 FAQ edits during each run. Rows without an offered "
        "rate: each session sends its next message as soon as the answer comes (closed loop: the server's "
        "saturation throughput, where latency is the queue: sessions / throughput). Paced rows: each session "
        "waits sessions/rate seconds after an answer before its next message (aimed at --rates messages/s; "
        "the msgs/s column says what was reached), the latency of a moderately loaded bot. With --repeat N "
        "each configuration runs N times on a fresh server: rates and latencies are the medians of the runs "
        "(each run's p50 and p99 listed), messages, errors, lost turns, reloads and edits their sums.",
        "",
        "| configuration | runs | messages | msgs/s | p50 ms | p90 ms | p99 ms | errors | lost turns | reloads "
        "| FAQ edits | p50 / p99 ms of each run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.configuration} | {r.runs} | {r.messages} | {r.throughput_msgs_per_s} | {r.p50_ms} | "
              f"{r.p90_ms} | {r.p99_ms} | {r.errors} | {r.lost_turns} | {r.reloads} | {r.faq_edits} | "
              + ", ".join(f"{a:g} / {b:g}" for a, b in zip(r.p50_ms_runs or (r.p50_ms,), r.p99_ms_runs or (r.p99_ms,)))
              + " |" for r in results]
    lines += ["", f"Each simulated customer starts a new conversation every {TURNS_PER_CONVERSATION} messages. "
              "What the bot did with the measured messages:", ""]
    lines += [f"- {r.configuration}: " + ", ".join(f"{action} {count}" for action, count in r.actions.items())
              for r in results]
    lines += ["", "Targets (2 cores, 32 sessions): >= 300 msgs/s, p50 <= 10 ms, p99 <= 50 ms, 0 errors, "
              "0 lost turns.", ""]
    (out / "load.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SUPPORTBOT_DATA_DIR", "data")))
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--only", choices=sorted(CONFIGURATIONS))
    parser.add_argument("--client", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python",
                        help="load generator: wrk (C; apt-get install wrk) leaves the cores to the server")
    parser.add_argument("--rates", default="0,340", help="messages/s aimed at in total, comma-separated (each "
                        "session pauses sessions/rate s after an answer, so somewhat fewer are reached); "
                        "0 = no pause (saturation)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; medians are reported")
    parser.add_argument("--db", help="a PostgreSQL server's URL (a role that may create schemas): compare one "
                        "replica on SQLite, one on PostgreSQL and --replicas behind HAProxy, one of them killed "
                        "mid-run, at the first paced --rates rate (benchmarks/replicas.py); writes load_replicas.*")
    parser.add_argument("--replicas", type=int, default=2, help="replicas behind the proxy, with --db")
    args = parser.parse_args()
    if not (args.data_dir / "bundles" / "current").exists():
        raise SystemExit(f"no active bundle in {args.data_dir / 'bundles'}: run `make demo-bundle` first")
    if args.db:
        from benchmarks.replicas import run_scale_out

        rate = next((float(r) for r in args.rates.split(",") if float(r) > 0), 340.0)
        run_scale_out(args.data_dir, args.db, args.replicas, args.sessions, args.seconds, rate, args.repeat, args.out)
        return
    bundle = (args.data_dir / "bundles" / "current").resolve().name
    rates = [float(r) for r in args.rates.split(",")]
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    plan = [(rate, name, flags) for rate in rates for name, flags in CONFIGURATIONS.items() if args.only in (None, name)]
    runs: dict[tuple[float, str], list[Result]] = {}
    for _ in range(args.repeat):  # interleaved, so a noisy minute on a shared machine hits every configuration
        for rate, name, flags in plan:
            result = asyncio.run(measure(name, flags, args.data_dir, args.sessions, args.seconds, rate, args.client))
            print(f"{result.configuration}: {result.throughput_msgs_per_s} msgs/s, p50 {result.p50_ms} ms, "
                  f"p99 {result.p99_ms} ms, errors {result.errors}, lost turns {result.lost_turns}", flush=True)
            runs.setdefault((rate, name), []).append(result)
    results = [combine(rows) if len(rows) > 1 else rows[0] for rows in runs.values()]
    write(results, args.out, bundle)


if __name__ == "__main__":
    main()
