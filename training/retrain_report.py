"""What one retraining did: ``report.json`` for programs, ``report.md`` for people.

Every run writes both into its run directory, however it ends: published, rejected by the gate,
failed at a step, interrupted (Ctrl-C), a dry run, or nothing to learn. ``status`` says which;
``stopped_at`` and ``reason`` say where and why it stopped.

Example::

    report = RetrainReport(old_bundle="v1", run_dir="ws/runs/v2")
    with report.step("dataset"):
        ...
    report.finish("published")
    write_report(Path(report.run_dir), report)
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bot.models.manifest import BundleError
from knowledge.errors import KnowledgeError
from training.errors import TrainingInputError

STATUSES = ("running", "published", "rejected", "failed", "interrupted", "dry_run", "nothing_to_learn")


class RetrainFailure(RuntimeError):
    def __init__(self, step: str, reason: str, bundle: str) -> None:
        self.step = step
        self.reason = reason
        self.report: RetrainReport | None = None  # the failed run's report, as written to its folder
        super().__init__(f"step '{step}' failed: {reason}; bundle {bundle} stays in service")


class RetrainInterrupted(RuntimeError):
    """Ctrl-C (or SIGTERM turned into it) during a run; the report says which step it stopped."""

    def __init__(self, step: str, bundle: str, run_dir: str) -> None:
        self.step = step
        super().__init__(f"interrupted during step '{step}'; bundle {bundle} stays in service; "
                         f"report: {run_dir}/report.md")


@dataclass
class RetrainReport:
    old_bundle: str
    new_bundle: str | None = None
    published: bool = False
    status: str = "running"
    stopped_at: str = ""  # the step that stopped the run (failed, rejected or interrupted)
    reason: str = ""  # why it stopped, in one sentence
    dataset: dict[str, object] = field(default_factory=dict)
    labels: dict[str, object] = field(default_factory=dict)  # the label check (``training.labelcheck``)
    gate: dict[str, object] = field(default_factory=dict)
    thresholds: list[dict[str, object]] = field(default_factory=list)  # kept or changed, with why
    export: dict[str, object] = field(default_factory=dict)  # ``ExportResult.report()``
    retriever_retrained: bool = False
    warnings: list[str] = field(default_factory=list)  # the data check's findings (``training.datacheck``)
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""
    current_step: str = field(default="", repr=False)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        self.current_step = name
        try:
            yield
        except RetrainFailure:
            raise
        except (TrainingInputError, KnowledgeError, BundleError, OSError, ValueError) as error:
            raise RetrainFailure(name, str(error), self.old_bundle) from error
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)

    def finish(self, status: str, step: str = "", reason: str = "") -> None:
        assert status in STATUSES, status
        self.status, self.stopped_at, self.reason = status, step, reason

    def summary(self) -> dict[str, object]:
        """What the console shows of the run (``knowledge.retraining``): why it ended, the gate's
        decision and parts, the thresholds, the label check's findings."""
        return {"reason": self.reason, "stopped_at": self.stopped_at, "gate_rule": self.gate.get("rule", ""),
                "publish": self.gate.get("publish"), "parts": self.gate.get("groups", []),
                "thresholds": self.thresholds, "findings": self.labels.get("findings", []),
                "parity_gate": self.export.get("verdict", ""), "dataset": {
                    k: v for k, v in self.dataset.items() if k != "check"}}

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in vars(self).items() if key != "current_step"}


def write_report(run: Path, report: RetrainReport) -> None:
    """Write ``report.json`` and ``report.md`` into ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    (run / "report.md").write_text(markdown(run.name, report), encoding="utf-8")


def markdown(name: str, report: RetrainReport) -> str:
    outcome = {"published": f"published {report.new_bundle}", "rejected": "rejected by the gate",
               "failed": f"failed at step '{report.stopped_at}'", "interrupted": f"interrupted during step '{report.stopped_at}'",
               "dry_run": "dry run: nothing trained", "nothing_to_learn": "nothing new to learn",
               "running": "still running"}[report.status]
    lines = [f"# Retraining {name}", "", f"- outcome: **{outcome}**", f"- bundle in service before: {report.old_bundle}"]
    if report.reason:
        lines.append(f"- why: {report.reason}")
    gate = report.gate.get("rule", "not reached") if report.gate else "not reached"
    lines += [f"- gate: {gate}", f"- parity gate: {report.export.get('verdict', 'not reached')}",
              f"- data set: {json.dumps(report.dataset.get('summary', report.dataset))}",
              f"- retriever retrained: {report.retriever_retrained}",
              f"- seconds per step: {json.dumps(report.seconds)}", ""]
    lines += _gate_lines(report.gate)
    if report.thresholds:
        lines += ["## Thresholds", "", *[f"- {t['name']}: {t['note']}" for t in report.thresholds], ""]
    findings = report.labels.get("findings", []) if report.labels else []
    if isinstance(findings, list) and findings:
        lines += ["## Label check", ""]
        lines += [f"- {'BLOCKS the run' if f.get('blocking') else 'warning'}: {f.get('message')}"
                  + (f" Fix: {f.get('fix')}" if f.get("fix") else "") for f in findings if isinstance(f, dict)]
        lines.append("")
    if report.warnings:
        lines += ["## Data check", "", *[f"- warning: {line}" for line in report.warnings], ""]
    return "\n".join(lines)


def _gate_lines(gate: dict[str, object]) -> list[str]:
    groups = gate.get("groups") if gate else None
    if not isinstance(groups, list) or not groups:
        return []
    lines = ["## Old and new bundle on held-out questions", "", "| part | items | right before | right after | "
             "lost | gained |", "|---|---|---|---|---|---|"]
    for group in groups:
        if isinstance(group, dict):
            lines.append(f"| {group['name']} | {group['items']} | {group['old_right']} | {group['new_right']} | "
                         f"{group['lost']} | {group['gained']} |")
    return [*lines, ""]
