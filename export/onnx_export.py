"""Hugging Face encoder -> ONNX: a plain ``last_hidden_state`` graph and its fused (optimised) twin.

Optimum's Python API exports the plain transformer graph (no sentence-transformers pooling,
which the runtime does in numpy). ``ORTOptimizer`` at level O2 then fuses attention, GELU and
layer norms into onnxruntime's contrib operators: the graph dynamic int8 quantization works on.
Static (QDQ) quantization needs the plain graph instead (type inference fails on fused operators
and leaves them in float), so both are kept.

Example::

    exported = export_onnx(Path("ckpt/model"), Path("/tmp/work/intent"))
    exported.plain, exported.optimized, exported.tokenizer, exported.pad_token
"""
from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

OPTIMIZATION_LEVEL = "O2"  # O3 adds GELU approximation: a numeric change the gate would have to absorb
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


class ExportError(Exception):
    """The model could not be turned into ONNX; the message names the model directory."""


@dataclass(frozen=True)
class OnnxExport:
    plain: Path  # model.onnx as exported
    optimized: Path  # fused graph; equals ``plain`` when Optimum cannot fuse this architecture
    tokenizer: Path  # tokenizer.json
    tokenizer_files: tuple[Path, ...]  # tokenizer.json and the other tokenizer files found
    pad_token: str


def _ignore_export_warnings() -> None:
    """Silence the three warnings a successful TorchScript export of BERT always emits.

    Optimum 2.1 exports through torch's legacy TorchScript exporter (deprecated since torch 2.9),
    and tracing BERT's attention mask registers a constant. Optimum validates the exported outputs
    against PyTorch, and the parity gate checks them again, so these carry no information here.
    """
    import torch

    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export",
                            category=DeprecationWarning)
    warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning,
                            module=r"torch\.onnx")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)


def export_plain(model_dir: Path, out_dir: Path) -> Path:
    """Export ``model_dir`` to ``out_dir/model.onnx`` with inputs ids/mask(/types), output
    ``last_hidden_state`` [batch, seq, hidden]; dynamic batch and sequence axes."""
    from optimum.exporters.onnx import main_export

    with warnings.catch_warnings():
        _ignore_export_warnings()
        try:
            main_export(str(model_dir), out_dir, task="feature-extraction", library_name="transformers",
                        device="cpu", do_validation=True)
        except (OSError, ValueError, KeyError) as error:
            raise ExportError(f"{model_dir}: ONNX export failed: {error}") from error
    path = out_dir / "model.onnx"
    if not path.is_file():
        raise ExportError(f"{model_dir}: the exporter wrote no model.onnx into {out_dir}")
    return path


def optimize_graph(onnx_dir: Path) -> Path:
    """Fuse the graph in ``onnx_dir/model.onnx`` into ``model_optimized.onnx``; return its path.

    Architectures Optimum cannot fuse keep the plain graph (onnxruntime still applies its own
    generic optimisations when it opens the session).
    """
    from optimum.onnxruntime import AutoOptimizationConfig, ORTOptimizer

    try:
        optimizer = ORTOptimizer.from_pretrained(onnx_dir, file_names=["model.onnx"])
        config = AutoOptimizationConfig.with_optimization_level(OPTIMIZATION_LEVEL, for_gpu=False)
        optimizer.optimize(config, onnx_dir)
    except (NotImplementedError, KeyError):
        return onnx_dir / "model.onnx"
    return onnx_dir / "model_optimized.onnx"


def copy_tokenizer(model_dir: Path, out_dir: Path) -> tuple[tuple[Path, ...], str]:
    """Copy the tokenizer files (a ``tokenizer.json`` is written if the model has only a slow
    tokenizer's files); return the copies and the padding token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    if tokenizer.pad_token is None or not tokenizer.is_fast:
        raise ExportError(f"{model_dir}: the tokenizer needs a fast implementation and a padding token")
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for name in TOKENIZER_FILES:
        if (model_dir / name).is_file():
            copies.append(Path(shutil.copyfile(model_dir / name, out_dir / name)))
    if not (out_dir / "tokenizer.json").is_file():
        tokenizer.backend_tokenizer.save(str(out_dir / "tokenizer.json"))
        copies.insert(0, out_dir / "tokenizer.json")
    return tuple(copies), str(tokenizer.pad_token)


def export_onnx(model_dir: Path, work_dir: Path) -> OnnxExport:
    """Export, optimise and copy the tokenizer of one encoder into ``work_dir``."""
    model_dir, work_dir = Path(model_dir), Path(work_dir)
    onnx_dir = work_dir / "onnx"
    plain = export_plain(model_dir, onnx_dir)
    optimized = optimize_graph(onnx_dir)
    files, pad_token = copy_tokenizer(model_dir, work_dir / "tokenizer")
    return OnnxExport(plain, optimized, work_dir / "tokenizer" / "tokenizer.json", files, pad_token)
