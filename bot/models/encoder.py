"""A transformer encoder run by onnxruntime: tokenize, pad to the batch's longest text, pool.

Only the transformer goes through ONNX (a plain ``last_hidden_state`` graph); pooling and
normalisation are numpy, the same functions the export's parity gate applies to the PyTorch
checkpoint, so both sides pool identically. Torch-free: onnxruntime, tokenizers, numpy.

Example::

    encoder = OnnxEncoder.open(Path("bundle/encoder/model.onnx"), Path("bundle/encoder/tokenizer.json"),
                               pooling="mean", normalize=True, max_length=128, pad_token="[PAD]")
    vectors = encoder.encode(["where is my parcel?"])   # [1, hidden] float32, unit length
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

POOLING_MODES = ("mean", "cls")


class EncoderFileError(ValueError):
    """An ONNX model or ``tokenizer.json`` that cannot be opened; ``path`` names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# Parsed tokenizers by (file content, max_length, pad token): see ``load_tokenizer``.
_TOKENIZERS: OrderedDict[tuple[str, int, str], Tokenizer] = OrderedDict()
_TOKENIZERS_KEPT = 4
_TOKENIZERS_LOCK = threading.Lock()


def load_tokenizer(path: Path, max_length: int, pad_token: str) -> Tokenizer:
    """Return a tokenizer that pads to the batch's longest text and truncates to ``max_length``.

    Saved ``tokenizer.json`` files may carry their own padding (MiniLM's pads every text to
    128 tokens) and truncation settings; both are replaced here.

    A file with the same content and settings as one loaded before gives the same tokenizer
    object back, unparsed: parsing holds Python's interpreter lock for its whole length (about
    15 ms, several times that on a busy machine), which stalls every message a serving bot is
    answering, and a bundle loaded beside a running one (a retrained model) nearly always has the
    base model's tokenizer. Sharing is safe: a tokenizer is never changed after this function.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise EncoderFileError(path, f"cannot be read: {error}") from error
    key = (hashlib.sha256(data).hexdigest(), max_length, pad_token)  # hashing large data frees the lock
    with _TOKENIZERS_LOCK:
        if key in _TOKENIZERS:
            _TOKENIZERS.move_to_end(key)
            return _TOKENIZERS[key]
    tokenizer = _parse_tokenizer(path, data, max_length, pad_token)
    with _TOKENIZERS_LOCK:
        _TOKENIZERS[key] = tokenizer
        while len(_TOKENIZERS) > _TOKENIZERS_KEPT:
            _TOKENIZERS.popitem(last=False)
    return tokenizer


def _parse_tokenizer(path: Path, data: bytes, max_length: int, pad_token: str) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_buffer(data)
    except Exception as error:  # tokenizers raises a bare Exception for a file it cannot parse
        raise EncoderFileError(path, f"not a tokenizer file: {error}") from error
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise EncoderFileError(path, f"the padding token {pad_token!r} is not in the vocabulary")
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # no length: batch longest
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


@dataclass(frozen=True)
class TokenBatch:
    """Token ids of a padded batch, each [n, seq] int64; ``seq`` is the longest text's length."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    def feeds(self, input_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Return the arrays the graph asks for (DistilBERT-like graphs take no token types)."""
        arrays = {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }
        return {name: arrays[name] for name in input_names}


def tokenize(tokenizer: Tokenizer, texts: list[str]) -> TokenBatch:
    """Encode a batch of texts (at least one) into padded int64 arrays."""
    encodings = tokenizer.encode_batch(texts)
    return TokenBatch(
        input_ids=np.array([e.ids for e in encodings], dtype=np.int64),
        attention_mask=np.array([e.attention_mask for e in encodings], dtype=np.int64),
        token_type_ids=np.array([e.type_ids for e in encodings], dtype=np.int64),
    )


