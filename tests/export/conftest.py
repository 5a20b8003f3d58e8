from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from tests.export.checkpoints import write_intent_checkpoint, write_retriever_checkpoint


@pytest.fixture(scope="session")
def checkpoints(tiny_bert_master: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(intents, retriever) checkpoint directories over two different tiny BERTs, as separately
    trained models are; never modify them."""
    from tests.tiny import build_tiny_bert

    root = tmp_path_factory.mktemp("checkpoints")
    other = build_tiny_bert(root / "other-tiny-bert", seed=1)
    return (write_intent_checkpoint(tiny_bert_master, root / "intents"),
            write_retriever_checkpoint(other, root / "retriever"))


@pytest.fixture(scope="session")
def shared_checkpoints(tiny_bert_master: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(intents, retriever) checkpoints of one shared encoder, as ``supportbot train joint`` writes."""
    root = tmp_path_factory.mktemp("shared-checkpoints")
    return (write_intent_checkpoint(tiny_bert_master, root / "intents", max_length=128),
            write_retriever_checkpoint(tiny_bert_master, root / "retriever"))


@pytest.fixture(scope="session")
def published(checkpoints: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundles directory holding ``v1``, exported through the command line; read-only."""
    bundles = tmp_path_factory.mktemp("published") / "bundles"
    intents, retriever = checkpoints
    status = main(["export", "--intents", str(intents), "--retriever", str(retriever), "--out", str(bundles),
                   "--version", "v1"])
    assert status == 0
    return bundles
