"""The runtime never loads a deep-learning framework, training or export code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "transformers", "sentence_transformers", "optimum", "training", "export")


def loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    return set(result.stdout.split())


def test_serving_app_imports_no_training_stack() -> None:
    modules = loaded_after("import bot.app, bot.commands")
    assert modules.isdisjoint(FORBIDDEN), modules & set(FORBIDDEN)


def test_cli_help_imports_no_framework() -> None:
    modules = loaded_after("from bot.cli import build_parser\nbuild_parser()")
    assert modules.isdisjoint({"torch", "transformers", "sentence_transformers", "optimum"})


def test_runtime_sources_never_import_training_code() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        if path.name == "cli.py" and path.parent.name == "bot":
            continue  # the command-line root names each package's command module, lazily
        text = path.read_text(encoding="utf-8")
        for name in FORBIDDEN:
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path} imports {name}"


def test_knowledge_imports_no_model_code() -> None:
    for path in (ROOT / "knowledge").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in (*FORBIDDEN, "bot", "onnxruntime"):
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path} imports {name}"
