"""A lexical encoder: hashed word and character n-grams, no model at all.

Used to index and search the FAQ before a trained bundle exists, and as the small
deterministic encoder of the tests. It satisfies ``knowledge.faq.index.Encoder``.

Example::

    encoder = HashingEncoder(dimension=256)
    encoder.encode(["Where is my order?"]).shape      # (1, 256), rows of length 1
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """Bag of hashed words and character trigrams, L2-normalised."""

    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension

    @property
    def fingerprint(self) -> str:
        return f"hashing-v1-{self.dimension}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)  # [n, dimension]
        for row, text in enumerate(texts):
            for feature in _features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest, "little")
                matrix[row, bucket % self.dimension] += 1.0 if bucket >> 63 else -1.0
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)


def _features(text: str) -> list[str]:
    words = WORD.findall(text.lower())
    grams = [f"#{w[i:i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return words + grams
