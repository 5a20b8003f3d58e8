"""Abuse benchmark: do a flood and malformed requests cost the other customers anything?

A real ``supportbot serve`` on loopback (behind a pretend proxy: ``SUPPORTBOT_TRUSTED_PROXIES``
is 127.0.0.1 and every client names its address in ``X-Forwarded-For``), 32 normal chat
sessions paced at --rate messages/s in total, each message from one of many customer
addresses. Two runs on fresh copies of the data directory in one invocation:

- "no abuse": the normal sessions alone, for comparison;
- "abuse": the same, while (a) one client floods ``/api/chat`` with a fresh session id per
  message and (b) another sends malformed requests (bad JSON, wrong types, bad session ids,
  oversized bodies), both paced at fixed rates by wrk so the load generator's own CPU stays small.

Reported: the normal sessions' p50/p99 and errors and lost turns (acknowledged turns missing
from the database), the flood's accepted and refused counts, the malformed client's statuses,
and the rows each client left in the database.

    python benchmarks/abuse.py --data-dir data --seconds 15 --out benchmarks/results

Traffic goes only to 127.0.0.1; every loop is bounded by --seconds (and wrk by its duration).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import _quantile, free_port, prepare, questions, user, wait_ready  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402

TOKEN = "abuse-benchmark-admin-token"
FLOOD_ADDRESS, MALFORMED_ADDRESS = "203.0.113.66", "203.0.113.77"
ADDRESS_RATE_PER_MINUTE = 120  # the default of SUPPORTBOT_ADDRESS_RATE_PER_MINUTE

# wrk's Lua: counts of every status over all threads, printed as one JSON line at the end.
COUNTING = """
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) n = 0; counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function delay() return %(delay)d end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("counts")) do
      total[tostring(status)] = (total[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do table.insert(parts, '"' .. status .. '": ' .. count) end
  local e = summary.errors
  io.write('WRK-RESULT {"statuses": {' .. table.concat(parts, ", ") .. '}, "socket_errors": ' ..
           (e.connect + e.read + e.write + e.timeout) .. '}\\n')
end
"""
# A fresh session id per message, all from one address.
FLOOD_REQUEST = """
function request()
  n = n + 1
  local body = '{"session_id":"flood-' .. id .. '-' .. n .. '","text":"where is my parcel?"}'
  return wrk.format("POST", "/api/chat", {["Content-Type"] = "application/json",
                                         ["X-Forwarded-For"] = "%(address)s"}, body)
end
"""
# The MALFORMED requests in turn, all from one address.
MALFORMED_REQUEST = """
local bodies = {%(bodies)s}
function request()
  n = n + 1
  local pick = bodies[(n %% #bodies) + 1]
  return wrk.format("POST", "/api/chat", {["Content-Type"] = pick[1], ["X-Forwarded-For"] = "%(address)s"}, pick[2])
end
"""

# What the malformed client sends, in turn: each must be a 4xx that names what was wrong.
MALFORMED = [
    ("application/json", "{not json"),
    ("application/json", "[1, 2, 3]"),
    ("application/json", '"just a string"'),
    ("application/json", '{"text": "no session id"}'),
    ("application/json", '{"session_id": "short", "text": "hi"}'),
    ("application/json", '{"session_id": "../../etc/passwd", "text": "hi"}'),
    ("application/json", '{"session_id": "malformed-0001", "text": 12345}'),
    ("application/json", '{"session_id": "malformed-0001", "text": ["a", "b"]}'),
    ("application/json", '{"session_id": "malformed-0001", "choice": {"x": 1}}'),
    ("application/json", '{"session_id": "malformed-0001", "text": "' + "x" * 70_000 + '"}'),
    ("application/json", '{"session_id": "malformed-0001", "text": "hi", "choice": ' + "9" * 5_000 + "}"),
    ("application/json", '{"session_id": "\\ud800malformed", "text": "hi"}'),
    ("text/plain", "hello"),
]


def flood_script(address: str, delay_ms: int) -> str:
    return FLOOD_REQUEST % {"address": address} + COUNTING % {"delay": delay_ms}


def malformed_script(address: str, delay_ms: int) -> str:
    bodies = ", ".join("{[==[" + kind + "]==], [==[" + body + "]==]}" for kind, body in MALFORMED)
    return MALFORMED_REQUEST % {"bodies": bodies, "address": address} + COUNTING % {"delay": delay_ms}


@dataclass
class Run:
    configuration: str
    seconds: float
    normal_messages: int
    normal_msgs_per_s: float
    normal_p50_ms: float
    normal_p99_ms: float
    normal_errors: int
    lost_turns: int
    normal_rows: int
    flood_statuses: dict[str, int] = field(default_factory=dict)
    flood_accepted: int = 0
    flood_refused: int = 0
    flood_rows: int = 0
    malformed_statuses: dict[str, int] = field(default_factory=dict)
    malformed_rows: int = 0
    server_refused: dict[str, float] = field(default_factory=dict)


async def wrk(url: str, script: str, connections: int, seconds: float, folder: Path, name: str) -> dict[str, object]:
    path = folder / f"{name}.lua"
    path.write_text(script)
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(path), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await process.communicate())[0].decode()
    line = next((x for x in output.splitlines() if x.startswith("WRK-RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk failed:\n{output}")
    result: dict[str, object] = json.loads(line.removeprefix("WRK-RESULT "))
    return result


async def refused_counts(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
            if line.startswith("supportbot_refused_total{")}


async def measure(name: str, abuse: bool, source: Path, sessions: int, seconds: float, rate: float,
                  flood_rate: float, malformed_rate: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="supportbot-abuse-") as temp:
        data_dir = Path(temp) / "data"
        prepare(source, data_dir)
        port = free_port()
        env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_PORT": str(port),
               "SUPPORTBOT_ADMIN_TOKEN": TOKEN, "SUPPORTBOT_TRUSTED_PROXIES": "127.0.0.1",
               # each of the 32 benchmark sessions sends ~10 messages/s, far beyond a person's pace
               "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "1000000",
               "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": str(ADDRESS_RATE_PER_MINUTE)}
        env.pop("SUPPORTBOT_DB", None)
        log = open(Path(temp) / "server.log", "wb")  # noqa: SIM115 (the server writes it until stopped below)
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        interval = sessions / rate
        latencies: list[float] = []
        acknowledged: list[int] = []
        errors: list[str] = []
        flood: dict[str, object] = {}
        malformed: dict[str, object] = {}

        def customer(number: int) -> Callable[[int], dict[str, str]]:
            # many customers behind the pretend proxy: each message from one of 250 addresses per session
            return lambda i: {"X-Forwarded-For": f"198.18.{number}.{i % 250 + 1}"}

        try:
            await wait_ready(url, server)
            texts = questions()
            connector = aiohttp.TCPConnector(limit=sessions + 4)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                warm_stop = time.perf_counter() + 2
                await asyncio.gather(*(user(http, url, n, texts, warm_stop, [], [], [], interval,
                                            customer(n), prefix="warm-up") for n in range(sessions)))
                started = time.perf_counter()
                attackers = []
                if abuse:
                    # wrk paces each connection with delay(); connections x (1000 / delay) ~ the rate
                    flood_delay = max(1, int(8 * 1000 / flood_rate))
                    attackers = [
                        wrk(url, flood_script(FLOOD_ADDRESS, flood_delay), 8, seconds,
                            Path(temp), "flood"),
                        wrk(url, malformed_script(MALFORMED_ADDRESS, max(1, int(2 * 1000 / malformed_rate))), 2,
                            seconds, Path(temp), "malformed")]
                stop = started + seconds
                outcome = await asyncio.gather(
                    *attackers, *(user(http, url, n, texts, stop, latencies, acknowledged, errors, interval,
                                       customer(n)) for n in range(sessions)))
                elapsed = time.perf_counter() - started
                if abuse:
                    flood, malformed = outcome[0], outcome[1]  # type: ignore[assignment]  # wrk's results come first
                refused = await refused_counts(http, url)
        finally:
            server.terminate()
            server.wait(timeout=60)
            log.close()
        with sqlite3.connect(data_dir / "supportbot.db") as db:
            def rows(pattern: str) -> int:
                return int(db.execute("SELECT count(*) FROM turns WHERE session_id LIKE ?", (pattern,)).fetchone()[0])

            stored_ids = {row[0] for row in db.execute("SELECT id FROM turns")}
            normal_rows, flood_rows, malformed_rows = rows("web:load-session-%"), rows("web:flood-%"), \
                rows("web:malformed-%")
    if errors:
        print(f"{name}: normal-session errors: {sorted(set(errors))[:5]}", file=sys.stderr)
    ordered = sorted(latencies)
    flood_statuses = {str(k): int(v) for k, v in dict(flood.get("statuses", {})).items()}  # type: ignore[call-overload]
    malformed_statuses = {str(k): int(v) for k, v in dict(malformed.get("statuses", {})).items()}  # type: ignore[call-overload]
    return Run(name, round(elapsed, 1), len(latencies), round(len(latencies) / elapsed, 1),
               round(statistics.median(ordered), 2), round(_quantile(ordered, 0.99), 2), len(errors),
               sum(1 for turn_id in acknowledged if turn_id not in stored_ids), normal_rows,
               flood_statuses, flood_statuses.get("200", 0),
               sum(v for k, v in flood_statuses.items() if k != "200"), flood_rows,
               malformed_statuses, malformed_rows, refused)


def verdict(quiet: Run, loud: Run, seconds: float) -> dict[str, object]:
    flood_bound = ADDRESS_RATE_PER_MINUTE + ADDRESS_RATE_PER_MINUTE / 60 * seconds
    return {
        "normal_p99_within_2x": loud.normal_p99_ms <= 2 * quiet.normal_p99_ms,
        "normal_errors_0": loud.normal_errors == 0 and quiet.normal_errors == 0,
        "lost_turns_0": loud.lost_turns == 0 and quiet.lost_turns == 0,
        "flood_rows_bound": round(flood_bound),
        "flood_rows_within_bound": loud.flood_rows <= flood_bound,
        "malformed_5xx": sum(v for k, v in loud.malformed_statuses.items() if k.startswith("5")),
    }


def write(runs: list[Run], checks: dict[str, object], out: Path, bundle: str, args: argparse.Namespace) -> None:
    info = describe_machine()
    out.mkdir(parents=True, exist_ok=True)
    quiet, loud = runs
    data = {"machine": info, "bundle": bundle, "cores_shared": True,
            "settings": {"SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": ADDRESS_RATE_PER_MINUTE,
                         "SUPPORTBOT_MAX_IN_FLIGHT": "default (64)", "SUPPORTBOT_TRUSTED_PROXIES": "127.0.0.1"},
            "offered": {"normal_msgs_per_s": args.rate, "flood_req_per_s": args.flood_rate,
                        "malformed_req_per_s": args.malformed_rate, "seconds": args.seconds},
            "targets": {"normal_p99_ms": "<= 2x the run without abuse", "normal_errors": 0, "lost_turns": 0,
                        "flood_rows": f"<= {checks['flood_rows_bound']} (burst {ADDRESS_RATE_PER_MINUTE} + "
                                      f"{ADDRESS_RATE_PER_MINUTE}/min x {args.seconds:g} s)"},
            "checks": checks, "runs": {r.configuration: asdict(r) for r in runs}}
    (out / "abuse.json").write_text(json.dumps(data, indent=2) + "\n")

    def statuses(counts: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"

    lines = [
        "# Abuse benchmark", "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared with other work while this ran), Python "
        f"{info['python']}; commit {info['commit']}; bundle {bundle}.", "",
        f"A real `supportbot serve` on loopback behind a pretend proxy (`SUPPORTBOT_TRUSTED_PROXIES=127.0.0.1`); "
        f"{args.sessions} normal sessions paced at {args.rate:g} messages/s in total, each message from one of "
        f"250 customer addresses per session; {args.seconds:g} s per run on a fresh copy of the data. In the abuse "
        f"run, wrk (C) paces a flood of fresh session ids from one address at about {args.flood_rate:g} "
        f"requests/s and a malformed-request client at about {args.malformed_rate:g} requests/s (bad JSON, wrong "
        f"types, bad session ids, a lone surrogate, a 5,000-digit number, a 70 kB body). Default limits: {ADDRESS_RATE_PER_MINUTE} messages per address per "
        "minute (burst as many), 64 in flight. One run each; latencies are the normal sessions' medians and "
        "99th percentiles of that run.", "",
        "| run | normal msgs | msgs/s | p50 ms | p99 ms | errors | lost turns | normal rows | flood accepted | "
        "flood refused | flood rows | malformed statuses | malformed rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.configuration} | {r.normal_messages} | {r.normal_msgs_per_s} | {r.normal_p50_ms} | "
              f"{r.normal_p99_ms} | {r.normal_errors} | {r.lost_turns} | {r.normal_rows} | {r.flood_accepted} | "
              f"{r.flood_refused} | {r.flood_rows} | {statuses(r.malformed_statuses)} | {r.malformed_rows} |"
              for r in runs]
    ratio = loud.normal_p99_ms / quiet.normal_p99_ms if quiet.normal_p99_ms else float("inf")
    lines += [
        "",
        f"Flood statuses: {statuses(loud.flood_statuses)}; refusals the server counted "
        f"(`supportbot_refused_total`): {statuses({k: int(v) for k, v in loud.server_refused.items()})}.", "",
        "Targets: normal p99 within 2x of the run without abuse "
        f"({loud.normal_p99_ms} vs {quiet.normal_p99_ms} ms: {ratio:.2f}x, "
        f"{'met' if checks['normal_p99_within_2x'] else 'NOT met'}); 0 errors and 0 lost turns for the normal "
        f"sessions ({'met' if checks['normal_errors_0'] and checks['lost_turns_0'] else 'NOT met'}); database "
        f"growth from the flood at most {checks['flood_rows_bound']} rows (the address burst plus its rate over the "
        f"run) against {loud.flood_accepted + loud.flood_refused} flood requests: {loud.flood_rows} rows "
        f"({'met' if checks['flood_rows_within_bound'] else 'NOT met'}). Malformed requests answered 5xx: "
        f"{checks['malformed_5xx']}.", "",
    ]
    if quiet.normal_msgs_per_s < 0.9 * args.rate:
        lines += [f"Caveat: the run without abuse reached only {quiet.normal_msgs_per_s} of the {args.rate:g} "
                  "messages/s aimed at: the server was saturated (2 shared cores; the normal sessions' client is "
                  "load.py's Python client on the same cores), so its latencies include queueing; compare "
                  "load.md for the bot alone.", ""]
    lines += [
        f"Command: `benchmarks/abuse.py --seconds {args.seconds:g} --rate {args.rate:g} --flood-rate "
        f"{args.flood_rate:g} --malformed-rate {args.malformed_rate:g}`.", "",
    ]
    (out / "abuse.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("SUPPORTBOT_DATA_DIR", "data")))
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=300.0, help="normal messages/s in total")
    parser.add_argument("--flood-rate", type=float, default=800.0, help="flood requests/s aimed at")
    parser.add_argument("--malformed-rate", type=float, default=100.0, help="malformed requests/s aimed at")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    if not (args.data_dir / "bundles" / "current").exists():
        raise SystemExit(f"no active bundle in {args.data_dir / 'bundles'}: run `make demo-bundle` first")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the flood and malformed clients: apt-get install wrk")
    if not 1 <= args.seconds <= 120:
        raise SystemExit("--seconds must be between 1 and 120")
    bundle = (args.data_dir / "bundles" / "current").resolve().name
    runs = []
    for name, abuse in (("no abuse", False), ("abuse", True)):
        run = asyncio.run(measure(name, abuse, args.data_dir, args.sessions, args.seconds, args.rate,
                                  args.flood_rate, args.malformed_rate))
        print(f"{name}: p50 {run.normal_p50_ms} ms, p99 {run.normal_p99_ms} ms, errors {run.normal_errors}, "
              f"lost {run.lost_turns}, flood {run.flood_accepted} accepted / {run.flood_refused} refused", flush=True)
        runs.append(run)
    write(runs, verdict(runs[0], runs[1], args.seconds), args.out, bundle, args)


if __name__ == "__main__":
    main()
