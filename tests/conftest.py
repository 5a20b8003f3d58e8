from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_bert_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT directory built once per session; never modify it, copy it (``tiny_bert``)."""
    pytest.importorskip("transformers")
    from tests.tiny import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-master"))


@pytest.fixture()
def tiny_bert(tiny_bert_master: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny BERT that a test may change."""
    return Path(shutil.copytree(tiny_bert_master, tmp_path / "tiny-bert"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it are skipped without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA
