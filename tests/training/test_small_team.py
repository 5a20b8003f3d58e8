"""A small team's labelling session on the demo shop, end to end with a tiny model.

The session of ``benchmarks/small_team.py``: two new FAQ entries with attached phrasings, two new
intents routed to a person, junk marked out of scope; then ``retrain``. The gate must publish a
bundle that answers phrasings of the new themes nobody labelled better than the old one, and a
rollback followed by a retrain must work.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from benchmarks.small_team import DEMO_OOS_SHARE, FRESH, JUNK, LABELLED, THEMES, ask, label_session
from bot.cli import main
from export.request import ExportOptions
from knowledge.database import Database
from knowledge.faq.formats import read_faq_file, write_faq_file
from knowledge.faq.store import FaqStore
from training.args import IntentTrainingArgs, RetrieverTrainingArgs
from training.gateset import GateItem
from training.outcomes import Checkpoints, answers
from training.retrain import RetrainFailure, RetrainOptions, retrain
from training.retrain_cli import SHIPPED_ROUTING
from training.thresholds import MIN_INSCOPE_ROWS, MIN_OOS_ROWS
from training.workspace import Workspace

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo"


def _words() -> set[str]:
    text = " ".join(path.read_text(encoding="utf-8") for path in DEMO.iterdir() if path.suffix in (".csv", ".yaml"))
    text += " ".join([*LABELLED, *JUNK, *(t for t, _ in FRESH), *(th.question + " " + th.answer for th in THEMES)])
    return set(re.findall(r"[a-z]+", text.lower()))


def _intent_args(base: str, learning_rate: float, steps: int) -> IntentTrainingArgs:
    return IntentTrainingArgs(base_model=base, learning_rate=learning_rate, head_learning_rate=1e-2, layer_decay=1.0,
                              epochs=1, min_train_steps=steps, batch_size=16, precision="fp32",
                              oos_share=DEMO_OOS_SHARE)


def _retriever_args() -> RetrieverTrainingArgs:
    return RetrieverTrainingArgs(epochs=1, batch_size=16, learning_rate=1e-3, precision="fp32", document="question",
                                 max_length=48)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop serving bundle v1 (one tiny encoder for intents and FAQ search), with its workspace."""
    pytest.importorskip("transformers")
    from tests.tiny import build_tiny_bert
    from training.joint import JointInputs, train_joint

    root = tmp_path_factory.mktemp("small-team")
    base = build_tiny_bert(root / "tiny", extra_words=_words(), hidden_size=64)
    data = root / "data"
    store = FaqStore(Database.open(f"sqlite:///{data / 'supportbot.db'}"))
    store.import_entries(read_faq_file(DEMO / "faq.yaml").entries, "demo")
    write_faq_file(store.list(), root / "faq.csv")
    train_joint(JointInputs(DEMO / "intents.csv", None, root / "faq.csv", DEMO / "queries.csv"), root / "ck",
                _intent_args(str(base), 1e-3, 300), _retriever_args(), log=lambda line: None)
    assert main(["export", "--intents", str(root / "ck" / "intents"), "--retriever", str(root / "ck" / "retriever"),
                 "--out", str(data / "bundles"), "--version", "v1", "--quantization", "none",
                 "--heldout-intents", str(DEMO / "intents_eval.csv")]) == 0
    Workspace.init(data / "training", "v1", DEMO / "intents.csv", DEMO / "intents_eval.csv", DEMO / "queries.csv",
                   root / "ck" / "retriever" / "heldout_queries.csv", root / "ck" / "intents", root / "ck" / "retriever",
                   store.kb_revision())
    label_session(store.database, ask(store.database, LABELLED + JUNK))
    store.database.close()
    return data


def _options(data: Path, version: str, dry_run: bool = False) -> RetrainOptions:
    return RetrainOptions(workspace=data / "training", bundles_dir=data / "bundles", dry_run=dry_run,
                          database_url=f"sqlite:///{data / 'supportbot.db'}", intent_args=_intent_args("", 1e-3, 300),
                          retriever_args=_retriever_args(), version=version, routing_file=SHIPPED_ROUTING,
                          export=ExportOptions(quantization="none"))


def _fresh_right(data: Path, bundle: str) -> int:
    """Phrasings of the new themes nobody labelled that ``bundle`` answers as staff meant."""
    workspace = Workspace.open(data / "training")
    build = workspace.build(bundle)
    assert build is not None
    items = [GateItem(text, theme.name, theme.kind, "fresh") for text, theme in FRESH]
    database = Database.open(f"sqlite:///{data / 'supportbot.db'}")
    entries = FaqStore(database).list()
    database.close()
    checkpoints = Checkpoints(workspace.checkpoint(build, "intents"), workspace.checkpoint(build, "retriever"))
    return sum(answers(checkpoints, items, entries).right)


def test_the_gate_publishes_a_bundle_that_knows_the_new_themes_then_rollback_and_retrain(
        shop: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(shop, tmp_path / "data", symlinks=True))
    logged: list[str] = []
    dry = retrain(_options(data, "dry", dry_run=True), log=logged.append)
    assert dry.status == "dry_run" and not [f for f in dry.labels["findings"] if f["blocking"]]  # type: ignore[union-attr]
    assert not any("has no route" in line for line in logged)  # staff routed both new intents
    report = retrain(_options(data, "v2"), log=logged.append)
    assert report.published, report.reason
    parts = {group["name"]: group for group in report.gate["groups"]}  # type: ignore[union-attr]
    new = parts["new themes"]
    assert new["new_right"] > new["old_right"], report.gate["rule"]
    # every threshold is listed. The FAQ's are kept: 10 held-out queries are far too few. The
    # out-of-scope rule is re-calibrated only with the rows it asks for behind it (every
    # out-of-scope row of the demo's training file, 48, and 30 in-scope validation rows), else
    # kept as it was: the new intents stay out of validation, which can leave it a row short
    assert [t["name"] for t in report.thresholds] == ["out-of-scope rule", "FAQ answer threshold", "FAQ answer margin",
                                                   "FAQ search scoring"]
    assert [t["changed"] for t in report.thresholds[1:]] == [False, False, False]
    rule = report.thresholds[0]
    counts = re.match(r"re-calibrated on (\d+) in-scope and (\d+) out-of-scope", rule["note"])
    if counts:
        assert int(counts[1]) >= MIN_INSCOPE_ROWS and int(counts[2]) >= MIN_OOS_ROWS
    else:
        kept = re.match(r"kept: the new model's validation has (\d+) in-scope row\(s\) and (\d+) out-of-scope",
                        rule["note"])
        assert kept and (int(kept[1]) < MIN_INSCOPE_ROWS or int(kept[2]) < MIN_OOS_ROWS), rule["note"]
        assert rule["new"] == rule["old"] and not rule["changed"]
    assert _fresh_right(data, "v2") > _fresh_right(data, "v1")
    # rollback, then retrain: the loop starts from v1 and learns every label again
    assert main(["bundles", "activate", "v1", "--dir", str(data / "bundles")]) == 0
    try:
        again = retrain(_options(data, "v3"), log=lambda line: None)
    except RetrainFailure as failure:  # the gate may reject the run: it still ran, from v1
        assert failure.step == "gate" and failure.report is not None, failure
        again = failure.report
    assert again.old_bundle == "v1" and again.status in ("published", "rejected"), again.reason
    assert again.dataset["new_intents"] == ["loyalty_programme", "wholesale"]
