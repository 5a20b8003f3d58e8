"""int8 quantization of an exported encoder, by scheme and by the CPU's instruction set.

Schemes (picked by measurement; the parity gate has the last word). Each scheme's cosine to
the fp32 ONNX embeddings, size and latency on all-MiniLM-L6-v2 are in
``benchmarks/results/latency.md`` ("Quantization schemes on the encoder"):

- ``per-channel`` (default): dynamic int8, one weight scale per output channel, activations
  quantized per batch at run time. The closest to fp32; kept a fine-tuned classifier's accuracy.
- ``per-tensor``: dynamic, one scale per weight matrix. Further from fp32; cost a fine-tuned
  classifier accuracy.
- ``static``: QDQ on the MatMuls with activation ranges calibrated (MinMax) on sample texts;
  quantizes the plain graph, which onnxruntime fuses on load. The furthest from fp32 and the
  largest (the embedding table stays fp32), no faster than per-channel at batch 1.
- ``none``: ship the optimised fp32 graph.

Instruction-set presets mirror Optimum's ``AutoQuantizationConfig``: activations uint8; weights
int8 for avx512-vnni and arm64, uint8 for avx2 (u8s8 products can saturate without VNNI).

Example::

    quantize_model(Path("model_optimized.onnx"), Path("model.int8.onnx"), "per-channel", detect_isa())
"""
from __future__ import annotations

import logging
import platform
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMES = ("per-channel", "per-tensor", "static", "none")
ISAS = ("avx512_vnni", "avx2", "arm64")


@dataclass(frozen=True)
class IsaPreset:
    weights_unsigned: bool
    reduce_range: bool


PRESETS = {
    "avx512_vnni": IsaPreset(weights_unsigned=False, reduce_range=False),
    "avx2": IsaPreset(weights_unsigned=True, reduce_range=False),
    "arm64": IsaPreset(weights_unsigned=False, reduce_range=False),
}


def detect_isa(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The best preset this CPU runs: ``arm64``, ``avx512_vnni`` (also for AVX-VNNI) or ``avx2``."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return "avx2"
    return "avx512_vnni" if flags & {"avx512_vnni", "avx_vnni"} else "avx2"


class _RootLogFilter(logging.Filter):
    """Drops onnxruntime's advice to pre-process, logged on the root logger on every call: its
    symbolic shape inference fails on these graphs and leaves large temp files behind."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage() and "pre-processing" not in record.getMessage()


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over prepared feeds."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the protocol; one pass suffices for MinMax
        pass


def quantize_model(
    src: Path,
    dst: Path,
    scheme: str,
    isa: str,
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> Path:
    """Write the ``scheme``-quantized ``src`` to ``dst``; ``calibration`` feeds are required for
    ``static`` (token batches as the graph's inputs, e.g. from ``bot.models.encoder.tokenize``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization {scheme!r}; expected one of {SCHEMES}")
    if isa not in PRESETS:
        raise ValueError(f"unknown instruction set {isa!r}; expected one of {ISAS}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if scheme == "none":
        return Path(shutil.copyfile(src, dst))
    if scheme == "static" and not calibration:
        raise ValueError("static quantization needs calibration texts")

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    preset = PRESETS[isa]
    weight_type = QuantType.QUInt8 if preset.weights_unsigned else QuantType.QInt8
    # DefaultTensorType: fused contrib operators carry no output types; without a default the
    # quantizer stops on them. Symmetric weights, asymmetric uint8 activations as Optimum does.
    options = {"DefaultTensorType": onnx.TensorProto.FLOAT, "WeightSymmetric": True, "ActivationSymmetric": False}
    log_filter = _RootLogFilter()
    logging.getLogger().addFilter(log_filter)
    try:
        if scheme in ("per-channel", "per-tensor"):
            quantize_dynamic(src, dst, per_channel=scheme == "per-channel", reduce_range=preset.reduce_range,
                             weight_type=weight_type, extra_options=options)
        else:
            # MatMuls only: quantizing layer norms and softmax inputs statically costs accuracy
            quantize_static(src, dst, _Calibration(calibration or []), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=preset.reduce_range,
                            activation_type=QuantType.QUInt8, weight_type=weight_type,
                            calibrate_method=CalibrationMethod.MinMax, extra_options=options)
    finally:
        logging.getLogger().removeFilter(log_filter)
    return dst
