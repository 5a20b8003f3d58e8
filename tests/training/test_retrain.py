"""The learning loop end to end with tiny models: labels in, a gated bundle out, rollback."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.models.oos import OosRule
from export.checkpoint import read_intent_checkpoint, write_intent_json
from export.gate import Tolerances
from export.request import ExportOptions
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database, review_labels
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore
from knowledge.retraining import RetrainRuns
from tests.training.helpers import TOY_FAQ, TOY_INTENTS, TOY_OOS, TOY_QUERIES, write_csv
from training.args import IntentTrainingArgs, RetrieverTrainingArgs
from training.promotion import GateRules
from training.retrain import RetrainFailure, RetrainInterrupted, RetrainOptions, retrain
from training.workspace import Workspace, WorkspaceBusy

LENIENT = GateRules(max_net_loss=10_000, alpha=1e-12)  # tiny models trained for seconds: the wiring is tested here
NEW_LABELS = [("hiya there", "intent", "greeting"), ("parcel not here yet", "intent", "track_order"),
              ("cancel my subscription", "intent", "cancel"), ("cancel the plan please", "intent", "cancel"),
              ("stop my subscription", "intent", "cancel"), ("what's the weather in rome", "out_of_scope", None),
              ("refund how long", "faq", "f3"), ("buy me a car", "dismissed", None)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, tiny_bert_master: Path) -> Path:
    """A data directory serving bundle v1 trained on the toy data, with a training workspace."""
    return _deploy(tmp_path_factory.mktemp("deployment"), tiny_bert_master, joint=False)


@pytest.fixture(scope="module")
def joint_deployment(tmp_path_factory: pytest.TempPathFactory, tiny_bert_master: Path) -> Path:
    """The same, with bundle v1 of one shared encoder (``supportbot train joint``)."""
    return _deploy(tmp_path_factory.mktemp("joint-deployment"), tiny_bert_master, joint=True)


def _deploy(root: Path, tiny_bert_master: Path, joint: bool) -> Path:
    from training.intents import train_intents
    from training.joint import JointInputs, train_joint
    from training.retriever import train_retriever

    data = root / "data"
    train = [(t, label) for label, texts in TOY_INTENTS.items() for t in texts[:9]] + [(t, "oos") for t in TOY_OOS]
    evaluation = [(t, label) for label, texts in TOY_INTENTS.items() for t in texts[9:]]
    write_csv(root / "train.csv", ["text", "label"], train)
    write_csv(root / "eval.csv", ["text", "label"], evaluation)
    write_csv(root / "faq.csv", ["faq_id", "question", "answer"], TOY_FAQ)
    write_csv(root / "queries.csv", ["query", "faq_id"], TOY_QUERIES)
    store = FaqStore(Database.open(f"sqlite:///{data / 'supportbot.db'}"))
    store.import_entries([FaqEntry(i, q, a) for i, q, a in TOY_FAQ], "test")
    if joint:
        train_joint(JointInputs(root / "train.csv", None, root / "faq.csv", root / "queries.csv"), root / "ck",
                    fast_intents(str(tiny_bert_master)), fast_retriever(tiny_bert_master))
    else:
        train_intents(root / "train.csv", None, root / "ck" / "intents", fast_intents(str(tiny_bert_master)))
        train_retriever(root / "faq.csv", root / "queries.csv", root / "ck" / "retriever",
                        fast_retriever(tiny_bert_master))
    assert main(["export", "--intents", str(root / "ck" / "intents"), "--retriever", str(root / "ck" / "retriever"),
                 "--out", str(data / "bundles"), "--version", "v1", "--quantization", "none"]) == 0
    Workspace.init(data / "training", "v1", root / "train.csv", root / "eval.csv", root / "queries.csv", None,
                   root / "ck" / "intents", root / "ck" / "retriever", store.kb_revision())
    log, reviews = ConversationLog(store.database), Reviews(store.database)
    ids = log.record([TurnRecord("web:s1", "web", text, "fallback", "sorry", 1.0, needs_review=True)
                      for text, _, _ in NEW_LABELS])
    for turn_id, (_, kind, value) in zip(ids, NEW_LABELS):
        reviews.label([turn_id], kind, value, "ana")
    store.database.close()
    return data


def fast_intents(base: str) -> IntentTrainingArgs:
    return IntentTrainingArgs(base_model=base, learning_rate=3e-3, head_learning_rate=1e-2, layer_decay=1.0,
                              epochs=1, min_train_steps=40, batch_size=8, valid_fraction=0.3, max_valid_rows=12,
                              precision="fp32")


def fast_retriever(base: Path) -> RetrieverTrainingArgs:
    return RetrieverTrainingArgs(base_model=str(base), epochs=1, batch_size=4, learning_rate=1e-3,
                                 valid_fraction=0.25, precision="fp32", document="question")


@pytest.fixture()
def data(deployment: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(deployment, tmp_path / "data", symlinks=True))


def options(data: Path, tiny_bert_master: Path, **changes: object) -> RetrainOptions:
    base = RetrainOptions(workspace=data / "training", bundles_dir=data / "bundles",
                          database_url=f"sqlite:///{data / 'supportbot.db'}", rules=LENIENT,
                          intent_args=fast_intents(""), retriever_args=fast_retriever(tiny_bert_master),
                          version="v2", export=ExportOptions(quantization="none"))
    return replace(base, **changes)  # type: ignore[arg-type]  # each test passes fields of their own types


def current(data: Path) -> str:
    return (data / "bundles" / "current").resolve().name


def test_dry_run_describes_the_data_set_and_changes_nothing(data: Path, tiny_bert_master: Path) -> None:
    report = retrain(options(data, tiny_bert_master, dry_run=True), log=lambda line: None)
    # "cancel" has three fresh labels: one is held out to ask both bundles, so five rows are added
    assert report.dataset["added_intent_rows"] == 5 and report.dataset["held_out"] == 1
    assert report.dataset["added_queries"] == 1
    assert report.dataset["new_intents"] == ["cancel"] and report.dataset["dismissed"] == 1
    assert current(data) == "v1" and not (data / "training" / "checkpoints" / "v2").exists()


def test_a_one_example_intent_stops_dry_and_real_runs_before_training(data: Path, tiny_bert_master: Path) -> None:
    """The label check runs in both, before any training, and offers the fixes; excluding the intent
    (or labelling more) lets the run go on."""
    database = Database.open(f"sqlite:///{data / 'supportbot.db'}")
    [turn] = ConversationLog(database).record([TurnRecord("web:s2", "web", "ten pallets of mattresses", "fallback",
                                                          "sorry", 1.0, needs_review=True)])
    Reviews(database).label([turn], "intent", "wholesale", "ana")
    database.close()
    logged: list[str] = []
    for dry_run, version in ((True, "dry"), (False, "v2")):
        with pytest.raises(RetrainFailure) as caught:
            retrain(options(data, tiny_bert_master, dry_run=dry_run, version=version), log=logged.append)
        assert caught.value.step == "labels" and "New intent 'wholesale' has 1 example" in str(caught.value)
        assert "--exclude-intent wholesale" in str(caught.value) and f"logs relabel {turn}" in str(caught.value)
        assert not (data / "training" / "checkpoints" / version).exists() and current(data) == "v1"
    assert any(line.startswith("error: New intent 'wholesale'") for line in logged)
    assert any("New intent 'cancel' has no route" in line for line in logged)  # a warning only
    report = (data / "training" / "runs" / "dry" / "report.md").read_text(encoding="utf-8")
    assert "BLOCKS the run: New intent 'wholesale' has 1 example" in report
    real = retrain(options(data, tiny_bert_master, exclude_intents=("wholesale",)), log=lambda line: None)
    assert real.published and "wholesale" not in real.dataset["new_intents"]
    assert "wholesale" not in json.loads((data / "bundles" / "v2" / "manifest.json").read_text())["intent"]["labels"]
    build = Workspace.open(data / "training").build("v2")
    assert build is not None and len(build.labels) + len(build.held_out) == 7  # wholesale stays new for the next run


def test_retrain_publishes_a_new_bundle_then_rollback(data: Path, tiny_bert_master: Path) -> None:
    report = retrain(options(data, tiny_bert_master), log=lambda line: None)
    assert report.published and report.new_bundle == "v2" and current(data) == "v2"
    assert report.retriever_retrained and str(report.gate["rule"]).endswith("no part worse")
    # the toy validation split is far too small to re-calibrate anything: every threshold is kept, and said so
    assert [(t["name"], t["changed"]) for t in report.thresholds] == [
        ("out-of-scope rule", False), ("FAQ answer threshold", False), ("FAQ answer margin", False),
        ("FAQ search scoring", False)]
    assert all(str(t["note"]).startswith("kept: ") for t in report.thresholds)
    assert report.export["verdict"] == "passed" and report.export["published"] == str(data / "bundles" / "v2")
    assert report.export["failures"] == [] and set(report.export["metrics"]) == {"pytorch_fp32", "onnx_fp32"}
    # the gate re-measured the new checkpoints on their own held-out splits and found training's numbers
    checked = report.export["checkpoint_metrics"]
    assert isinstance(checked, dict) and set(checked["checkpoint_recorded"]) >= {"accuracy", "oos_recall", "recall_at_1"}
    assert set(report.seconds) >= {"dataset", "train_intents", "train_retriever", "evaluate", "export", "activate"}
    # a warm start: v1's encoder, trained further at the warm share of the learning rate
    trained = json.loads((data / "training" / "checkpoints" / "v2" / "intents" / "training_args.json").read_text())
    assert trained["base_model"] == str(data / "training" / "checkpoints" / "v1" / "intents" / "model")
    assert trained["learning_rate"] == pytest.approx(3e-3 * RetrainOptions.warm_learning_rate)
    workspace = Workspace.open(data / "training")
    build = workspace.build("v2")
    assert build is not None and len(build.labels) == 6 and len(build.held_out) == 1  # the dismissed one aside
    assert "stop my subscription" in (workspace.record_dir("v2") / "intents.csv").read_text()
    assert "cancel" in (data / "bundles" / "v2" / "manifest.json").read_text()
    for dry_run in (True, False):  # the labels were used; the dry run says so as the real run does
        again = retrain(options(data, tiny_bert_master, version="v3", dry_run=dry_run), log=lambda line: None)
        assert again.status == "nothing_to_learn" and not again.published and current(data) == "v2"
    assert not (data / "training" / "checkpoints" / "v3").exists()
    assert main(["bundles", "activate", "v1", "--dir", str(data / "bundles")]) == 0  # rollback
    assert current(data) == "v1"
    # after the rollback the loop starts from v1's record: every label is new to v1 again
    report = retrain(options(data, tiny_bert_master, version="v4"), log=lambda line: None)
    assert report.published and current(data) == "v4" and report.dataset["added_intent_rows"] == 5
    assert Workspace.open(data / "training").bundles() == ["v1", "v2", "v4"]
    database = Database.open(f"sqlite:///{data / 'supportbot.db'}")
    runs = RetrainRuns(database).latest()  # what the console lists
    database.close()
    assert [(r.name, r.status, r.old_bundle, r.new_bundle) for r in runs] == [
        ("v4", "published", "v1", "v4"), ("v3", "nothing_to_learn", "v2", None), ("v3", "nothing_to_learn", "v2", None),
        ("v2", "published", "v1", "v2")]
    assert str(runs[0].summary["gate_rule"]).endswith("no part worse") and runs[0].report.endswith("report.md")


def test_failed_export_leaves_the_bundle_in_service(data: Path, tiny_bert_master: Path) -> None:
    # int8 never reproduces PyTorch exactly, so a cosine of 1.0 fails the parity gate
    strict = ExportOptions(tolerances=Tolerances(min_cosine=1.0), fp32_fallback=False)
    with pytest.raises(RetrainFailure) as caught:
        retrain(options(data, tiny_bert_master, version="v2", export=strict), log=lambda line: None)
    assert caught.value.step == "export" and "v1 stays in service" in str(caught.value)
    assert "parity gate failed" in str(caught.value) and "embedding cosine to PyTorch" in str(caught.value)
    assert current(data) == "v1" and Workspace.open(data / "training").bundles() == ["v1"]
    assert not (data / "bundles" / "v2").exists() and not (data / "training" / "checkpoints" / "v2").exists()
    export = json.loads((data / "training" / "runs" / "v2" / "report.json").read_text())["export"]
    assert export["version"] == "v2" and export["published"] is None and "onnx_int8" in export["metrics"]
    assert {(f["model"], f["metric"], f["limit"]) for f in export["failures"]} >= {("intent", "cosine", 1.0)}


def test_the_gate_scores_faq_search_as_the_bot_does(data: Path, tmp_path: Path) -> None:
    """Where the bot fuses its lexical score into FAQ search, the gate does too: an item counts
    as right when customers would get its answer. With lexical search alone, a query sharing no
    word with the FAQ scores 0 and is not answered, whatever its cosine."""
    from bot.models.manifest import RetrievalThresholds
    from export.checkpoint import read_retriever_checkpoint, write_retriever_json
    from training.gateset import GateItem
    from training.outcomes import Checkpoints, answers

    workspace = Workspace.open(data / "training")
    build = workspace.build("v1")
    assert build is not None
    retriever = Path(shutil.copytree(workspace.checkpoint(build, "retriever"), tmp_path / "retriever"))
    entries = [FaqEntry(i, q, a) for i, q, a in TOY_FAQ]
    items = [GateItem("zzyzx quux", "f1", "faq", "old data"), GateItem("how do i delete my account", "f4", "faq",
                                                                         "old data")]
    for weight, answered in ((0.0, True), (1.0, False)):
        checkpoint = read_retriever_checkpoint(retriever)
        write_retriever_json(replace(checkpoint, thresholds=RetrievalThresholds(0.01, 0.0, "test"),
                                     lexical_weight=weight))
        predicted = answers(Checkpoints(workspace.checkpoint(build, "intents"), retriever), items, entries).predicted
        assert predicted[1] == "f4"
        assert (predicted[0] != "") == answered, (weight, predicted)


def test_gate_rejection_publishes_nothing(data: Path, tiny_bert_master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.retrain
    from training.outcomes import Answers, Checkpoints

    def worse_when_new(checkpoints: Checkpoints, items: list[object], entries: object) -> Answers:
        new = "checkpoints/v2" in str(checkpoints.intents)  # the candidate gets everything wrong
        return Answers(tuple(not new for _ in items), tuple("" for _ in items))

    monkeypatch.setattr(training.retrain, "answers", worse_when_new)
    with pytest.raises(RetrainFailure) as caught:
        retrain(options(data, tiny_bert_master, rules=GateRules()), log=lambda line: None)
    assert "old data: intents lost" in str(caught.value)
    assert caught.value.step == "gate" and current(data) == "v1"
    assert not (data / "training" / "checkpoints" / "v2").exists()  # a rejected model is not kept
    report = json.loads((data / "training" / "runs" / "v2" / "report.json").read_text())
    assert report["status"] == "rejected" and report["stopped_at"] == "gate"


def test_a_bundle_the_workspace_did_not_build_is_refused(data: Path, tiny_bert_master: Path) -> None:
    shutil.copytree(data / "bundles" / "v1", data / "bundles" / "v0")  # a bundle exported by hand
    manifest = data / "bundles" / "v0" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": "v1"', '"version": "v0"'))
    assert main(["bundles", "activate", "v0", "--dir", str(data / "bundles")]) == 0
    with pytest.raises(RetrainFailure, match="bundle v0 is active but the workspace has no record .*it has: v1"):
        retrain(options(data, tiny_bert_master), log=lambda line: None)


def test_only_one_retraining_runs_at_a_time(data: Path, tiny_bert_master: Path) -> None:
    workspace = Workspace.open(data / "training")
    with workspace.lock():
        assert workspace.busy() is not None and "pid" in str(workspace.busy())
        with pytest.raises(WorkspaceBusy, match="another retraining is running .*pid"):
            retrain(options(data, tiny_bert_master, dry_run=True), log=lambda line: None)
    assert workspace.busy() is None


def test_ctrl_c_leaves_a_report_and_no_checkpoint(data: Path, tiny_bert_master: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import training.intents

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(training.intents, "train_intents", interrupted)
    with pytest.raises(RetrainInterrupted, match="interrupted during step 'train_intents'; bundle v1 stays"):
        retrain(options(data, tiny_bert_master), log=lambda line: None)
    report = json.loads((data / "training" / "runs" / "v2" / "report.json").read_text())
    assert report["status"] == "interrupted" and report["stopped_at"] == "train_intents"
    assert "interrupted during step 'train_intents'" in (data / "training" / "runs" / "v2" / "report.md").read_text()
    assert current(data) == "v1" and not (data / "training" / "checkpoints" / "v2").exists()
    assert Workspace.open(data / "training").busy() is None
    database = Database.open(f"sqlite:///{data / 'supportbot.db'}")
    [run] = RetrainRuns(database).latest()
    database.close()
    assert run.status == "interrupted" and run.summary["stopped_at"] == "train_intents"


def test_a_shared_encoder_is_retrained_as_one(joint_deployment: Path, tmp_path: Path, tiny_bert_master: Path) -> None:
    from bot.models.bundle import load_bundle
    from training.retrain import _one_encoder

    data = Path(shutil.copytree(joint_deployment, tmp_path / "data", symlinks=True))
    assert load_bundle(data / "bundles" / "v1").shared
    # v1 as `train joint --nearest-vote 0.5 --preserve-base 2 --oos-share 0.25 --oos-exposure 0.5` would
    # have written it:
    # the retrain keeps its vote and trains and calibrates as it was trained
    head = data / "training" / "checkpoints" / "v1" / "intents" / "head.npz"
    with np.load(head) as arrays:
        np.savez(head, **{**dict(arrays), "vote_weight": np.float32(0.5)})
    saved = data / "training" / "checkpoints" / "v1" / "intents" / "training_args.json"
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "preserve_base": 2.0, "oos_share": 0.25,
                                 "oos_exposure": 0.5}))
    # ... and its out-of-scope rule's score: another one than v1's training chose (keeping everything
    # in scope, so the gate's old answers lose nothing by it)
    intents = read_intent_checkpoint(saved.parent)
    score = "energy" if intents.oos.score == "max_softmax" else "max_softmax"
    write_intent_json(replace(intents, oos=OosRule(score, 1.0, -1e9, "set by the test")))
    report = retrain(options(data, tiny_bert_master), log=lambda line: None)
    assert report.published and current(data) == "v2" and report.retriever_retrained
    assert "train_joint" in report.seconds and "train_intents" not in report.seconds
    bundle = load_bundle(data / "bundles" / "v2")
    assert bundle.shared and "cancel" in bundle.manifest.intent.labels
    assert bundle.head.vote_weight == 0.5 and bundle.head.reference_labels is not None
    assert len(bundle.head.reference_labels) == len(bundle.head.reference)
    workspace = Workspace.open(data / "training")
    build = workspace.build("v2")
    assert build is not None
    trained = json.loads((workspace.checkpoint(build, "intents") / "training_args.json").read_text())
    assert trained["preserve_base"] == 2.0 and trained["oos_share"] == 0.25 and trained["oos_score"] == score
    assert trained["oos_exposure"] == 0.5
    assert read_intent_checkpoint(workspace.checkpoint(build, "intents")).oos.score == score
    # the intent staff labels brought is learnt from every labelled phrasing the gate left it
    assert trained["train_only"] == ["cancel"]
    assert "kept wholly for training (cancel)" in " ".join(report.warnings)
    heldout = read_intent_checkpoint(workspace.checkpoint(build, "intents")).heldout_path.read_text()
    assert ",cancel" not in heldout
    assert _one_encoder(workspace.checkpoint(build, "intents"), workspace.checkpoint(build, "retriever"))


def test_init_again_from_the_workspace_own_files(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``retrain init`` pointed at files already in the workspace (as a team re-running the set-up does)."""
    ws = data / "training"
    argv = ["retrain", "--workspace", str(ws), "--bundles", str(data / "bundles"),
            "--db", f"sqlite:///{data / 'supportbot.db'}", "init", "--train", str(ws / "base_intents.csv"),
            "--eval", str(ws / "eval_intents.csv"), "--queries", str(ws / "base_queries.csv"),
            "--intents-checkpoint", str(ws / "checkpoints" / "v1" / "intents"),
            "--retriever-checkpoint", str(ws / "checkpoints" / "v1" / "retriever")]
    assert main(argv) == 0
    assert "describes bundle v1" in capsys.readouterr().out
    assert (ws / "eval_queries.csv").exists()  # the retriever checkpoint's held-out queries by default


def test_nothing_to_learn_exits_0(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = Database.open(f"sqlite:///{data / 'supportbot.db'}")
    with database.begin() as conn:  # every label given long before the workspace was created
        conn.execute(review_labels.update().values(created_at="2000-01-01T00:00:00"))
    database.close()
    argv = ["retrain", "--workspace", str(data / "training"), "--bundles", str(data / "bundles"),
            "--db", f"sqlite:///{data / 'supportbot.db'}", "--version", "v2"]
    assert main(argv) == 0
    assert "nothing new to learn" in capsys.readouterr().out


@pytest.mark.parametrize("share", ["0", "1.5", "-0.3"])
def test_a_warm_learning_rate_outside_0_1_is_one_clear_error(data: Path, share: str) -> None:
    argv = ["retrain", "--workspace", str(data / "training"), "--bundles", str(data / "bundles"),
            "--db", f"sqlite:///{data / 'supportbot.db'}", "--warm-learning-rate", share]
    with pytest.raises(SystemExit, match=r"warm learning rate must lie in \(0, 1\]"):
        main(argv)
    assert not (data / "training" / "checkpoints" / "v2").exists()