def pool(hidden: np.ndarray, attention_mask: np.ndarray, mode: str) -> np.ndarray:
    """Pool token vectors [n, seq, hidden] into one vector per text [n, hidden] float32.

    ``mean`` averages the tokens where the mask is 1; ``cls`` takes the first token.

    >>> pool(np.ones((1, 3, 2), np.float32), np.array([[1, 1, 0]]), "mean").tolist()
    [[1.0, 1.0]]
    """
    if mode == "cls":
        return np.ascontiguousarray(hidden[:, 0], dtype=np.float32)
    if mode != "mean":
        raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLING_MODES}")
    mask = attention_mask[:, :, None].astype(np.float32)  # [n, seq, 1]
    summed = (hidden * mask).sum(axis=1)  # [n, hidden]
    counts = np.maximum(mask.sum(axis=1), 1e-9)  # [n, 1]
    pooled: np.ndarray = (summed / counts).astype(np.float32)  # numpy's stubs type sum(axis=...) as Any
    return pooled


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (a zero row stays zero), as ``torch.nn.functional.normalize``."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)  # norm(axis=...) is typed Any
    return unit


def session_options(threads: int) -> ort.SessionOptions:
    """Options for one model on CPU: ``threads`` intra-op threads, operators run in sequence."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxEncoder:
    """Texts -> pooled vectors with an ONNX transformer; see the module docstring."""

    def __init__(
        self,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        pooling: str,
        normalize: bool,
        alone: bool = False,
    ) -> None:
        if pooling not in POOLING_MODES:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {POOLING_MODES}")
        self.session = session
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.normalize = normalize
        # One pass per text: a graph quantized dynamically (int8 "per-channel"/"per-tensor") scales
        # its activations over the whole batch, so a text's vector would depend on the texts it
        # shares a batch with: a customer's answer on who else wrote at that moment.
        self.alone = alone
        self.input_names = tuple(i.name for i in session.get_inputs())
        dim = session.get_outputs()[0].shape[-1]
        if not isinstance(dim, int):
            raise ValueError(f"the graph's output has no fixed hidden size (got {dim!r})")
        self.dim = dim

    @classmethod
    def open(
        cls,
        model: Path,
        tokenizer: Path,
        *,
        pooling: str,
        normalize: bool,
        max_length: int,
        pad_token: str,
        threads: int = 1,
        alone: bool = False,
    ) -> OnnxEncoder:
        """Open an ONNX model file and its ``tokenizer.json`` on the CPU; ``alone``: one pass per
        text (for graphs that quantize activations per run)."""
        try:
            session = ort.InferenceSession(
                str(model), sess_options=session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
            raise EncoderFileError(model, f"not an ONNX model onnxruntime can open: {error}") from error
        return cls(session, load_tokenizer(tokenizer, max_length, pad_token), pooling, normalize, alone)

    def with_pooling(self, pooling: str, normalize: bool) -> OnnxEncoder:
        """The same graph and tokenizer (one session, no second copy in memory), pooled another way."""
        return OnnxEncoder(self.session, self.tokenizer, pooling, normalize, self.alone)

    def hidden_states(self, batch: TokenBatch) -> np.ndarray:
        """Run the graph on a token batch: ``last_hidden_state`` [n, seq, hidden] float32."""
        (hidden,) = self.session.run(["last_hidden_state"], batch.feeds(self.input_names))
        return np.asarray(hidden)  # onnxruntime returns numpy arrays, typed as Any

    def vectors(self, hidden: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Pool ``hidden_states`` into one vector per text (unit length when ``normalize``)."""
        pooled = pool(hidden, attention_mask, self.pooling)
        return l2_normalize(pooled) if self.normalize else pooled

    def passes(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The graph's hidden states and attention masks for ``texts``, in order: one padded batch,
        or one pass per text when ``alone`` (a few percent slower per text on a CPU)."""
        if not texts:
            return []
        groups = [[text] for text in texts] if self.alone else [texts]
        batches = [tokenize(self.tokenizer, group) for group in groups]
        return [(self.hidden_states(batch), batch.attention_mask) for batch in batches]

    def pooled(self, passes: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """One vector per text of ``passes`` [n, hidden] float32."""
        if not passes:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate([self.vectors(hidden, mask) for hidden, mask in passes])

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return one vector per text [n, hidden] float32 (unit length when ``normalize``)."""
        return self.pooled(self.passes(texts))
