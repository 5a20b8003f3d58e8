"""Retraining from conversation logs: labels -> data set -> train -> compare -> gate -> publish.

One call of ``retrain`` runs the whole loop for a training workspace (``training.workspace``):

1. data set: the active bundle's training data plus every staff label since the last run,
   deduplicated, with the fixed evaluation set's texts kept out (``training.feedback``), and the
   checks the training steps run on it (``training.datacheck``: blank, repeated and conflicting
   rows, intents too rare to validate). ``--dry-run`` stops after this step, so it fails exactly
   where a real run would fail for its data, and warns about what a real run would warn about;
2. training: the intent classifier (warm-started from the active checkpoint's encoder by
   default) and, when FAQ labels arrived or the FAQ changed, the retriever; when the active
   checkpoints are one shared encoder (``supportbot train joint``), both together, every time,
   so the new bundle again runs one encoder per message;
3. evaluation of the old and the new checkpoint on the same evaluation and regression sets;
4. the promotion gate (``training.promotion``);
5. the export (``export.publish``, in this process) with its own parity gate, published without
   switching ``current``; its result (version, the gate's measurements and failures, a model
   kept in fp32) goes into the report;
6. activation: through a running bot's ``POST /admin/reload`` (it swaps only once the new
   bundle loads) or, with no bot to tell, by switching ``current``.

A failure at any step raises ``RetrainFailure`` naming the step; the bundle in service is
untouched and the workspace still describes it.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.models.manifest import BundleError
from bot.models.store import activate, resolve_current
from export.gate import format_table
from export.publish import export_bundle
from export.request import EXPORT_ERRORS, ExportOptions, ExportRequest, ExportResult
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.formats import write_faq_file
from knowledge.faq.store import FaqStore
from training.args import IntentTrainingArgs, RetrieverTrainingArgs
from training.data import read_faq, read_intents, read_queries, split_queries, write_intents, write_queries
from training.errors import TrainingInputError
from training.feedback import Label, RetrainDataset, build_dataset
from training.promotion import GateRules, Scores, judge, score
from training.workspace import Workspace, now


class RetrainFailure(RuntimeError):
    def __init__(self, step: str, reason: str, bundle: str) -> None:
        self.step = step
        super().__init__(f"step '{step}' failed: {reason}; bundle {bundle} stays in service")


@dataclass(frozen=True)
class RetrainOptions:
    workspace: Path
    bundles_dir: Path
    database_url: str
    since: str | None = None  # default: labels given since the last retraining
    dry_run: bool = False
    notify_url: str | None = None  # a running bot to reload, e.g. http://127.0.0.1:8080
    admin_token: str = field(default="", repr=False)
    rules: GateRules = GateRules()
    warm_start: bool = True
    intent_args: IntentTrainingArgs = IntentTrainingArgs()
    retriever_args: RetrieverTrainingArgs = RetrieverTrainingArgs()
    version: str | None = None  # the new bundle's name (default from the time)
    # How the new bundle is quantized and gated; a model whose int8 form fails the gate ships in fp32.
    export: ExportOptions = ExportOptions(fp32_fallback=True)


@dataclass
class RetrainReport:
    old_bundle: str
    new_bundle: str | None = None
    published: bool = False
    dataset: dict[str, object] = field(default_factory=dict)
    gate: dict[str, object] = field(default_factory=dict)
    export: dict[str, object] = field(default_factory=dict)  # ``ExportResult.report()``
    retriever_retrained: bool = False
    warnings: list[str] = field(default_factory=list)  # the data check's findings (``training.datacheck``)
    seconds: dict[str, float] = field(default_factory=dict)
    run_dir: str = ""

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except RetrainFailure:
            raise
        except (TrainingInputError, BundleError, OSError, ValueError) as error:
            raise RetrainFailure(name, str(error), self.old_bundle) from error
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)


def retrain(options: RetrainOptions, log: Callable[[str], None] = print) -> RetrainReport:
    """Run the loop described in the module docstring; return what happened."""
    workspace = Workspace.open(options.workspace)
    active = _active_version(options.bundles_dir)
    report = RetrainReport(old_bundle=active)
    if active != workspace.state.bundle:
        raise RetrainFailure("check", f"the workspace describes bundle {workspace.state.bundle} but {active} "
                             "is active; retrain from the workspace of the active bundle", active)
    stamp = options.version or time.strftime("v%Y%m%d-%H%M%S", time.gmtime())
    run = options.workspace / "runs" / stamp
    run.mkdir(parents=True, exist_ok=True)
    report.run_dir = str(run)
    database = Database.open(options.database_url)
    store, reviews = FaqStore(database), Reviews(database)
    until = now()
    base = str(workspace.checkpoint("intents") / "model") if options.warm_start else options.intent_args.base_model
    intent_args = replace(options.intent_args, base_model=base)
    joint = _one_encoder(workspace)
    with report.step("dataset"):
        dataset, faq_changed, regression = _dataset(workspace, store, reviews, options.since, run)
        report.dataset = dataset.report()
        log(f"data set: {json.dumps(report.dataset)}")
        # The checks training runs on this data, run here for dry and real runs alike, so a dry run
        # that passes means the real run will not stop for its data once training has started.
        report.dataset["check"], report.warnings = _check_data(run, intent_args, options.retriever_args,
                                                               joint or bool(dataset.added_queries) or faq_changed)
        for line in report.warnings:
            log(f"warning: {line}")
        if not dataset.added_intent_rows and not dataset.added_queries and not faq_changed:
            raise RetrainFailure("dataset", "nothing new to learn since the last retraining", active)
    if options.dry_run:
        _write_report(run, report)
        return report
    target = options.workspace / "checkpoints" / stamp
    retriever = workspace.checkpoint("retriever")
    if joint:
        with report.step("train_joint"):
            from training.joint import JointInputs, train_joint

            train_joint(JointInputs(run / "intents.csv", None, run / "faq.csv", run / "queries.csv"), target,
                        intent_args, options.retriever_args, log=_logged)
            retriever, report.retriever_retrained = target / "retriever", True
    else:
        with report.step("train_intents"):
            from training.intents import train_intents

            train_intents(run / "intents.csv", None, target / "intents", intent_args, log=_logged)
    if (dataset.added_queries or faq_changed) and not report.retriever_retrained:
        with report.step("train_retriever"):
            from training.retriever import train_retriever

            train_retriever(run / "faq.csv", run / "queries.csv", target / "retriever", options.retriever_args)
            retriever, report.retriever_retrained = target / "retriever", True
    with report.step("evaluate"):
        old = _scores(workspace.checkpoint("intents"), workspace.evaluation, regression)
        new = _scores(target / "intents", workspace.evaluation, regression)
        decision = judge(old, new, options.rules)
        report.gate = decision.report()
        log(f"gate: {'publish' if decision.publish else 'reject'}: {decision.rule}")
    if not decision.publish:
        _write_report(run, report)
        raise RetrainFailure("gate", decision.rule, active)
    with report.step("export"):
        # The parity gate measures on the fixed evaluation set: thousands of rows resolve a 0.3-point
        # tolerance, where the few hundred held out during training cannot (one row is 0.2 points).
        request = ExportRequest(target / "intents", retriever, options.bundles_dir, options.export,
                                heldout_intents=workspace.evaluation, version=stamp, activate=False)
        exported = _export(request, active)
        report.export = exported.report()
        _log_export(exported, log)
    if not exported.passed:
        _write_report(run, report)
        raise RetrainFailure("export", f"parity gate {exported.verdict}", active)
    with report.step("activate"):
        _activate(options, stamp)
    report.new_bundle, report.published = stamp, True
    workspace.advance(stamp, target / "intents", retriever, run / "intents.csv",
                      run / "queries.csv" if report.retriever_retrained else None, until, store.kb_revision())
    _write_report(run, report)
    return report


def _dataset(workspace: Workspace, store: FaqStore, reviews: Reviews, since: str | None, run: Path
             ) -> tuple[RetrainDataset, bool, list[tuple[str, str | None]]]:
    """The new data set written into ``run``, whether the FAQ changed, and the regression set."""
    labels = [Label(*label) for label in reviews.labels_since(since or workspace.state.labels_until)]
    entries = store.list()
    faq_ids = {entry.faq_id for entry in entries}
    evaluation = read_intents(workspace.evaluation)
    base_queries = read_queries(workspace.queries, faq_ids) if workspace.queries.exists() else []
    dataset = build_dataset(read_intents(workspace.intents), base_queries, labels,
                            [row.text for row in evaluation], faq_ids)
    write_intents(run / "intents.csv", dataset.intents)
    write_queries(run / "queries.csv", dataset.queries)
    write_faq_file([e for e in entries if e.enabled], run / "faq.csv")
    regression = [(t.text, t.value) for t in reviews.confirmed_since("1970-01-01")]
    return dataset, store.kb_revision() != workspace.state.faq_revision, regression


def _check_data(run: Path, intent_args: IntentTrainingArgs, retriever_args: RetrieverTrainingArgs,
                with_retriever: bool) -> tuple[dict[str, object], list[str]]:
    """Run the data checks of the training steps on the data set in ``run``; return the intent data
    report and its warnings. Raises ``TrainingInputError`` where training would."""
    from training.intents import prepare_splits

    report = prepare_splits(run / "intents.csv", None, intent_args).report
    if with_retriever:
        entries = read_faq(run / "faq.csv")
        queries = read_queries(run / "queries.csv", {entry.faq_id for entry in entries})
        split_queries(queries, retriever_args.valid_fraction, retriever_args.seed)
    return report.to_dict(), report.warnings()


def _logged(line: str) -> None:
    """The training steps' data warnings: the dataset step logged them already."""


