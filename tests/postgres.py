"""A throw-away PostgreSQL server for the database tests, and a fresh schema (a database, as the code
under test sees it) for each test.

The test session starts a cluster of its own: ``initdb`` into a temporary directory, the server
on a free port of 127.0.0.1 with trust authentication and without fsync (nothing here needs to
survive a crash), stopped and removed when the session ends. As root it runs the server as the
``postgres`` user (the server refuses root). ``SUPPORTBOT_TEST_POSTGRES_URL`` names a server to
use instead: a role that may create databases, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``.

Where PostgreSQL's server is not installed (``apt-get install postgresql``) the PostgreSQL
variants are skipped locally but fail in CI (``CI`` set), as ``.ci/run`` installs it: a missing
install step cannot hide behind a skip. ``SUPPORTBOT_TEST_POSTGRES=require`` (``make test-db``)
makes them fail anywhere.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from knowledge.database import Database

SERVER_VARIABLE = "SUPPORTBOT_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "SUPPORTBOT_TEST_POSTGRES"  # "require": fail instead of skipping (``make test-db``)
SERVER_USER = "postgres"  # who runs the server when the tests run as root


@dataclass
class PostgresServer:
    """A server the tests may create schemas on; ``database()`` gives each test its own."""

    url: str
    engine: Engine  # AUTOCOMMIT, on the maintenance database: CREATE/DROP SCHEMA

    @contextmanager
    def database(self) -> Iterator[str]:
        """The URL of a new, empty schema that is all its connections see (``search_path``); the
        schema and any connection left open to it are removed afterwards.

        A schema per test rather than a database: creating a database costs a tenth of a second
        or more, a schema almost nothing, and to the code under test the two look the same.
        """
        name = f"supportbot_test_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = make_url(self.url).update_query_dict({"options": f"-csearch_path={name}", "application_name": name})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = :name"), {"name": name})
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


def unavailable(reason: str) -> None:
    """Skip the test, or fail it in CI (or when required), where a missing server is a broken set-up."""
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed in CI and {reason}; .ci/run should have installed it")
    if os.environ.get(REQUIRE_VARIABLE) == "require":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_VARIABLE}=require) and {reason}")
    pytest.skip(f"PostgreSQL variant skipped: {reason}")


def server() -> Iterator[PostgresServer]:
    """The session's server: the one ``SUPPORTBOT_TEST_POSTGRES_URL`` names, else a cluster
    started here and removed at the end."""
    given = os.environ.get(SERVER_VARIABLE)
    if given:
        with _connected(given) as found:
            yield found
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable("its server is not installed (apt-get install postgresql)")
    assert bin_dir is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("the tests run as root and runuser is missing to start the server as another user")
    with _cluster(bin_dir) as url, _connected(url) as started:
        yield started


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on the PATH, else Debian's versioned directory."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


@contextmanager
def _cluster(bin_dir: Path) -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="supportbot-pg-"))  # in /tmp: the server's user can reach it
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
        as_user = ["runuser", "-u", SERVER_USER, "--"]
    data = root / "data"
    try:
        _run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", f"--username={SERVER_USER}",
              "--encoding=UTF8", "--locale=C", "--no-sync"], "initdb")
        port = _start(as_user, bin_dir, data, root)
        try:
            yield f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(as_user: list[str], bin_dir: Path, data: Path, root: Path) -> int:
    """Start the server on a free port and return the port; tried again if another process
    took the port between choosing and binding it."""
    log = root / "server.log"
    for _ in range(3):
        port = _free_port()
        options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        started = subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                  "-t", "60", "-o", options, "start"], capture_output=True, text=True, timeout=120)
        if started.returncode == 0:
            return port
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    unavailable(f"pg_ctl start failed ({started.returncode}): {started.stderr.strip()[-1000:]} {tail}".strip())
    raise AssertionError("unreachable")


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        unavailable(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _connected(url: str) -> Iterator[PostgresServer]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as error:
            unavailable(f"cannot connect to {make_url(url).render_as_string(hide_password=True)}: {error.orig}")
        yield PostgresServer(url, engine)
    finally:
        engine.dispose()


@contextmanager
def round_trips(database: Database) -> Iterator[list[str]]:
    """The messages ``database``'s connections send to PostgreSQL while the block runs that each
    wait for the server's answer: a Sync (the end of extended-protocol statements) or a simple
    Query. Connections taken from the pool inside the block are traced (libpq's own trace)."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace"
        with trace.open("w") as sink:
            traced = []

            def checked_out(connection: object, _record: object, _proxy: object) -> None:
                connection.pgconn.trace(sink.fileno())  # type: ignore[attr-defined]
                traced.append(connection)

            event.listen(database.engine, "checkout", checked_out)
            try:
                yield found
            finally:
                event.remove(database.engine, "checkout", checked_out)
                for connection in traced:
                    connection.pgconn.untrace()  # type: ignore[attr-defined]
        for line in trace.read_text().splitlines():  # [timestamp] F|B length message ...
            fields = line.split("\t")
            sender = fields.index("F") if "F" in fields[:2] else None
            if sender is not None and len(fields) > sender + 2 and fields[sender + 2].split(" ")[0] in ("Sync", "Query"):
                found.append(fields[sender + 2])
