"""Load on several replicas: ``benchmarks/load.py --replicas N --db URL``.

The same 32 paced sessions, real questions, one bundle reload and 10 FAQ edits per run as
``load.py``, against four set-ups on one machine:

1. one replica on SQLite (the data directory's copy), as ``load.py`` measures it;
2. one replica on PostgreSQL (``--db``): what the database costs a message;
3. N replicas on PostgreSQL behind HAProxy (round robin, readiness checks on ``/readyz``);
4. the same with one replica killed (SIGKILL) in the middle of the run.

Every run gets a fresh PostgreSQL schema with the data directory's FAQ copied in, and a fresh
copy of the data directory (shared by the replicas: bundles, index). The load generator is
``load.py``'s Python client (it retries a message once when the proxy answers 502/503 or the
connection drops, as a chat page would; those retries are counted). Lost turns are checked by id:
every acknowledged turn must be in the database afterwards.

Only ``load.py`` imports this module.
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from benchmarks.load import ROOT, TOKEN, free_port, prepare, questions, session_name, staff, wait_ready
from benchmarks.machine import describe_machine
from knowledge.database import Database, turns
from knowledge.faq.store import FaqStore

HAPROXY = """\
global
    maxconn 1024
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    retry-on conn-failure empty-response response-timeout 502 503
    option redispatch 1
    option http-buffer-request
frontend chat
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    http-request disable-l7-retry if !{{ req.hdr(idempotency-key) -m found }}
    option httpchk GET /readyz
{servers}
"""


@dataclass
class Row:
    configuration: str
    replicas: int
    database: str
    runs: int
    messages: int
    throughput_msgs_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    retried: int
    lost_turns: int
    reloads: int
    faq_edits: int
    p50_ms_runs: tuple[float, ...]
    p99_ms_runs: tuple[float, ...]
    load_1min: tuple[float, ...]  # the machine's load average before each run (shared machine)
    error_kinds: tuple[str, ...] = ()


@contextmanager
def database_for(url: str | None, source: Path) -> Iterator[str | None]:
    """A fresh schema on the PostgreSQL server ``url`` holding ``source``'s FAQ (None: SQLite)."""
    if url is None:
        yield None
        return
    name = f"load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    try:
        with Database.open(f"sqlite:///{source / 'supportbot.db'}") as old, Database.open(scoped) as new:
            FaqStore(new).import_entries(FaqStore(old).list(), "load-benchmark")
        yield scoped
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@contextmanager
def haproxy(ports: list[int], folder: Path) -> Iterator[int]:
    port = free_port()
    servers = "\n".join(f"    server r{n} 127.0.0.1:{p} check inter 200ms fall 1 rise 2" for n, p in enumerate(ports))
    (folder / "haproxy.cfg").write_text(HAPROXY.format(port=port, servers=servers))
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    with open(folder / "haproxy.log", "wb") as log:
        process = subprocess.Popen([binary, "-db", "-f", str(folder / "haproxy.cfg")], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)  # bound, and each replica passed its checks
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def chat(http: aiohttp.ClientSession, url: str, number: int, texts: list[str], stop: float, interval: float,
               latencies: list[float], acknowledged: list[int], errors: list[str], retried: list[int],
               prefix: str = "load-session") -> None:
    """One paced simulated customer, in conversations named from ``prefix`` (``load.user``).
    Each message carries a key (Idempotency-Key, as the web chat sends it), so the proxy may
    send it again to another replica when its replica dies mid-message; a
    502/503 or a dropped connection that still reaches the client is tried once more, under the
    same key (the page's "Try again")."""
    i = start = number * 7
    next_send = time.perf_counter() + interval * random.random()
    while time.perf_counter() < stop:
        await asyncio.sleep(max(0.0, next_send - time.perf_counter()))
        next_send += interval
        body = {"session_id": session_name(prefix, number, i - start), "text": texts[i % len(texts)]}
        key = {"Idempotency-Key": uuid.uuid4().hex}
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                async with http.post(f"{url}/api/chat", json=body, headers=key) as response:
                    if response.status in (502, 503) and attempt == 1:
                        retried.append(1)
                        continue
                    if response.status != 200:
                        errors.append(f"HTTP {response.status}")
                        break
                    data = await response.json()
                latencies.append((time.perf_counter() - started) * 1000)
                acknowledged.append(int(data["turn_id"]))
                break
            except (TimeoutError, aiohttp.ClientError) as error:
                if attempt == 1:
                    retried.append(1)
                    continue
                errors.append(type(error).__name__)
        i += 1


