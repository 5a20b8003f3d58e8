"""The training workspace: what every bundle it built was trained on, and one lock.

Retraining needs the data the team started from, fixed evaluation sets that are never trained
on, and for each bundle its checkpoints (to compare with and to warm-start from) and the staff
labels it learnt. The workspace keeps a record per bundle, so after ``supportbot bundles activate
OLD`` the next ``supportbot retrain`` starts from OLD's checkpoints and record, with every label
given since (also those a later, rolled-back bundle used)::

    WORKSPACE/
      workspace.json        format, version; labels given before ``labels_from`` are in the base data
      base_intents.csv      the intent data the first bundle was trained on (text,label)
      base_queries.csv      labelled FAQ queries it was trained on (query,faq_id), if any
      eval_intents.csv      the fixed evaluation set (text,label), never trained on
      eval_queries.csv      fixed FAQ evaluation queries (query,faq_id), never trained on, if any
      bundles/VERSION/      one record per bundle: build.json, and the intents.csv and queries.csv
                            it was trained on
      checkpoints/VERSION/{intents,retriever}
      runs/STAMP/           one retraining: its data, report.json, report.md
      retrain.lock          held (``flock``) while a retraining runs

Example::

    workspace = Workspace.init(path, "v1", train=..., evaluation=..., queries=..., eval_queries=None,
                               intents_checkpoint=..., retriever_checkpoint=..., faq_revision=7)
    workspace.build("v1").faq_revision      # 7
    with workspace.lock():                  # WorkspaceBusy while another retraining holds it
        ...
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.errors import TrainingInputError

FORMAT = "supportbot-training-workspace"
VERSION = 2
BUILD_FORMAT = "supportbot-bundle-build"
LOCK = "retrain.lock"


class WorkspaceBusy(TrainingInputError):
    """Another retraining holds the workspace's lock."""


@dataclass(frozen=True)
class Build:
    """What one bundle was built from (``bundles/VERSION/build.json``)."""

    bundle: str
    intents_checkpoint: str  # relative to the workspace
    retriever_checkpoint: str
    faq_revision: int  # the knowledge base revision the retriever was trained on
    labels: tuple[int, ...] = ()  # ids of the staff labels it was trained on
    held_out: tuple[int, ...] = ()  # ids of labels held out of its training to measure it (rotation)
    excluded_intents: tuple[str, ...] = ()  # intents kept out of its run (``--exclude-intent``)
    created_at: str = field(default_factory=lambda: now())

    def seen(self) -> set[int]:
        """Every label this bundle's run took into account: trained on or held out."""
        return {*self.labels, *self.held_out}


