"""The Chinese demo FAQ (knowledge/demo/zh) is valid and its test messages are found by hybrid search.

No model here: the hashing encoder stands in for the dense half, so this measures what the
lexical half does for Chinese on its own; a real encoder adds to it.
"""
from __future__ import annotations

import csv
from pathlib import Path

from knowledge.faq.formats import read_faq_file
from knowledge.faq.hashing import HashingEncoder
from knowledge.faq.index import FaqIndex

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "zh"


def _queries() -> list[tuple[str, str]]:
    with (DEMO / "queries.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["query"], row["faq_id"]) for row in csv.DictReader(handle)]


def test_the_demo_file_is_valid_chinese() -> None:
    read = read_faq_file(DEMO / "faq.yaml")
    assert len(read.entries) >= 20 and not read.warnings
    assert {entry.language for entry in read.entries} == {"zh"}
    ids = {entry.faq_id for entry in read.entries}
    queries = _queries()
    assert {faq_id for _, faq_id in queries} == ids  # every entry has test messages, none unknown


def test_hybrid_search_answers_the_demo_messages() -> None:
    entries = read_faq_file(DEMO / "faq.yaml").entries
    encoder = HashingEncoder(512)
    dense = FaqIndex.build(entries, encoder, faq_revision=1)
    hybrid = FaqIndex.build(entries, encoder, faq_revision=1, lexical_weight=0.7)
    queries = _queries()

    def recall(index: FaqIndex, k: int) -> float:
        found = [faq_id in {h.faq_id for h in index.search(encoder.encode([text])[0], k=k, text=text)}
                 for text, faq_id in queries]
        return sum(found) / len(found)

    assert recall(hybrid, 1) >= 0.8 and recall(hybrid, 3) >= 0.95
    assert recall(hybrid, 1) > recall(dense, 1) + 0.2  # what the lexical half adds for Chinese
