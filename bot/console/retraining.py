"""The Retraining page: the learning loop as staff see it, and its buttons.

``/console/retraining`` shows the bundle in service and the others (each can be rolled back to),
every retraining run with its gate decision and reasons, the parts old and new were compared on,
the thresholds kept or changed, and the label check's findings (``knowledge.retraining``: runs
from cron and the command line are there too), and the latest labels, each of which can be
undone or changed.

- "Check labels" runs ``supportbot retrain --dry-run`` and "Retrain now" runs ``supportbot
  retrain``, in the background, one at a time (the workspace's lock also stops a run started
  elsewhere). When a run publishes, this bot loads the new bundle beside the old and swaps; when
  it fails, the page shows the last line it wrote (its whole output is in
  ``training/console-retrain.log``). Without a training workspace both are disabled, and the
  page says how to create one.
- "Roll back" loads an older bundle the same way, then points ``current`` at it; the next
  retraining starts from its record in the workspace.
- Undo / change a label: the turn goes back to the review queue, or gets the new label; a
  question attached to a FAQ entry leaves (or joins) its phrasings, live at once.

Example::

    add_retraining(console)      # in build_console: the background job and its clean-up
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.admin.faq_changes import change_faq
from bot.console.pages import problem, render, reviews, see_other, signed_in
from bot.core.brain import BrainKeeper, BundleModel
from bot.http import parse_number
from bot.keys import DATABASE, KEEPER, METRICS, SETTINGS, STORE
from bot.metrics import Metrics
from bot.models.bundle import load_bundle
from bot.models.manifest import BundleError, Manifest, read_manifest
from bot.models.store import activate, check_version_name, current_version, list_versions
from bot.settings import Settings
from knowledge.conversations.corrections import PhrasingChange, phrasing_changes
from knowledge.conversations.reviews import InvalidLabel, NotLabelled, ReviewLabel
from knowledge.errors import KnowledgeError
from knowledge.retraining import RetrainRuns

routes = web.RouteTableDef()
LABELS_SHOWN = 30
# What makes a directory a training workspace (``training.workspace``, which the console may not
# import): its header, or the state file of a version 1 workspace that opening it upgrades.
WORKSPACE_FILES = ("workspace.json", "state.json")
FAILURE_TAIL = 4096  # bytes of a failed run's output read back for its last line
NOTICES = {"started": "Retraining started. This page shows it when it ends.",
           "checking": "Checking the labels: a dry run started.", "rolled_back": "Rolled back. The bot answers "
           "with that bundle now.", "undone": "Label undone. The question is back in the review queue.",
           "changed": "Label changed."}


@dataclass
class RetrainJob:
    """The one retraining this console started, while it runs."""

    process: asyncio.subprocess.Process | None = None
    task: asyncio.Task[None] | None = None
    what: str = ""  # "retraining" | "label check"
    by: str = ""
    output: Path | None = None  # the log its output is appended to
    offset: int = 0  # where its output begins in that log
    failed: str = ""  # once it ended with an error: the last line it wrote

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def close(self, _app: web.Application) -> None:
        """Shutting down: a run in progress is stopped as Ctrl-C stops it (it writes its report)."""
        if self.running() and self.process is not None:
            self.process.terminate()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.process.wait(), 30)


JOB = web.AppKey("retrain_job", RetrainJob)


def add_retraining(console: web.Application) -> None:
    job = RetrainJob()
    console[JOB] = job
    console.on_cleanup.append(job.close)


@routes.get("/retraining")
async def retraining_page(request: web.Request) -> web.Response:
    settings, keeper = request.config_dict[SETTINGS], request.config_dict[KEEPER]
    runs = await asyncio.to_thread(RetrainRuns(request.config_dict[DATABASE]).latest, 20)
    bundles = await asyncio.to_thread(_bundles, request)
    labels = await asyncio.to_thread(reviews(request).labels, None, LABELS_SHOWN)
    entries = await asyncio.to_thread(request.config_dict[STORE].list)
    job = request.app[JOB]
    workspace = _workspace(settings)
    return await render(request, "retraining.html", runs=runs, bundles=bundles, serving=keeper.current.version,
                        current=current_version(settings.bundles_dir), labels=labels, entries=entries,
                        job=job, busy=job.running() or any(run.status == "running" for run in runs[:1]),
                        no_workspace=None if await asyncio.to_thread(has_workspace, workspace) else workspace,
                        done=NOTICES.get(request.query.get("done", ""), ""))


@routes.post("/retraining/start")
async def start(request: web.Request) -> web.Response:
    form = await request.post()
    dry_run = form.get("dry_run") == "1"
    job = request.app[JOB]
    running = await asyncio.to_thread(RetrainRuns(request.config_dict[DATABASE]).running)
    if job.running() or running is not None:
        return await problem(request, 409, "Already running", "A retraining is running; one runs at a time. "
                             "This page shows it when it ends.", back="/console/retraining")
    settings = request.config_dict[SETTINGS]
    if not await asyncio.to_thread(has_workspace, _workspace(settings)):
        return await problem(request, 409, "Not started", f"No training workspace in {_workspace(settings)}, so there "
                             "is nothing to retrain from. Create one with `supportbot retrain init` (`supportbot "
                             "retrain init --help` says what it needs), then try again.", back="/console/retraining")
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(settings.data_dir), "SUPPORTBOT_DB": settings.database_url}
    log = _workspace(settings) / "console-retrain.log"
    with log.open("ab") as output:
        job.offset, job.output, job.failed = output.tell(), log, ""
        job.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "retrain", "--started-by", signed_in(request).name,
            *(["--dry-run"] if dry_run else []), env=env, stdout=output, stderr=asyncio.subprocess.STDOUT)
    job.what, job.by = ("label check" if dry_run else "retraining"), signed_in(request).name
    job.task = asyncio.create_task(_follow(_Serving.of(request), job))
    raise see_other(f"/console/retraining?done={'checking' if dry_run else 'started'}")


@routes.post("/retraining/activate")
async def roll_back(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        version = check_version_name(str(form.get("version", "")))
        await _Serving.of(request).serve(version, activate_it=True)
    except (BundleError, OSError, ValueError) as error:
        return await problem(request, 422, "Not rolled back", f"{error}; the bot still serves "
                             f"{request.config_dict[KEEPER].current.version}.", back="/console/retraining")
    raise see_other("/console/retraining?done=rolled_back")


@routes.post("/labels/undo")
async def undo_label(request: web.Request) -> web.Response:
    form = await request.post()
    turn = parse_number(str(form.get("turn", "")))
    try:
        if turn is None:
            raise NotLabelled("no question was chosen")
        undone = await asyncio.to_thread(reviews(request).unlabel, [turn])
        await _follow_phrasings(request, undone, [])
    except KnowledgeError as error:
        return await problem(request, 409, "Not undone", str(error), back="/console/retraining#labels")
    raise see_other("/console/retraining?done=undone#labels")


@routes.post("/labels/change")
async def change_label(request: web.Request) -> web.Response:
    form = await request.post()
    turn = parse_number(str(form.get("turn", "")))
    kind = str(form.get("kind", ""))
    value = str(form.get("faq_id" if kind == "faq" else "intent", "")).strip() or None
    try:
        if turn is None:
            raise NotLabelled("no question was chosen")
        if kind == "faq":
            await asyncio.to_thread(request.config_dict[STORE].get, value or "")
        old, new = await asyncio.to_thread(reviews(request).relabel, [turn], kind, value, signed_in(request).name)
        await _follow_phrasings(request, old, new)
    except (InvalidLabel, KnowledgeError) as error:
        return await problem(request, 400 if isinstance(error, InvalidLabel) else 409, "Not changed", str(error),
                             back="/console/retraining#labels")
    raise see_other("/console/retraining?done=changed#labels")


async def _follow_phrasings(request: web.Request, old: list[ReviewLabel], new: list[ReviewLabel]) -> None:
    store = request.config_dict[STORE]
    changes: list[PhrasingChange] = await asyncio.to_thread(phrasing_changes, old, new, store.get)
    for change in changes:
        await change_faq(request, store.edit, change.faq_id, change.base_revision, signed_in(request).name,
                         alternatives=change.alternatives)


def has_workspace(path: Path) -> bool:
    """Whether ``path`` holds a training workspace that ``supportbot retrain`` can open."""
    return any((path / name).is_file() for name in WORKSPACE_FILES)


def _workspace(settings: Settings) -> Path:
    """The training workspace ``supportbot retrain`` uses when started from here: in the data directory."""
    return settings.data_dir / "training"


def last_line(log: Path, offset: int) -> str:
    """The last line written to ``log`` after ``offset`` (a run's error names what went wrong)."""
    with log.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(offset, size - FAILURE_TAIL))
        lines = file.read().decode("utf-8", "replace").splitlines()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