async def run_once(source: Path, db: str | None, replicas: int, kill: bool, sessions: int, seconds: float,
                   rate: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="supportbot-replicas-") as temp, database_for(db, source) as url:
        folder = Path(temp)
        data_dir = folder / "data"
        reload_version = prepare(source, data_dir)
        env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_ADMIN_TOKEN": TOKEN,
               "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "1000000", "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000"}
        env.pop("SUPPORTBOT_DB", None)
        if url is not None:
            env["SUPPORTBOT_DB"] = url
        ports = [free_port() for _ in range(replicas)]
        servers = []
        for n, port in enumerate(ports):
            with open(folder / f"server-{n}.log", "wb") as log:
                servers.append(subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT,
                                                env={**env, "SUPPORTBOT_PORT": str(port)}, stdout=log,
                                                stderr=subprocess.STDOUT))
        latencies: list[float] = []
        acknowledged: list[int] = []
        errors: list[str] = []
        retried: list[int] = []
        load = os.getloadavg()[0]
        try:
            for port, server in zip(ports, servers):
                await wait_ready(f"http://127.0.0.1:{port}", server)
            with haproxy(ports, folder) if replicas > 1 else _direct(ports[0]) as front:
                url_front, texts = f"http://127.0.0.1:{front}", questions()
                interval = sessions / rate
                connector = aiohttp.TCPConnector(limit=sessions + 4)
                async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
                    warm = time.perf_counter() + 2
                    await asyncio.gather(*(chat(http, url_front, n, texts, warm, interval, [], [], [], [], "warm-up")
                                           for n in range(sessions)))
                    started = time.perf_counter()
                    # FAQ edits and the reload go to the first replica; the others follow (bot/follower.py).
                    team = asyncio.create_task(staff(http, f"http://127.0.0.1:{ports[0]}", reload_version, seconds,
                                                     errors))
                    killer = asyncio.create_task(_kill_later(servers[-1], seconds / 2)) if kill else None
                    await asyncio.gather(*(chat(http, url_front, n, texts, started + seconds, interval, latencies,
                                                acknowledged, errors, retried) for n in range(sessions)))
                    edits, reloads = await team
                    if killer is not None:
                        await killer
                    elapsed = time.perf_counter() - started
        finally:
            for server in servers:
                if server.poll() is None:
                    server.terminate()
                    server.wait(timeout=60)
        with Database.open(url or f"sqlite:///{data_dir / 'supportbot.db'}") as database, database.connect() as conn:
            stored = set(conn.execute(select(turns.c.id)).scalars())
        ordered = sorted(latencies)
        return {"messages": len(ordered), "throughput": len(ordered) / elapsed, "p50": statistics.median(ordered),
                "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "errors": len(errors),
                "error_kinds": sorted(set(errors))[:5], "retried": len(retried),
                "lost": sum(1 for turn_id in acknowledged if turn_id not in stored), "edits": edits,
                "reloads": reloads, "load": load}


@contextmanager
def _direct(port: int) -> Iterator[int]:
    yield port


async def _kill_later(server: subprocess.Popen[bytes], after: float) -> None:
    await asyncio.sleep(after)
    server.send_signal(signal.SIGKILL)


