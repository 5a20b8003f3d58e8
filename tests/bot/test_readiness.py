"""Liveness and readiness: ``/healthz`` while the process serves, ``/readyz`` only while its
database answers too, so a load balancer takes a replica out (and Kubernetes does not restart it)
when the database is gone. The outage is real: a PostgreSQL database that refuses connections."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import create_app
from bot.settings import Settings
from tests import postgres
from tests.bot.service import ADMIN_TOKEN
from tests.fakes import KeywordModel


async def _client(database_url: str, tmp_path: Path, aiohttp_client) -> TestClient:  # type: ignore[no-untyped-def]  # aiohttp's fixture
    settings = Settings(data_dir=tmp_path / "data", db=database_url, admin_token=ADMIN_TOKEN, review_sample_rate=0.0)
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


async def test_a_replica_with_its_database_is_ready(database_url: str, tmp_path: Path, aiohttp_client) -> None:  # type: ignore[no-untyped-def]  # aiohttp's fixture
    client = await _client(database_url, tmp_path, aiohttp_client)
    response = await client.get("/readyz")
    assert response.status == 200 and (await response.json())["status"] == "ready"


@pytest.fixture()
def own_database(postgres_server: postgres.PostgresServer) -> Iterator[str]:
    """A PostgreSQL database of this test's own, which it may close to connections."""
    name = f"readyz_{uuid.uuid4().hex[:12]}"
    with postgres_server.engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with postgres_server.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_a_replica_whose_database_is_gone_is_alive_but_not_ready(  # type: ignore[no-untyped-def]  # aiohttp's fixture
        postgres_server: postgres.PostgresServer, own_database: str, tmp_path: Path, aiohttp_client) -> None:
    url = make_url(postgres_server.url).set(database=own_database).render_as_string(hide_password=False)
    client = await _client(url, tmp_path, aiohttp_client)
    assert (await client.get("/readyz")).status == 200
    with postgres_server.engine.connect() as conn:  # the outage: no new connections, the open ones cut
        conn.execute(text(f'ALTER DATABASE "{own_database}" ALLOW_CONNECTIONS false'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                     {"name": own_database})
    for _ in range(2):  # the cut pooled connection, then a refused new one
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503 and body["status"] == "unavailable", body
        assert body["reason"].startswith("database: "), body
        assert "postgres@" not in body["reason"]  # no connection URL in the answer
    health = await client.get("/healthz")
    assert health.status == 200  # alive: restarting it would not bring the database back
    with postgres_server.engine.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{own_database}" ALLOW_CONNECTIONS true'))
    for _ in range(20):  # ready again as soon as the database answers
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("/readyz did not recover after the database came back")
