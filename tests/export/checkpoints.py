"""Tiny checkpoints in the layout of docs/checkpoints.md, built from the session's tiny BERT.

They do not come from training/: they are written here directly, so the export is tested
against the documented contract rather than against whatever training happens to write.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

INTENT_LABELS = ("greeting", "order_status", "refund", "password_reset")

HELDOUT_INTENTS = [
    ("hello", "greeting"), ("hi there good morning", "greeting"), ("你好", "greeting"),
    ("where is my order", "order_status"), ("track my parcel please", "order_status"),
    ("my delivery is late", "order_status"), ("订单在哪里", "order_status"),
    ("i want a refund", "refund"), ("money back for my order", "refund"), ("退款", "refund"),
    ("reset my password", "password_reset"), ("change my account email", "password_reset"),
    ("what is the weather", "oos"), ("tell me a joke", "oos"),
]

HELDOUT_FAQ = [
    ("f1", "where is my order", "Track it on the orders page.", "track my parcel\nwhere is my package"),
    ("f2", "how do i get a refund", "Refunds take five days.", ""),
    ("f3", "how do i reset my password", "Use the login page.", "password reset help"),
    ("f4", "can i pay with paypal", "Yes, paypal and card.", ""),
]

HELDOUT_QUERIES = [
    ("parcel tracking status", "f1"), ("my package is late", "f1"), ("money back please", "f2"),
    ("refund for my card payment", "f2"), ("i can not login", "f3"), ("password please", "f3"),
    ("paypal payment", "f4"), ("pay by card", "f4"),
]


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def _common(model_src: Path, out: Path) -> None:
    shutil.copytree(model_src, out / "model")
    (out / "training_args.json").write_text(json.dumps({"epochs": 0, "note": "tiny test checkpoint"}))


def mean_pooled(model_dir: Path, texts: list[str]) -> np.ndarray:
    """Mean-pooled ``last_hidden_state`` [n, hidden] of ``texts``, straight from transformers."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][:, :, None].float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def fit_head(model_dir: Path, margin: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """A head that gives each held-out text its label by ``margin`` logits (all logits equal
    for ``oos`` rows), so int8 noise cannot flip a prediction of a random tiny model."""
    texts = [t for t, _ in HELDOUT_INTENTS]
    targets = np.array([[margin * (label == c) for c in INTENT_LABELS] for _, label in HELDOUT_INTENTS])
    features = np.c_[mean_pooled(model_dir, texts), np.ones(len(texts))]  # [n, hidden + 1]
    solution, *_ = np.linalg.lstsq(features, targets, rcond=None)  # [hidden + 1, labels]
    return solution[:-1].T.astype(np.float32), solution[-1].astype(np.float32)


def recall_at_1(model_dir: Path) -> float:
    """recall@1 of the held-out queries over every FAQ phrasing, as training records it."""
    phrasings = [(faq_id, text) for faq_id, question, _, alternatives in HELDOUT_FAQ
                 for text in [question, *alternatives.splitlines()]]
    documents = mean_pooled(model_dir, [text for _, text in phrasings])
    queries = mean_pooled(model_dir, [query for query, _ in HELDOUT_QUERIES])
    best = (queries @ (documents / np.linalg.norm(documents, axis=1, keepdims=True)).T).argmax(axis=1)
    return float(np.mean([phrasings[j][0] == faq_id for j, (_, faq_id) in zip(best, HELDOUT_QUERIES)]))


def write_intent_checkpoint(model_src: Path, out: Path, *, threshold: float = 0.5,
                            pooling: str = "mean", max_length: int = 64) -> Path:
    """An intent checkpoint over ``model_src`` with a fitted head and the held-out rows above."""
    _common(model_src, out)
    weight, bias = fit_head(model_src)
    np.savez(out / "head.npz", weight=weight, bias=bias)
    _write_csv(out / "heldout.csv", ("text", "label"), HELDOUT_INTENTS)
    meta = {
        "format": "supportbot-intents-checkpoint", "version": 1, "base_model": str(model_src),
        "labels": list(INTENT_LABELS), "pooling": pooling, "max_length": max_length, "oos_label": "oos",
        "oos": {"score": "max_softmax", "temperature": 1.0, "threshold": threshold,
                "calibration": "fixed for the test"},
        "metrics": {"accuracy": 1.0},  # fit_head gets every in-scope held-out row right
        "data_fingerprint": "0" * 64, "created_at": "2026-11-29T08:00:00+00:00",
    }
    (out / "supportbot_intents.json").write_text(json.dumps(meta, indent=2))
    return out


def write_retriever_checkpoint(model_src: Path, out: Path, *, document: str = "question") -> Path:
    """A retriever checkpoint over ``model_src`` with the held-out FAQ and queries above."""
    _common(model_src, out)
    _write_csv(out / "heldout_faq.csv", ("faq_id", "question", "answer", "alternatives"), HELDOUT_FAQ)
    _write_csv(out / "heldout_queries.csv", ("query", "faq_id"), HELDOUT_QUERIES)
    meta = {
        "format": "supportbot-retriever-checkpoint", "version": 1, "base_model": str(model_src),
        "pooling": "mean", "normalize": True, "max_length": 128, "document": document,
        "lexical_weight": 0.25, "thresholds": {"answer": 0.7, "margin": 0.05, "calibration": "fixed for the test"},
        "metrics": {"recall_at_1": recall_at_1(model_src)}, "data_fingerprint": "1" * 64, "created_at": "2026-11-29T08:00:00+00:00",
    }
    (out / "supportbot_retriever.json").write_text(json.dumps(meta, indent=2))
    return out