def run_scale_out(source: Path, db: str, replicas: int, sessions: int, seconds: float, rate: float, repeat: int,
                  out: Path) -> None:
    plan = [("1 replica, SQLite", None, 1, False), ("1 replica, PostgreSQL", db, 1, False),
            (f"{replicas} replicas, PostgreSQL, HAProxy", db, replicas, False),
            (f"{replicas} replicas, PostgreSQL, HAProxy, one killed mid-run", db, replicas, True)]
    runs: dict[str, list[dict[str, object]]] = {}
    for _ in range(repeat):  # interleaved: a noisy minute on the shared machine hits every set-up
        for name, url, count, kill in plan:
            result = asyncio.run(run_once(source, url, count, kill, sessions, seconds, rate))
            print(f"{name}: {result}", flush=True)
            runs.setdefault(name, []).append(result)
    rows = [_row(name, url, count, runs[name]) for name, url, count, _ in plan]
    write(rows, out, source, sessions, seconds, rate, repeat)


def _row(name: str, url: str | None, count: int, results: list[dict[str, object]]) -> Row:
    def median(key: str) -> float:
        return round(statistics.median(float(r[key]) for r in results), 2)  # type: ignore[arg-type]

    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)  # type: ignore[call-overload]

    return Row(name, count, "SQLite" if url is None else "PostgreSQL", len(results), total("messages"),
               median("throughput"), median("p50"), median("p99"), total("errors"), total("retried"), total("lost"),
               total("reloads"), total("edits"), tuple(round(float(r["p50"]), 2) for r in results),  # type: ignore[arg-type]
               tuple(round(float(r["p99"]), 2) for r in results), tuple(round(float(r["load"]), 2) for r in results),  # type: ignore[arg-type]
               tuple(sorted({kind for r in results for kind in r["error_kinds"]})))  # type: ignore[attr-defined]


def write(rows: list[Row], out: Path, source: Path, sessions: int, seconds: float, rate: float, repeat: int) -> None:
    import json

    info = describe_machine()
    sqlite, postgres = rows[0], rows[1]
    ratios = {"p50": round(postgres.p50_ms / sqlite.p50_ms, 3), "p99": round(postgres.p99_ms / sqlite.p99_ms, 3)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "load_replicas.json").write_text(json.dumps({
        "machine": info, "bundle": (source / "bundles" / "current").resolve().name, "sessions": sessions,
        "seconds": seconds, "rate": rate, "repeat": repeat, "postgresql_over_sqlite": ratios,
        "targets": {"postgresql_over_sqlite_p50_p99": "<= 1.2", "errors": 0, "lost_turns": 0},
        "configurations": {r.configuration: asdict(r) for r in rows}}, indent=2) + "\n")
    lines = [
        "# Load on several replicas", "",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared with other jobs: the load average before each "
        f"run is listed), Python {info['python']}; commit {info['commit']}.", "",
        f"{sessions} paced sessions (each waits {sessions / rate * 1000:.0f} ms after an answer: about {rate:g} "
        f"messages/s aimed at), {seconds:g} s per run, {repeat} runs per set-up interleaved; one bundle reload and "
        "10 FAQ edits through the first replica in each run. Medians of the runs; messages, errors, retries and "
        "lost turns summed. A retry: the proxy answered 502/503 or the connection dropped, and the client sent "
        "the message once more (a message in flight on the killed replica); an error: it failed twice.", "",
        "| set-up | runs | messages | msgs/s | p50 ms | p99 ms | errors | retried | lost turns | reloads | "
        "FAQ edits | p50 / p99 ms of each run | load (1 min) before each run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.configuration} | {r.runs} | {r.messages} | {r.throughput_msgs_per_s} | {r.p50_ms} | {r.p99_ms} "
              f"| {r.errors} | {r.retried} | {r.lost_turns} | {r.reloads} | {r.faq_edits} | "
              + ", ".join(f"{a:g} / {b:g}" for a, b in zip(r.p50_ms_runs, r.p99_ms_runs)) + " | "
              + ", ".join(f"{x:g}" for x in r.load_1min) + " |" for r in rows]
    lines += ["", f"PostgreSQL over SQLite, one replica: p50 x{ratios['p50']}, p99 x{ratios['p99']} "
              "(target: within 20%, x1.2).", ""]
    (out / "load_replicas.md").write_text("\n".join(lines))
    print("\n".join(lines))