class Workspace:
    def __init__(self, root: Path, labels_from: str) -> None:
        self.root = root
        self.labels_from = labels_from  # labels given before it are part of the base data

    @property
    def base_intents(self) -> Path:
        return self.root / "base_intents.csv"

    @property
    def base_queries(self) -> Path:
        return self.root / "base_queries.csv"

    @property
    def evaluation(self) -> Path:
        return self.root / "eval_intents.csv"

    @property
    def eval_queries(self) -> Path:
        return self.root / "eval_queries.csv"

    def record_dir(self, bundle: str) -> Path:
        return self.root / "bundles" / bundle

    def checkpoint(self, build: Build, kind: str) -> Path:
        return self.root / (build.intents_checkpoint if kind == "intents" else build.retriever_checkpoint)

    @classmethod
    def open(cls, root: Path) -> Workspace:
        """Open the workspace at ``root``; one written by an earlier version is upgraded first."""
        path = root / "workspace.json"
        if not path.exists() and (root / "state.json").exists():
            _upgrade_v1(root)
        data = _read_json(path, FORMAT, "no training workspace here; create one with `supportbot retrain init`")
        return cls(root, str(data.get("labels_from", "")))

    @classmethod
    def init(cls, root: Path, bundle: str, train: Path, evaluation: Path, queries: Path | None,
             eval_queries: Path | None, intents_checkpoint: Path, retriever_checkpoint: Path,
             faq_revision: int) -> Workspace:
        """Describe bundle ``bundle``: copy its data and checkpoints into ``root``.

        The given files may already lie in ``root`` (a second ``init`` over the same workspace).
        """
        for path in (train, evaluation, intents_checkpoint, retriever_checkpoint,
                     *(p for p in (queries, eval_queries) if p)):
            if not path.exists():
                raise TrainingInputError(f"{path}: not found")
        root.mkdir(parents=True, exist_ok=True)
        _copy(train, root / "base_intents.csv")
        _copy(evaluation, root / "eval_intents.csv")
        for source, name in ((queries, "base_queries.csv"), (eval_queries, "eval_queries.csv")):
            if source:
                _copy(source, root / name)
        target = root / "checkpoints" / bundle
        for kind, source in (("intents", intents_checkpoint), ("retriever", retriever_checkpoint)):
            if source.resolve() != (target / kind).resolve():
                shutil.rmtree(target / kind, ignore_errors=True)
                shutil.copytree(source, target / kind)
        workspace = cls(root, now())
        workspace._write_header()
        workspace.record(Build(bundle, f"checkpoints/{bundle}/intents", f"checkpoints/{bundle}/retriever",
                               faq_revision), root / "base_intents.csv",
                         root / "base_queries.csv" if queries else None)
        return workspace

    def build(self, bundle: str) -> Build | None:
        """The record of bundle ``bundle``, or None when this workspace did not build it."""
        path = self.record_dir(bundle) / "build.json"
        if not path.exists():
            return None
        data: dict[str, Any] = _read_json(path, BUILD_FORMAT, "")
        try:
            return Build(**{**data, "labels": tuple(map(int, data.get("labels", ()))),
                            "held_out": tuple(map(int, data.get("held_out", ()))),
                            "excluded_intents": tuple(map(str, data.get("excluded_intents", ())))})
        except (TypeError, ValueError) as error:
            raise TrainingInputError(f"{path}: {error}") from None

    def bundles(self) -> list[str]:
        """The bundles this workspace has records of, oldest name first."""
        folder = self.root / "bundles"
        return sorted(p.name for p in folder.iterdir() if (p / "build.json").is_file()) if folder.is_dir() else []

    def record(self, build: Build, intents: Path, queries: Path | None) -> None:
        """Keep ``build`` and the data it was trained on; written to a temp name, then renamed."""
        final = self.record_dir(build.bundle)
        temp = final.with_name(f".{build.bundle}.tmp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        shutil.copyfile(intents, temp / "intents.csv")
        if queries is not None and queries.exists():
            shutil.copyfile(queries, temp / "queries.csv")
        body = {"format": BUILD_FORMAT, "version": VERSION, **asdict(build)}
        (temp / "build.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(temp, final)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the workspace for one retraining; ``WorkspaceBusy`` names the one that holds it.

        An ``flock``: the operating system releases it when its process ends, however it ends,
        so a crashed or killed run never leaves the workspace locked.
        """
        path = self.root / LOCK
        handle = path.open("a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise WorkspaceBusy(f"another retraining is running ({holder}); only one runs at a time, "
                                    "so wait for it to finish") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, started {now()[:19].replace('T', ' ')} UTC")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def busy(self) -> str | None:
        """Who holds the lock ("pid 123, started ..."), or None when no retraining runs."""
        path = self.root / LOCK
        if not path.exists():
            return None
        with path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                return handle.read().strip() or "another process"
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def _write_header(self) -> None:
        temp = self.root / ".workspace.json.tmp"
        temp.write_text(json.dumps({"format": FORMAT, "version": VERSION, "labels_from": self.labels_from},
                                   indent=2) + "\n", encoding="utf-8")
        os.replace(temp, self.root / "workspace.json")


def _copy(source: Path, target: Path) -> None:
    """Copy a file, unless it already is ``target`` (``shutil.copyfile`` refuses that)."""
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)


def _read_json(path: Path, expected: str, missing: str) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingInputError(f"{path}: {missing or 'missing'}") from None
    except json.JSONDecodeError as error:
        raise TrainingInputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.pop("format", None) != expected or data.pop("version", None) != VERSION:
        raise TrainingInputError(f"{path}: not a {expected} version {VERSION} file")
    return data


def _upgrade_v1(root: Path) -> None:
    """A version 1 workspace (one ``state.json`` for the bundle in service, its data merged into
    ``intents.csv``) becomes version 2: that data is the base, that bundle the first record."""
    path = root / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        bundle, labels_until = str(state["bundle"]), str(state["labels_until"])
        build = Build(bundle, str(state["intents_checkpoint"]), str(state["retriever_checkpoint"]),
                      int(state["faq_revision"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise TrainingInputError(f"{path}: cannot upgrade this workspace ({error})") from None
    _copy(root / "intents.csv", root / "base_intents.csv")
    if (root / "queries.csv").exists():
        _copy(root / "queries.csv", root / "base_queries.csv")
    workspace = Workspace(root, labels_until)
    workspace.record(build, root / "base_intents.csv", root / "base_queries.csv")
    workspace._write_header()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
