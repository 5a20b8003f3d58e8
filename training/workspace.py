"""The training workspace: the data and checkpoints behind the bundle in service.

Retraining needs what the active bundle was trained on, a fixed evaluation set that is never
trained on, and the bundle's checkpoints (to compare with and to warm-start from)::

    WORKSPACE/
      state.json            which bundle this describes, its checkpoints, labels used so far
      intents.csv           the intent training data of that bundle (text,label)
      eval_intents.csv      the fixed evaluation set (text,label)
      queries.csv           labelled FAQ queries the retriever was trained on (query,faq_id)
      checkpoints/VERSION/{intents,retriever}
      runs/STAMP/           one retraining: its data, report.json, report.md

Example::

    workspace = Workspace.init(path, bundle="v1", train=..., evaluation=..., queries=...,
                               intents_checkpoint=..., retriever_checkpoint=...)
    Workspace.open(path).state.bundle       # "v1"
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from training.errors import TrainingInputError

FORMAT = "supportbot-training-workspace"
VERSION = 1


@dataclass(frozen=True)
class State:
    bundle: str  # the bundle version this workspace describes
    intents_checkpoint: str  # relative to the workspace
    retriever_checkpoint: str
    labels_until: str  # ISO time: labels given before it are already in intents.csv
    faq_revision: int  # the knowledge base revision the retriever was trained on


class Workspace:
    def __init__(self, root: Path, state: State) -> None:
        self.root = root
        self.state = state

    @property
    def intents(self) -> Path:
        return self.root / "intents.csv"

    @property
    def evaluation(self) -> Path:
        return self.root / "eval_intents.csv"

    @property
    def queries(self) -> Path:
        return self.root / "queries.csv"

    def checkpoint(self, kind: str) -> Path:
        return self.root / (self.state.intents_checkpoint if kind == "intents" else self.state.retriever_checkpoint)

    @classmethod
    def open(cls, root: Path) -> Workspace:
        path = root / "state.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingInputError(f"{path}: no training workspace here; create one with "
                                     "`supportbot retrain init`") from None
        except json.JSONDecodeError as error:
            raise TrainingInputError(f"{path}: not valid JSON ({error})") from None
        if data.pop("format", None) != FORMAT or data.pop("version", None) != VERSION:
            raise TrainingInputError(f"{path}: not a {FORMAT} version {VERSION} file")
        try:
            return cls(root, State(**data))
        except TypeError as error:
            raise TrainingInputError(f"{path}: {error}") from None

    @classmethod
    def init(cls, root: Path, bundle: str, train: Path, evaluation: Path, queries: Path | None,
             intents_checkpoint: Path, retriever_checkpoint: Path, faq_revision: int) -> Workspace:
        """Describe the bundle ``bundle``: copy its data and checkpoints into ``root``."""
        for path in (train, evaluation, intents_checkpoint, retriever_checkpoint, *([queries] if queries else [])):
            if not path.exists():
                raise TrainingInputError(f"{path}: not found")
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(train, root / "intents.csv")
        shutil.copyfile(evaluation, root / "eval_intents.csv")
        if queries:
            shutil.copyfile(queries, root / "queries.csv")
        target = root / "checkpoints" / bundle
        for kind, source in (("intents", intents_checkpoint), ("retriever", retriever_checkpoint)):
            if source.resolve() != (target / kind).resolve():
                shutil.rmtree(target / kind, ignore_errors=True)
                shutil.copytree(source, target / kind)
        state = State(bundle, f"checkpoints/{bundle}/intents", f"checkpoints/{bundle}/retriever", now(),
                      faq_revision)
        workspace = cls(root, state)
        workspace.save(state)
        return workspace

    def save(self, state: State) -> None:
        """Write ``state.json`` atomically."""
        self.state = state
        temp = self.root / ".state.json.tmp"
        temp.write_text(json.dumps({"format": FORMAT, "version": VERSION, **asdict(state)}, indent=2) + "\n",
                        encoding="utf-8")
        os.replace(temp, self.root / "state.json")

    def advance(self, bundle: str, intents_checkpoint: Path, retriever_checkpoint: Path, merged_intents: Path,
                merged_queries: Path | None, labels_until: str, faq_revision: int) -> None:
        """The retrained bundle is in service: its data becomes the new base."""
        shutil.copyfile(merged_intents, self.intents)
        if merged_queries is not None:
            shutil.copyfile(merged_queries, self.queries)
        self.save(replace(self.state, bundle=bundle,
                          intents_checkpoint=intents_checkpoint.relative_to(self.root).as_posix(),
                          retriever_checkpoint=retriever_checkpoint.relative_to(self.root).as_posix(),
                          labels_until=labels_until, faq_revision=faq_revision))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
