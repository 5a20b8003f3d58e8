"""A real ``supportbot serve`` process on loopback: killed or stopped during traffic."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot.models.store import activate
from tests.bot.service import demo_settings
from tests.bot.toy_bundle import build_toy_bundle

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["hello", "where is my order", "refund money back", "How long does delivery take?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_PORT": str(port),
           "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "100000",
           "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "100000", "PYTHONUNBUFFERED": "1"}
    env.pop("SUPPORTBOT_DB", None)
    log_path = data_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None:
                raise AssertionError(log_path.read_text()) from None
            time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not start")


def traffic(port: int, acknowledged: list[tuple[int, str]], stop: threading.Event, user: int) -> None:
    """Send questions until stopped; remember every turn the server acknowledged."""
    i = 0
    while not stop.is_set():
        text = f"{QUESTIONS[i % 4]} #{user}-{i}"
        body = json.dumps({"session_id": f"process-user-{user:03d}", "text": text}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                acknowledged.append((json.loads(response.read())["turn_id"], text))
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return  # the server went away
        i += 1


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    settings = demo_settings(tmp_path)
    build_toy_bundle(settings.bundles_dir, "v1")
    activate(settings.bundles_dir, "v1")
    return settings.data_dir


def run_traffic_then(data_dir: Path, how: signal.Signals) -> tuple[list[tuple[int, str]], subprocess.Popen[bytes]]:
    port = free_port()
    server = start_server(data_dir, port)
    acknowledged: list[tuple[int, str]] = []
    stop = threading.Event()
    users = [threading.Thread(target=traffic, args=(port, acknowledged, stop, n)) for n in range(6)]
    for thread in users:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.send_signal(how)
    server.wait(timeout=60)
    stop.set()
    for thread in users:
        thread.join(timeout=30)
    assert len(acknowledged) >= 60
    return acknowledged, server


def stored_turns(data_dir: Path) -> dict[int, str]:
    with sqlite3.connect(data_dir / "supportbot.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return dict(db.execute("SELECT id, text FROM turns"))


def test_sigkill_during_traffic_loses_no_acknowledged_turn(data_dir: Path) -> None:
    acknowledged, server = run_traffic_then(data_dir, signal.SIGKILL)
    assert server.returncode == -signal.SIGKILL
    restarted = start_server(data_dir, free_port())  # the database opens and serves again
    restarted.terminate()
    restarted.wait(timeout=60)
    stored = stored_turns(data_dir)
    missing = [(turn_id, text) for turn_id, text in acknowledged if stored.get(turn_id) != text]
    assert missing == []


def test_sigterm_finishes_in_flight_turns_and_exits_cleanly(data_dir: Path) -> None:
    acknowledged, server = run_traffic_then(data_dir, signal.SIGTERM)
    assert server.returncode == 0, next(data_dir.glob("server-*.log")).read_text()
    stored = stored_turns(data_dir)
    assert all(stored.get(turn_id) == text for turn_id, text in acknowledged)