def _one_encoder(workspace: Workspace) -> bool:
    """Whether the active intent and retriever checkpoints hold one shared encoder."""
    from export.checkpoint import CheckpointError, encoder_digest

    try:
        return encoder_digest(workspace.checkpoint("intents") / "model") == \
            encoder_digest(workspace.checkpoint("retriever") / "model")
    except CheckpointError:  # no weights to compare: training says what is wrong
        return False


def _scores(checkpoint: Path, evaluation: Path, regression: list[tuple[str, str | None]]) -> Scores:
    from training.checkpoint import load_intent_predictor
    from training.evaluation import evaluate_intents

    meta, predict = load_intent_predictor(checkpoint)
    rows = read_intents(evaluation)
    result = evaluate_intents(predict, meta, rows)
    predicted = result.decided if meta.oos_label in result.gold else result.top1
    regression_predicted: list[str] = []
    if regression:
        logits = predict([text for text, _ in regression])
        regression_predicted = [meta.labels[i] for i in logits.argmax(axis=1)]
    return score(result.gold, predicted, [str(label) for _, label in regression], regression_predicted)


def _export(request: ExportRequest, active: str) -> ExportResult:
    try:
        return export_bundle(request)
    except EXPORT_ERRORS as error:
        raise RetrainFailure("export", str(error), active) from error


