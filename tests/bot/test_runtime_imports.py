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


def test_shared_contracts_import_no_framework() -> None:
    """The one home of each contract that training, export and the runtime share is torch-free,
    so the runtime can import it and training cannot grow a second, torch-side copy of it."""
    modules = loaded_after("import bot.models.oos, bot.models.manifest, bot.models.store, "
                           "knowledge.faq.documents, knowledge.faq.formats, knowledge.database, export.checkpoint")
    assert modules.isdisjoint({"torch", "transformers", "sentence_transformers", "optimum", "training"}), \
        modules & {"torch", "transformers", "sentence_transformers", "optimum", "training"}


def test_knowledge_loads_no_model_runtime() -> None:
    modules = loaded_after("import knowledge.faq.cli, knowledge.conversations.cli, knowledge.staff")
    assert modules.isdisjoint({*FORBIDDEN, "bot", "onnxruntime", "tokenizers"}), \
        modules & {*FORBIDDEN, "bot", "onnxruntime", "tokenizers"}


# Which module may import which (bot/ never imports training code; knowledge/ no model code) is
# checked on every module's syntax tree in tests/test_architecture.py.
