"""The runtime loader must stay torch-free: checked in a fresh interpreter."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.toy_bundle import build_toy_bundle

pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path
from bot.models.bundle import load_bundle
from bot.models.store import activate, resolve_current
bundles = Path(sys.argv[1])
activate(bundles, "v1")
result = load_bundle(resolve_current(bundles)).infer(["hello", "where is my order"])
assert result.embeddings.shape == (2, 8), result.embeddings.shape
forbidden = {"torch", "transformers", "optimum", "onnx", "export", "training"}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print("heavy:", heavy)
"""


def test_loading_and_running_a_bundle_imports_no_torch(tmp_path: Path) -> None:
    build_toy_bundle(tmp_path, "v1")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "heavy: []"
