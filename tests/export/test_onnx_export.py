"""ONNX against PyTorch on the tiny BERT: same inputs, same token ids, same hidden states."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.models.encoder import OnnxEncoder, tokenize
from export.onnx_export import export_onnx
from export.quantize import detect_isa, quantize_model

TEXTS = ["", "a", "🙂", "你好，请问我的订单在哪里？", "Where is my ORDER?!", "refund my money " * 200,
         "hello there good morning"]


@pytest.fixture(scope="module")
def exported(tiny_bert_master: Path, tmp_path_factory: pytest.TempPathFactory):
    return export_onnx(tiny_bert_master, tmp_path_factory.mktemp("onnx"))


def _hf_hidden(model_dir: Path, text: str) -> tuple[list[int], np.ndarray]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    inputs = tokenizer([text], truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        return inputs["input_ids"][0].tolist(), model(**inputs).last_hidden_state[0].numpy()


@pytest.mark.parametrize("graph", ["plain", "optimized"])
def test_onnx_matches_pytorch_token_for_token(exported, tiny_bert_master: Path, graph: str) -> None:
    encoder = OnnxEncoder.open(getattr(exported, graph), exported.tokenizer, pooling="mean", normalize=False,
                               max_length=64, pad_token=exported.pad_token)
    batch = tokenize(encoder.tokenizer, TEXTS)  # one padded batch: padding must not change real tokens
    hidden = encoder.hidden_states(batch)
    for row, text in enumerate(TEXTS):
        ids, expected = _hf_hidden(tiny_bert_master, text)
        length = len(ids)
        assert batch.input_ids[row, :length].tolist() == ids
        np.testing.assert_allclose(hidden[row, :length], expected, atol=1e-4)


def test_exported_graph_is_plain_last_hidden_state(exported) -> None:
    encoder = OnnxEncoder.open(exported.optimized, exported.tokenizer, pooling="cls", normalize=False,
                               max_length=64, pad_token="[PAD]")
    assert [o.name for o in encoder.session.get_outputs()] == ["last_hidden_state"]
    assert encoder.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert (exported.tokenizer.parent / "vocab.txt").is_file()


@pytest.mark.parametrize("scheme", ["per-channel", "static"])
def test_quantized_graphs_stay_close_to_fp32(exported, tmp_path: Path, scheme: str) -> None:
    kwargs = dict(pooling="mean", normalize=True, max_length=64, pad_token="[PAD]")
    fp32 = OnnxEncoder.open(exported.optimized, exported.tokenizer, **kwargs)
    calibration = [tokenize(fp32.tokenizer, TEXTS).feeds(fp32.input_names)]
    source = exported.optimized if scheme == "per-channel" else exported.plain
    int8_path = quantize_model(source, tmp_path / "int8.onnx", scheme, detect_isa(), calibration)
    int8 = OnnxEncoder.open(int8_path, exported.tokenizer, **kwargs)
    assert (fp32.encode(TEXTS) * int8.encode(TEXTS)).sum(axis=1).min() > 0.99
    if scheme == "per-channel":  # QDQ's scales and zero points outweigh a tiny model's weights
        assert int8_path.stat().st_size < exported.optimized.stat().st_size


def test_detect_isa_reads_the_cpu_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags : fpu avx2 avx512f avx512_vnni\n")
    assert detect_isa(cpuinfo) == "avx512_vnni"
    cpuinfo.write_text("flags : fpu avx2\n")
    assert detect_isa(cpuinfo) == "avx2"
    monkeypatch.setattr("platform.machine", lambda: "aarch64")
    assert detect_isa(cpuinfo) == "arm64"


def test_a_dynamically_quantized_encoder_gives_a_text_its_own_vector_whatever_shares_its_batch(
        exported, tmp_path: Path) -> None:
    kwargs = dict(pooling="mean", normalize=True, max_length=64, pad_token="[PAD]")
    int8_path = quantize_model(exported.optimized, tmp_path / "int8.onnx", "per-channel", detect_isa())
    batched = OnnxEncoder.open(int8_path, exported.tokenizer, **kwargs)
    alone = OnnxEncoder.open(int8_path, exported.tokenizer, alone=True, **kwargs)
    each = np.concatenate([alone.encode([text]) for text in TEXTS])
    assert np.array_equal(alone.encode(TEXTS), each)
    assert np.array_equal(alone.with_pooling("cls", False).encode(TEXTS[::-1])[::-1],
                          np.concatenate([alone.with_pooling("cls", False).encode([t]) for t in TEXTS]))
    # What one pass per text prevents: the activations' scale is taken over the whole batch.
    assert not np.allclose(batched.encode(TEXTS), each, atol=1e-6)
