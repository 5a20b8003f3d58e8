"""The PyTorch checkpoint as the gate's reference: same tokenizer, same token ids, same pooling.

The runtime's tokenizer (``bot.models.encoder.load_tokenizer``) feeds both PyTorch and ONNX, and the
runtime's numpy ``pool`` pools both, so any difference the gate sees comes from the graph and
its quantization, not from preprocessing.

Example::

    reference = TorchEncoder.open(Path("ckpt/model"), Path("bundle/intent/tokenizer.json"),
                                  pooling="mean", normalize=False, max_length=64, pad_token="[PAD]")
    reference.encode(["hello"])      # [1, hidden] float32
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from bot.models.encoder import l2_normalize, load_tokenizer, pool, tokenize


class TorchEncoder:
    """A Hugging Face ``AutoModel`` (no task head) run in float32 on the CPU."""

    def __init__(self, model: object, tokenizer_path: Path, *, pooling: str, normalize: bool,
                 max_length: int, pad_token: str) -> None:
        self.model = model
        self.tokenizer = load_tokenizer(tokenizer_path, max_length, pad_token)
        self.pooling = pooling
        self.normalize = normalize
        accepted = inspect.signature(model.forward).parameters  # type: ignore[attr-defined]  # a transformers model, typed loosely by the lazy import
        self.input_names = tuple(
            n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted
        )

    @classmethod
    def open(cls, model_dir: Path, tokenizer_path: Path, *, pooling: str, normalize: bool,
             max_length: int, pad_token: str) -> TorchEncoder:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(model_dir, dtype="float32").eval()
        return cls(model, tokenizer_path, pooling=pooling, normalize=normalize,
                   max_length=max_length, pad_token=pad_token)

    def hidden_states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``last_hidden_state`` [n, seq, hidden] and the attention mask [n, seq]."""
        import torch

        batch = tokenize(self.tokenizer, texts)
        feeds = {k: torch.from_numpy(v) for k, v in batch.feeds(self.input_names).items()}
        with torch.inference_mode():
            hidden = self.model(**feeds).last_hidden_state  # type: ignore[operator]  # a transformers model, typed loosely by the lazy import
        return hidden.float().numpy(), batch.attention_mask

    def encode(self, texts: list[str]) -> np.ndarray:
        """Pooled vectors [n, hidden] float32, as ``bot.models.encoder.OnnxEncoder.encode`` computes them."""
        hidden, mask = self.hidden_states(texts)
        pooled = pool(hidden, mask, self.pooling)
        return l2_normalize(pooled) if self.normalize else pooled
