"""Several ``supportbot serve`` processes on one PostgreSQL database behind a real HAProxy.

Two replicas on loopback, a throw-away PostgreSQL cluster (``tests/postgres.py``) and HAProxy
(``tests/scale/proxy.py``), all real: chat traffic spreads over both; an FAQ edit or a bundle
activated through one is served by the other within 2 s; a handoff opened on one is answered
through the other; a replica killed with SIGKILL mid-traffic loses no acknowledged turn and the
proxy sends new requests to the survivor. About 30 s on 2 cores; the tests run in file order on
one cluster (the kill comes last).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.models.store import activate
from knowledge.database import Database, turns
from knowledge.faq.formats import read_faq_file
from knowledge.faq.store import FaqStore
from tests import postgres
from tests.bot.service import ADMIN_TOKEN, DEMO_FAQ
from tests.bot.toy_bundle import build_toy_bundle
from tests.scale.proxy import find_haproxy, free_port, haproxy

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Supportbot-Author": "tester"}
QUESTIONS = ["hello", "where is my order", "refund money back", "How long does delivery take?"]


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]


@dataclass
class Cluster:
    url: str
    data_dir: Path
    replicas: list[Replica]
    proxy: int
    log_dir: Path
    served: Counter[str] = field(default_factory=Counter)


def call(port: int, path: str, body: dict[str, object] | None = None, method: str | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, str]:
    """One request: (status, JSON body, the replica that served it through the proxy)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}"), response.headers.get("X-Served-By", "")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            parsed = {"raw": raw.decode(errors="replace")}
        return error.code, parsed, error.headers.get("X-Served-By", "")