async def _follow(serving: _Serving, job: RetrainJob) -> None:
    """Wait for the run; when it published (``current`` moved), serve the new bundle here too; when
    it failed, keep its last line for the page."""
    assert job.process is not None
    code = await job.process.wait()
    if code != 0 and job.output is not None:
        try:
            line = await asyncio.to_thread(last_line, job.output, job.offset)
        except OSError:  # the log was removed: the exit status is all there is to say
            line = ""
        job.failed = line or f"it ended with exit status {code} and wrote nothing"
    version = await asyncio.to_thread(current_version, serving.settings.bundles_dir)
    if version is not None and version != serving.keeper.current.version:
        with contextlib.suppress(BundleError, OSError, ValueError):  # the bot keeps serving; the page shows the run
            await serving.serve(version, activate_it=False)


@dataclass(frozen=True)
class _Serving:
    """What swapping the served bundle needs, taken from the application (a task outlives its request)."""

    settings: Settings
    keeper: BrainKeeper
    metrics: Metrics

    @classmethod
    def of(cls, request: web.Request) -> _Serving:
        return cls(request.config_dict[SETTINGS], request.config_dict[KEEPER], request.config_dict[METRICS])

    async def serve(self, version: str, activate_it: bool) -> None:
        """Load ``version`` beside the bundle in service, swap, then (if asked) point ``current`` at it."""
        bundle = await self.keeper.in_background(load_bundle, self.settings.bundles_dir / version, self.settings.threads)
        brain = await self.keeper.replace_model(BundleModel(bundle))
        if activate_it:  # only once it serves, so a restart comes back to the same bundle
            await asyncio.to_thread(activate, self.settings.bundles_dir, version)
        self.metrics.set_bundle(brain.version)


@dataclass(frozen=True)
class BundleRow:
    version: str
    created_at: str
    intents: int
    answer: float
    margin: float
    oos: str


def _bundles(request: web.Request) -> list[BundleRow]:
    bundles_dir = request.config_dict[SETTINGS].bundles_dir
    rows = []
    for version in reversed(list_versions(bundles_dir)):
        try:
            manifest: Manifest = read_manifest(bundles_dir / version)
        except BundleError:
            continue
        thresholds, rule = manifest.retriever.thresholds, manifest.intent.oos
        rows.append(BundleRow(version, manifest.created_at, len(manifest.intent.labels), thresholds.answer,
                              thresholds.margin, f"{rule.threshold:.3f} ({rule.score})"))
    return rows
