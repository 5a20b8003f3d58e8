"""The training workspace: records per bundle, the upgrade from version 1, the lock."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.helpers import write_csv
from training.errors import TrainingInputError
from training.workspace import Build, Workspace, WorkspaceBusy


def _checkpoints(root: Path) -> tuple[Path, Path]:
    for kind in ("intents", "retriever"):
        (root / "ck" / kind).mkdir(parents=True)
        (root / "ck" / kind / "weights").write_text(kind)
    return root / "ck" / "intents", root / "ck" / "retriever"


def test_init_records_the_first_bundle_and_accepts_its_own_files(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["text", "label"], [("hi", "greeting")])
    evaluation = write_csv(tmp_path / "eval.csv", ["text", "label"], [("hello", "greeting")])
    intents, retriever = _checkpoints(tmp_path)
    ws = Workspace.init(tmp_path / "ws", "v1", train, evaluation, None, None, intents, retriever, 3)
    build = ws.build("v1")
    assert ws.bundles() == ["v1"] and build is not None
    assert build == Build("v1", "checkpoints/v1/intents", "checkpoints/v1/retriever", 3, created_at=build.created_at)
    # the same files again, from inside the workspace: no SameFileError
    again = Workspace.init(tmp_path / "ws", "v1", ws.base_intents, ws.evaluation, None, None,
                           ws.root / "checkpoints/v1/intents", ws.root / "checkpoints/v1/retriever", 4)
    assert again.build("v1").faq_revision == 4  # type: ignore[union-attr]
    assert (ws.root / "checkpoints/v1/intents/weights").read_text() == "intents"
    with pytest.raises(TrainingInputError, match="missing.csv: not found"):
        Workspace.init(tmp_path / "ws", "v1", tmp_path / "missing.csv", evaluation, None, None, intents, retriever, 1)


def test_a_version_1_workspace_is_upgraded(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    write_csv(ws / "intents.csv", ["text", "label"], [("hi", "greeting"), ("label from before", "refund")])
    write_csv(ws / "eval_intents.csv", ["text", "label"], [("hello", "greeting")])
    (ws / "state.json").write_text(json.dumps({
        "format": "supportbot-training-workspace", "version": 1, "bundle": "v7",
        "intents_checkpoint": "checkpoints/v7/intents", "retriever_checkpoint": "checkpoints/v7/retriever",
        "labels_until": "2026-11-30T10:00:00.000+00:00", "faq_revision": 12}))
    opened = Workspace.open(ws)
    assert opened.labels_from == "2026-11-30T10:00:00.000+00:00" and opened.bundles() == ["v7"]
    assert "label from before" in opened.base_intents.read_text()
    build = opened.build("v7")
    assert build is not None and build.faq_revision == 12 and build.labels == ()


def test_the_lock_is_released_when_its_process_dies(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from training.workspace import Workspace\n"
        f"with Workspace(Path({str(tmp_path)!r}), '').lock():\n"
        "    print('held', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert f"pid {holder.pid}" in str(ws.busy())
        with pytest.raises(WorkspaceBusy, match=f"pid {holder.pid}"), ws.lock():
            pass
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert ws.busy() is None
    with ws.lock():
        assert ws.busy() is not None
