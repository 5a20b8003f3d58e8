"""The retraining runs, as the console shows them: one row per run in the database.

``supportbot retrain`` (from cron, the command line or the console's button) records a run when
it starts and how it ended: published, rejected by the gate, failed, interrupted, a dry run or
nothing to learn, with a summary (the gate's decision and its parts, the thresholds kept or
changed, the label check's findings) and the path of its full report. Every replica's console
reads the same rows.

Example::

    runs = RetrainRuns(database)
    run_id = runs.start("v20261201-020000", old_bundle="v1", started_by="cron")
    runs.finish(run_id, "published", new_bundle="v20261201-020000", summary={...}, report="/srv/.../report.md")
    runs.latest(10)[0].status       # "published"
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from knowledge.database import Database, retrain_runs


@dataclass(frozen=True)
class RetrainRun:
    id: int
    name: str
    started_at: str
    finished_at: str | None
    started_by: str
    status: str
    old_bundle: str | None
    new_bundle: str | None
    summary: dict[str, object]
    report: str | None


class RetrainRuns:
    def __init__(self, database: Database) -> None:
        self.database = database

    def start(self, name: str, old_bundle: str, started_by: str) -> int:
        """Record a run that starts now. Runs still marked running are marked interrupted: only one
        retraining runs at a time (it holds the workspace's lock), so they ended without saying so."""
        with self.database.begin() as conn:
            conn.execute(update(retrain_runs).where(retrain_runs.c.status == "running")
                         .values(status="interrupted", finished_at=_now()))
            return int(conn.execute(insert(retrain_runs).values(
                name=name, started_at=_now(), started_by=started_by, status="running", old_bundle=old_bundle,
                summary="{}").returning(retrain_runs.c.id)).scalar_one())

    def finish(self, run_id: int, status: str, new_bundle: str | None, summary: dict[str, object],
               report: str | None) -> None:
        with self.database.begin() as conn:
            conn.execute(update(retrain_runs).where(retrain_runs.c.id == run_id).values(
                status=status, finished_at=_now(), new_bundle=new_bundle, report=report,
                summary=json.dumps(summary, default=str)))

    def latest(self, limit: int = 20) -> list[RetrainRun]:
        """The newest runs first."""
        query = select(retrain_runs).order_by(retrain_runs.c.id.desc()).limit(limit)
        with self.database.connect() as conn:
            return [RetrainRun(r["id"], r["name"], r["started_at"], r["finished_at"], r["started_by"], r["status"],
                               r["old_bundle"], r["new_bundle"], json.loads(r["summary"] or "{}"), r["report"])
                    for r in conn.execute(query).mappings()]

    def running(self) -> RetrainRun | None:
        """The run in progress, if one is recorded as running."""
        return next((run for run in self.latest(5) if run.status == "running"), None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
