"""The Chinese demo's bundle for tests: a tiny BERT whose WordPiece vocabulary is learnt from the
demo's Chinese text, trained on ``knowledge/demo/zh`` with ``train_joint`` and exported to int8
ONNX, offline and in seconds. Built once per session (``chinese_bundles`` in conftest.py) and
read-only: the end-to-end test and the web chat's page test both serve it.

Training data: the handler intents of ``knowledge/demo/zh/intents.csv`` (greeting, goodbye,
thanks, human_handoff) and every other demo message of ``queries.csv`` as the ``faq`` intent
and as retriever queries; the remaining messages (``unseen_queries``) are never trained on.
"""
from __future__ import annotations

import csv
from pathlib import Path

from knowledge.faq.formats import read_faq_file

DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "zh"
HANDLER_INTENTS = ("greeting", "goodbye", "thanks", "human_handoff")


def demo_queries() -> list[tuple[str, str]]:
    """The demo's labelled messages, (text, faq_id), in file order."""
    with (DEMO / "queries.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["query"], row["faq_id"]) for row in csv.DictReader(handle)]


def unseen_queries() -> list[tuple[str, str]]:
    """The demo messages training never saw (it trains on the others): one per FAQ entry."""
    return demo_queries()[1::2]


def handler_examples() -> list[tuple[str, str]]:
    """(text, label) rows of the demo's handler intents."""
    with (DEMO / "intents.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["label"]) for row in csv.DictReader(handle) if row["label"] in HANDLER_INTENTS]


def _write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def build_chinese_bundles(root: Path) -> Path:
    """Train the tiny Chinese BERT on the demo and export it: returns ``root/bundles`` (``v1``)."""
    from bot.cli import main
    from tests.tiny import build_tiny_bert, train_wordpiece_vocab
    from training.args import IntentTrainingArgs, RetrieverTrainingArgs
    from training.data import write_faq
    from training.joint import JointInputs, train_joint

    entries = read_faq_file(DEMO / "faq.yaml").entries
    queries = demo_queries()[::2]
    intents = handler_examples() + [(text, "faq") for text, _ in queries]
    corpus = [text for e in entries for text in (*e.phrasings(), e.answer)] + [t for t, _ in intents + queries]
    base = build_tiny_bert(root / "base", vocab=train_wordpiece_vocab(corpus, 1200), hidden_size=48)
    write_faq(root / "faq.csv", entries)
    inputs = JointInputs(_write(root / "intents.csv", ["text", "label"], intents), None, root / "faq.csv",
                         _write(root / "queries.csv", ["query", "faq_id"], queries))
    train_joint(inputs, root / "ckpt",
                IntentTrainingArgs(base_model=str(base), learning_rate=3e-3, head_learning_rate=1e-2, layer_decay=1.0,
                                   epochs=1, min_train_steps=60, batch_size=8, precision="fp32"),
                RetrieverTrainingArgs(epochs=2, batch_size=8, learning_rate=1e-3, max_length=64, precision="fp32",
                                      valid_fraction=0.3, document="question"))  # fmt: skip
    status = main(["export", "--intents", str(root / "ckpt" / "intents"), "--retriever", str(root / "ckpt" / "retriever"),
                   "--out", str(root / "bundles"), "--version", "v1"])  # fmt: skip
    if status != 0:
        raise RuntimeError(f"exporting the Chinese test bundle failed with status {status}")
    return root / "bundles"
