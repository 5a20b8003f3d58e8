"""The gate's metrics and verdict on hand-made vectors (no model)."""
from __future__ import annotations

import numpy as np
import pytest

from export.gate import (
    GateFailure,
    Metrics,
    Tolerances,
    describe_resolution,
    encode_in_batches,
    judge,
    mean_cosine,
    recall_at_1,
)
from export.heldout import RetrievalSet
from knowledge.faq.documents import document_texts
from knowledge.faq.entry import FaqEntry
from knowledge.faq.formats import split_alternatives

REFERENCE = Metrics(accuracy=0.9300, overall_accuracy=0.85, recall_at_1=0.80, intent_cosine=1.0,
                    retrieval_cosine=1.0)


def _candidate(**changes: float) -> Metrics:
    values = {**REFERENCE.__dict__, "intent_cosine": 0.995, "retrieval_cosine": 0.995, **changes}
    return Metrics(**values)


def test_within_tolerance_passes() -> None:
    assert judge(REFERENCE, _candidate(accuracy=0.9270, recall_at_1=0.795), Tolerances()) == []


def test_each_limit_is_reported_with_its_numbers() -> None:
    failures = judge(REFERENCE, _candidate(accuracy=0.9260, recall_at_1=0.79, retrieval_cosine=0.98), Tolerances())
    assert failures == [
        GateFailure("intent", "accuracy", 0.9260, 0.3, reference=0.93),
        GateFailure("retriever", "recall_at_1", 0.79, 0.5, reference=0.80),
        GateFailure("retriever", "cosine", 0.98, 0.99),
    ]
    assert [failure.message for failure in failures] == [
        "intent accuracy 92.60% vs PyTorch 93.00%: drop 0.40 points > 0.30",
        "retrieval recall@1 79.00% vs PyTorch 80.00%: drop 1.00 points > 0.50",
        "retrieval embedding cosine to PyTorch 0.98000 < 0.99000",
    ]


def test_a_better_candidate_passes() -> None:
    assert judge(REFERENCE, _candidate(accuracy=0.95, recall_at_1=0.9), Tolerances()) == []


@pytest.mark.parametrize("values", [(-0.1, 0.5, 0.99), (0.3, 0.5, 1.5)])
def test_bad_tolerances_are_refused(values: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        Tolerances(*values)


def test_recall_at_1_takes_the_best_phrasing_of_any_faq() -> None:
    retrieval = RetrievalSet(documents=("a", "a2", "b"), document_faq_ids=("f1", "f1", "f2"),
                             queries=("q1", "q2"), query_faq_ids=("f1", "f1"))
    documents = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    queries = np.array([[0.1, 1.0], [1.0, 0.9]])  # q1 -> a2 (f1), q2 -> b (f2)
    assert recall_at_1(queries, documents, retrieval) == 0.5


def test_mean_cosine() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert mean_cosine(a, a) == pytest.approx(1.0)
    assert mean_cosine(a, np.array([[0.0, 1.0], [0.0, 1.0]])) == pytest.approx(0.5)


def test_encode_in_batches_keeps_the_input_order() -> None:
    class Lengths:
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.array([[len(t)] for t in texts], dtype=np.float32)

    texts = ("ccc", "a", "bb", "dddd", "")
    assert encode_in_batches(Lengths(), texts, batch_size=2)[:, 0].tolist() == [3, 1, 2, 4, 0]


def test_faq_documents_follow_the_document_mode() -> None:
    entry = FaqEntry("f", "Q?", "A.", split_alternatives("alt one\n\nalt two"))
    assert document_texts(entry, "question") == ["Q?", "alt one", "alt two"]
    assert document_texts(FaqEntry("f", "Q?", "A.", split_alternatives("")), "question_answer") == ["Q?\nA."]


def test_resolution_says_what_one_row_is_worth() -> None:
    sizes = {"intents_in_scope": 500, "intents": 500, "faq_documents": 125, "queries": 250}
    assert describe_resolution(sizes) == ("gate data: 500 in-scope intent rows (1 row = 0.20 points), "
                                          "250 queries (1 query = 0.40 points)")
