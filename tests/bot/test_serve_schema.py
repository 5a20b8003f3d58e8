"""``supportbot serve`` refuses a database whose schema is behind: one line naming the command to
run, before it loads a model or opens a port; on both engines."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine

from knowledge.database import Database
from tests.knowledge.old_schemas import FIRST_RELEASE

ROOT = Path(__file__).resolve().parents[2]


def serve(database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_DB": database_url}
    return subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_serve_refuses_a_first_release_database_in_one_line(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    FIRST_RELEASE.create_all(engine)
    engine.dispose()
    done = serve(database_url, tmp_path / "data")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "supportbot serve: error: the database schema is at revision 0001 (recognised by its tables; no revision "
        "recorded), behind this release's 0006: run `supportbot db upgrade` first"]


def test_after_the_upgrade_serve_gets_past_the_database(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    FIRST_RELEASE.create_all(engine)
    engine.dispose()
    env = {**os.environ, "SUPPORTBOT_DB": database_url}
    upgraded = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0 and upgraded.stdout.endswith(" from 0001 to 0006\n"), upgraded.stderr
    Database.open(database_url).close()  # current now: opens without complaint
    done = serve(database_url, tmp_path / "data")  # no bundle in this data directory: the next check fails
    assert done.returncode == 1 and "schema" not in done.stderr and "make demo-bundle" in done.stderr
