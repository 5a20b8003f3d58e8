from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.database import Database
from tests import postgres

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_bert_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT directory built once per session; never modify it, copy it (``tiny_bert``)."""
    pytest.importorskip("transformers")
    from tests.tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-master"))


@pytest.fixture()
def tiny_bert(tiny_bert_master: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny BERT that a test may change."""
    return Path(shutil.copytree(tiny_bert_master, tmp_path / "tiny-bert"))


@pytest.fixture(scope="session")
def chinese_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Chinese demo trained on a tiny BERT and exported (``tests/chinese.py``), built once per
    session: ``bundles/v1`` (int8). Read-only."""
    pytest.importorskip("transformers")
    from tests.chinese import build_chinese_bundles

    return build_chinese_bundles(tmp_path_factory.mktemp("chinese"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it are skipped without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The session's PostgreSQL server (``tests/postgres.py``), started when a test first asks."""
    yield from postgres.server()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each engine: a new SQLite file, or a new schema on the session's
    PostgreSQL server (removed afterwards). Tests that take it run once per engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'supportbot.db'}"
        return
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url


@pytest.fixture()
def database(database_url: str) -> Iterator[Database]:
    """``database_url`` opened with this release's schema, on each engine; closed afterwards."""
    with Database.open(database_url) as database:
        yield database
