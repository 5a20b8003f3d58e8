"""A real HAProxy in front of bot replicas on loopback, for the multi-replica tests.

HAProxy from the distribution's packages (``apt-get install haproxy``); ``.ci/run`` installs
it. Where it is missing the tests are skipped locally and fail in CI, as PostgreSQL's are.

The configuration is the one ``deploy/`` ships in spirit: round robin, a health check of
``/readyz`` every 200 ms that takes a replica out after one failure, and a retry on another
replica when the connection failed, or, for a message with an Idempotency-Key, when the replica
died before answering (the bot stores a keyed message once). Each response names the replica
that served it (``X-Served-By``).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.replicas import HAPROXY

# the benchmark's proxy, telling which replica answered
CONFIG = HAPROXY.replace("    option httpchk GET /readyz\n",
                         "    option httpchk GET /readyz\n    http-response set-header X-Served-By %s\n")


def find_haproxy() -> str:
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)
    if found is None:
        reason = "HAProxy is not installed (apt-get install haproxy)"
        if os.environ.get("CI"):
            pytest.fail(f"HAProxy is needed in CI and {reason}; .ci/run should have installed it")
        pytest.skip(f"multi-replica test skipped: {reason}")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def haproxy(backends: Sequence[tuple[str, int]], directory: Path) -> Iterator[int]:
    """HAProxy on a free port in front of ``(name, port)`` replicas; yields its port."""
    binary, port = find_haproxy(), free_port()
    servers = "\n".join(f"    server {name} 127.0.0.1:{backend} check inter 200ms fall 1 rise 2"
                        for name, backend in backends)
    config = directory / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers))
    with open(directory / "haproxy.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((directory / "haproxy.log").read_text()) from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
