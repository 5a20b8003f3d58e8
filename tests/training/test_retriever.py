"""The FAQ retriever on a tiny BERT: pairs, hard negatives, thresholds and the checkpoint contract."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import TOY_FAQ, TOY_QUERIES, write_csv
from training.args import RetrieverTrainingArgs
from training.data import FaqEntry, LabelledQuery
from training.ranking import entry_scores
from training.retriever import mine_negatives, training_pairs

pytest.importorskip("sentence_transformers")

ENTRIES = [FaqEntry("f1", "reset password", "Use the link.", ("forgot password",)), FaqEntry("f2", "refund", "Yes.")]


def test_pairs_come_from_queries_and_alternatives() -> None:
    queries = [LabelledQuery("pw help", "f1")]
    assert training_pairs(ENTRIES, queries, "question") == [
        ("pw help", "reset password", "f1"),
        ("forgot password", "reset password", "f1"),
    ]
    with_answer = training_pairs(ENTRIES, queries, "question_answer")
    assert ("reset password", "reset password\nUse the link.", "f1") in with_answer
    assert ("refund", "refund\nYes.", "f2") in with_answer


def test_hard_negatives_never_come_from_the_same_entry() -> None:
    def encode(texts: list[str]) -> np.ndarray:  # every text alike: only the entry mask decides
        return np.ones((len(texts), 2)) / np.sqrt(2)

    pairs = training_pairs(ENTRIES, [LabelledQuery("pw", "f1"), LabelledQuery("money", "f2")], "question")
    negatives = mine_negatives(encode, pairs, ENTRIES, "question")
    assert negatives[0] == "refund" and negatives[1] == "reset password"


def test_entry_score_is_the_best_phrasing() -> None:
    queries = np.array([[1.0, 0.0]])
    docs = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]])
    ids, scores = entry_scores(queries, docs, ["f1", "f1", "f2"])
    assert ids == ["f1", "f2"]
    np.testing.assert_allclose(scores, [[1.0, 0.0]])


def test_tiny_retriever_trains_and_writes_the_contract(tmp_path: Path, tiny_bert: Path) -> None:
    from bot.cli import main
    from training.retriever import train_retriever

    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer"], TOY_FAQ)
    queries = write_csv(tmp_path / "queries.csv", ["query", "faq_id"], TOY_QUERIES)
    args = RetrieverTrainingArgs(base_model=str(tiny_bert), epochs=2, batch_size=4, learning_rate=1e-3,
                                 valid_fraction=0.25, precision="fp32")  # fmt: skip
    metrics = train_retriever(faq, queries, tmp_path / "ckpt", args)
    assert 0.0 <= metrics["recall_at_1"] <= metrics["recall_at_5"] <= 1.0
    meta = json.loads((tmp_path / "ckpt" / "supportbot_retriever.json").read_text())
    assert meta["format"] == "supportbot-retriever-checkpoint" and meta["version"] == 1
    assert meta["document"] in ("question", "question_answer") and meta["normalize"] is True
    assert set(meta["thresholds"]) == {"answer", "margin", "calibration"}
    assert "base_mrr_question" in meta["metrics"] and "base_mrr_question_answer" in meta["metrics"]
    for name in ("heldout_faq.csv", "heldout_queries.csv", "training_args.json", "model/modules.json"):
        assert (tmp_path / "ckpt" / name).is_file(), name
    report = tmp_path / "report"
    argv = ["evaluate", "faq", "--model", str(tmp_path / "ckpt"), "--faq", str(faq), "--queries", str(queries),
            "--report", str(report)]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((report / "metrics.json").read_text())
    assert {"recall_at_1", "recall_at_5", "mrr", "map"} <= set(result)
    assert result["map"] == pytest.approx(result["mrr"])  # one relevant entry per query
    assert (report / "recall_at_k.png").read_bytes()[:4] == b"\x89PNG"
