"""Small deterministic stand-ins for the models: a keyword intent classifier and a hashing encoder.

They satisfy ``bot.core.brain.Model`` so the policy, the responder and the HTTP API can be tested
in milliseconds; tests of the real ONNX path use the toy bundle or the tiny BERT instead.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.models.bundle import Inference
from bot.models.intent_head import IntentScores
from knowledge.faq.hashing import HashingEncoder

KEYWORDS = {
    "greeting": ("hello", "hi", "hey"),
    "goodbye": ("bye", "goodbye"),
    "thanks": ("thanks", "thank"),
    "human_handoff": ("human", "person", "agent"),
    "order_status": ("order status", "where is my order", "nw-"),
}
OUT_OF_SCOPE = ("weather", "joke", "football")
LABELS = (*KEYWORDS, "faq")


class KeywordModel:
    """Intent by keyword (else ``faq``), out of scope by keyword, embeddings by hashing."""

    def __init__(self, version: str = "fake-1", answer_threshold: float = 0.6, margin: float = 0.05,
                 dimension: int = 256, lexical_weight: float = 0.0) -> None:
        self.version = version
        self.document = "question"
        self.answer_threshold = answer_threshold
        self.margin = margin
        self.lexical_weight = lexical_weight
        self.encoder = HashingEncoder(dimension)
        self.fingerprint = self.encoder.fingerprint
        self.calls: list[int] = []  # batch size of every infer call

    def infer(self, texts: list[str]) -> Inference:
        self.calls.append(len(texts))
        probabilities = np.full((len(texts), len(LABELS)), 0.02, dtype=np.float32)
        in_scope = np.ones(len(texts), dtype=bool)
        for row, text in enumerate(texts):
            lowered = f" {text.lower()} "
            label = next((name for name, words in KEYWORDS.items()
                          if any(f" {w}" in lowered for w in words)), "faq")
            probabilities[row, LABELS.index(label)] = 0.9
            in_scope[row] = not any(w in lowered for w in OUT_OF_SCOPE)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        scores = IntentScores(LABELS, "oos", probabilities, probabilities.max(axis=1), in_scope)
        return Inference(scores, self.encoder.encode(texts))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode(texts)