def start_replica(name: str, url: str, data_dir: Path, log_dir: Path) -> Replica:
    port = free_port()
    env = {**os.environ, "SUPPORTBOT_DB": url, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_PORT": str(port),
           "SUPPORTBOT_ADMIN_TOKEN": ADMIN_TOKEN, "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "100000",
           "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000", "PYTHONUNBUFFERED": "1"}
    with open(log_dir / f"{name}.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    return Replica(name, port, process)


def wait_healthy(replica: Replica, log_dir: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if call(replica.port, "/healthz", timeout=1)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if replica.process.poll() is not None:
            raise AssertionError((log_dir / f"{replica.name}.log").read_text())
        time.sleep(0.2)
    raise AssertionError(f"{replica.name} did not start")


@pytest.fixture(scope="module")
def cluster(postgres_server: postgres.PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    find_haproxy()  # skip (or fail in CI) before starting anything
    root = tmp_path_factory.mktemp("replicas")
    data_dir = root / "data"  # the shared volume: bundles, search indexes
    build_toy_bundle(data_dir / "bundles", "v1")
    activate(data_dir / "bundles", "v1")
    with postgres_server.database() as url:
        with Database.open(url) as database:
            FaqStore(database).import_entries(read_faq_file(DEMO_FAQ).entries, "test")
        replicas = [start_replica(name, url, data_dir, root) for name in ("r1", "r2")]
        try:
            for replica in replicas:
                wait_healthy(replica, root)
            with haproxy([(r.name, r.port) for r in replicas], root) as proxy:
                time.sleep(0.6)  # both replicas pass a health check ("rise 2" at 200 ms)
                yield Cluster(url, data_dir, replicas, proxy, root)
        finally:
            for replica in replicas:
                if replica.process.poll() is None:
                    replica.process.terminate()
                    replica.process.wait(timeout=30)


def say(port: int, session: str, text: str, key: str | None = None) -> tuple[int, dict, str]:
    """A chat message; with ``key`` as the web chat sends it (Idempotency-Key): safe to retry."""
    return call(port, "/api/chat", {"session_id": session, "text": text},
                headers={"Idempotency-Key": key} if key else None)


def test_chat_traffic_is_spread_over_the_replicas(cluster: Cluster) -> None:
    served = Counter(say(cluster.proxy, f"spread-{n:04d}", QUESTIONS[n % 4])[2] for n in range(12))
    assert served == Counter({"r1": 6, "r2": 6})


def test_an_faq_edit_through_one_replica_is_served_by_the_other_within_2_s(cluster: Cluster) -> None:
    r1, r2 = cluster.replicas
    status, entry, _ = call(r1.port, "/admin/faq/shipping-times", headers=ADMIN)
    assert status == 200, entry
    marker = f"Edited at {time.time():.0f}: delivery takes 1-2 business days."
    status, saved, _ = call(r1.port, "/admin/faq/shipping-times", {"answer": marker, "base_revision": entry["revision"]},
                            method="PUT", headers=ADMIN)
    assert status == 200, saved
    edited = time.monotonic()
    n = 0
    while True:  # the entry picked from a button: its answer, as r2's FAQ has it, whatever the model reads
        n += 1
        reply = call(r2.port, "/api/chat", {"session_id": f"edit-{n:04d}", "text": "", "choice": "faq:shipping-times"})[1]
        assert reply["faq_id"] == "shipping-times", reply
        if reply["reply"].startswith(marker):
            break
        assert time.monotonic() - edited < 2.0, f"r2 still answers {reply['reply']!r} 2 s after the edit"
        time.sleep(0.05)
    assert call(r2.port, "/healthz")[1]["faq_revision"] == call(r1.port, "/healthz")[1]["faq_revision"]


def test_a_handoff_opened_on_one_replica_is_answered_through_the_other(cluster: Cluster) -> None:
    r1, r2 = cluster.replicas
    opened = call(r1.port, "/api/chat", {"session_id": "handoff-0001", "choice": "human", "text": ""})[1]
    assert opened["action"] == "handoff" and opened["handoff"] is True, opened
    waiting = call(r2.port, "/admin/handoffs?state=waiting", headers=ADMIN)[1]
    (handoff,) = [h for h in waiting["handoffs"] if h["session_id"] == "web:handoff-0001"]
    pushed: list[float] = []
    listener = threading.Thread(target=listen, args=(r1.port, "handoff-0001", "Hi, I'm Ana", pushed))
    listener.start()  # the customer's page, open on r1
    time.sleep(0.3)
    status, posted, _ = call(r2.port, f"/admin/handoffs/{handoff['id']}/messages",
                             {"text": "Hi, I'm Ana from support.", "author": "ana"}, headers=ADMIN)
    assert status == 201, posted
    sent = time.monotonic()
    listener.join(timeout=10)
    assert pushed and pushed[0] - sent < 2.0, "r1's page did not hear r2's staff message within 2 s"
    history = call(r1.port, "/api/chat/history?session_id=handoff-0001")[1]
    assert any(line["text"] == "Hi, I'm Ana from support." for line in history["messages"]), history
    relayed = say(r1.port, "handoff-0001", "thanks Ana, my parcel is late")[1]  # r1 knows a person has it
    assert relayed["action"] == "relayed", relayed


def listen(port: int, session: str, text: str, heard: list[float]) -> None:
    """Read the web chat's live stream until a line with ``text`` comes (then note when)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat/events?session_id={session}")
    with urllib.request.urlopen(request, timeout=8) as stream:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            if text in line:
                heard.append(time.monotonic())
                return


def test_an_activated_bundle_is_served_by_every_replica(cluster: Cluster) -> None:
    build_toy_bundle(cluster.data_dir / "bundles", "v2", seed=3)
    done = subprocess.run([sys.executable, "-m", "bot", "bundles", "activate", "v2"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "SUPPORTBOT_DATA_DIR": str(cluster.data_dir)})
    assert done.returncode == 0, done.stderr
    activated = time.monotonic()
    serving = {}
    while time.monotonic() - activated < 5:  # the poll (0.5 s) and loading the bundle beside the old one
        serving = {r.name: call(r.port, "/healthz")[1]["bundle_version"] for r in cluster.replicas}
        if set(serving.values()) == {"v2"}:
            break
        time.sleep(0.1)
    assert serving == {"r1": "v2", "r2": "v2"}
    assert say(cluster.proxy, "after-v2", "hello")[1]["bundle_version"] == "v2"


def test_a_replica_killed_mid_traffic_loses_no_acknowledged_turn_and_fails_no_keyed_message(
        cluster: Cluster) -> None:
    acknowledged: list[tuple[int, str, str, float]] = []  # turn id, text, served by, when
    failed: list[tuple[int, dict, str, float]] = []  # status, body, served by, when (relative to the kill)
    stop = threading.Event()

    def user(number: int) -> None:
        i = 0
        while not stop.is_set():
            text = f"{QUESTIONS[i % 4]} #{number}-{i}"
            try:
                status, body, served = say(cluster.proxy, f"kill-user-{number:03d}", text, key=f"m-{number}-{i}")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status, body, served = 0, {}, ""
            if status == 200:
                acknowledged.append((body["turn_id"], text, served, time.monotonic()))
            else:
                failed.append((status, body, served, time.monotonic()))
            i += 1

    users = [threading.Thread(target=user, args=(n,)) for n in range(6)]
    for thread in users:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    victim = cluster.replicas[0]
    victim.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(3)
    stop.set()
    for thread in users:
        thread.join(timeout=30)
    assert victim.process.wait(timeout=10) == -signal.SIGKILL
    before = [a for a in acknowledged if a[3] < killed]
    after = [a for a in acknowledged if a[3] > killed + 1.0]  # the proxy's check has taken r1 out by then
    assert {a[2] for a in before} == {"r1", "r2"}
    assert len(after) >= 20 and {a[2] for a in after} == {"r2"}
    # Messages in flight on r1 when it died were tried again on r2 by the proxy (they carry a key):
    # none failed, and none that r1 had stored already was stored a second time.
    survivor_errors = [line for line in (cluster.log_dir / "r2.log").read_text(errors="replace").splitlines()
                       if "Error" in line][-5:]
    assert failed == [], (f"{len(failed)} messages failed around the kill: "
                          f"{[(s, b, by, round(t - killed, 3)) for s, b, by, t in failed[:5]]}; r2 logged {survivor_errors}")
    with Database.open(cluster.url) as database, database.connect() as conn:
        stored = dict(conn.execute(select(turns.c.id, turns.c.text)).all())
    assert [(turn_id, text) for turn_id, text, _, _ in acknowledged if stored.get(turn_id) != text] == []
    kill_texts = Counter(text for text in stored.values() if "#" in text)
    assert [text for text, count in kill_texts.items() if count > 1] == []