def _log_export(result: ExportResult, log: Callable[[str], None]) -> None:
    log(f"export: bundle {result.version}: parity gate {result.verdict}")
    log(format_table(result.metrics))


def _activate(options: RetrainOptions, version: str) -> None:
    if not options.notify_url:
        activate(options.bundles_dir, version)
        return
    request = urllib.request.Request(
        options.notify_url.rstrip("/") + "/admin/reload", data=json.dumps({"version": version}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {options.admin_token}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
    except urllib.error.HTTPError as error:
        raise ValueError(f"the bot refused the reload (HTTP {error.code}): {error.read()[:300]!r}") from None
    except urllib.error.URLError as error:
        raise ValueError(f"cannot reach the bot at {options.notify_url}: {error.reason}") from None


def _active_version(bundles_dir: Path) -> str:
    try:
        return resolve_current(bundles_dir).name
    except BundleError:
        raise RetrainFailure("check", f"no active bundle in {bundles_dir}", "(none)") from None


def _write_report(run: Path, report: RetrainReport) -> None:
    data = {key: value for key, value in vars(report).items()}
    (run / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    gate = report.gate.get("rule", "not reached") if report.gate else "not reached"
    lines = [f"# Retraining {run.name}", "", f"- bundle in service before: {report.old_bundle}",
             f"- published: {report.new_bundle if report.published else 'no'}", f"- gate: {gate}",
             f"- parity gate: {report.export.get('verdict', 'not reached')}",
             f"- data set: {json.dumps(report.dataset)}", f"- retriever retrained: {report.retriever_retrained}",
             f"- seconds per step: {json.dumps(report.seconds)}", ""]
    if report.warnings:
        lines += ["## Data check", "", *[f"- warning: {line}" for line in report.warnings], ""]
    (run / "report.md").write_text("\n".join(lines), encoding="utf-8")
