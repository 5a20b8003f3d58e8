"""A toy bundle written without torch: a word-level tokenizer and an embedding-lookup ONNX graph.

The graph has the real models' interface (``input_ids``, ``attention_mask``, ``token_type_ids``
-> ``last_hidden_state`` [batch, seq, hidden]), so the loader, pooling, head and pointer logic
are exercised in milliseconds. Needs the ``onnx`` package (the train extra) to write the graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.models.manifest import (
    EncoderSpec,
    IntentSpec,
    Manifest,
    RetrievalThresholds,
    RetrieverSpec,
    digest_tree,
    write_manifest,
)
from bot.models.oos import OosRule

WORDS = ["hello", "hi", "where", "is", "my", "order", "parcel", "refund", "money", "back", "password", "reset", "weather", "joke", "你", "好"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS]
LABELS = ("greeting", "order_status", "refund")
HIDDEN = 8


def write_tokenizer(path: Path) -> None:
    """A word-level tokenizer whose saved file pads every text to 128 and truncates at 512,
    like MiniLM's ``tokenizer.json``: the loader must override both."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=128)
    tokenizer.enable_truncation(max_length=512)
    tokenizer.save(str(path))


def write_graph(path: Path, seed: int) -> None:
    """``last_hidden_state = E[input_ids] + T[token_type_ids]``: an encoder without attention."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    embeddings = numpy_helper.from_array(rng.normal(size=(len(VOCAB), HIDDEN)).astype(np.float32), "E")
    types = numpy_helper.from_array(rng.normal(size=(2, HIDDEN)).astype(np.float32), "T")
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["words"]),
        helper.make_node("Gather", ["T", "token_type_ids"], ["kinds"]),
        helper.make_node("Add", ["words", "kinds"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(nodes, "toy-encoder", inputs, [output], [embeddings, types])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _encoder_spec(name: str, normalize: bool, max_length: int) -> EncoderSpec:
    return EncoderSpec(
        model=f"{name}/model.onnx", tokenizer=f"{name}/tokenizer.json", pooling="mean", normalize=normalize,
        max_length=max_length, pad_token="[PAD]", base_model="toy", data_fingerprint="f" * 64,
        checkpoint_metrics={"accuracy": 0.5},
    )


def build_toy_bundle(bundles_dir: Path, version: str = "v1", seed: int = 0, threshold: float = 0.5,
                     shared: bool = False) -> Path:
    """Write ``bundles_dir/version`` with a verified manifest; return its path. ``shared``: one
    encoder for both models (as ``supportbot train joint`` exports), ``intent/`` holds the head."""
    root = bundles_dir / version
    (root / "intent").mkdir(parents=True)
    for name in ("encoder",) if shared else ("intent", "encoder"):
        (root / name).mkdir(parents=True, exist_ok=True)
        write_tokenizer(root / name / "tokenizer.json")
        write_graph(root / name / "model.onnx", seed)
    rng = np.random.default_rng(seed + 1)
    np.savez(root / "intent" / "head.npz", weight=rng.normal(size=(len(LABELS), HIDDEN)).astype(np.float32),
             bias=np.zeros(len(LABELS), np.float32))
    manifest = Manifest(
        version=version,
        created_at="2026-11-29T08:00:00+00:00",
        intent=IntentSpec(_encoder_spec("encoder" if shared else "intent", False, 32 if shared else 16),
                          "intent/head.npz", LABELS, "oos",
                          OosRule("max_softmax", 1.0, threshold, "toy")),
        retriever=RetrieverSpec(_encoder_spec("encoder", True, 32), "question",
                                RetrievalThresholds(0.7, 0.05, "toy")),
        quantization="none",
        isa="avx2",
        metrics={"pytorch_fp32": {"accuracy": 0.5}, "onnx_fp32": {"accuracy": 0.5}},
        gate={"min_cosine": 0.99},
        heldout_fingerprint="e" * 64,
        heldout_rows={"intents_in_scope": 10, "intents": 12, "faq_documents": 5, "queries": 8},
        files=digest_tree(root),
    )
    write_manifest(root, manifest)
    return root
