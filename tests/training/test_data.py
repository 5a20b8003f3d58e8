"""CSV loading, splits and fingerprints."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.training.helpers import write_csv, write_toy_intents
from training.data import (
    IntentExample,
    fingerprint,
    read_faq,
    read_intent_file,
    read_intents,
    read_queries,
    split_queries,
    split_stratified,
)
from training.errors import TrainingInputError


def test_read_intents_strips_and_keeps_unicode(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", ["text", "label"], [(" 你好 ", "greeting"), ("hi 👋", "greeting")])
    assert read_intents(path) == [IntentExample("你好", "greeting"), IntentExample("hi 👋", "greeting")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("text,label\n", "no data rows"),
        ("text,intent\nhi,greeting\n", "missing column(s) label"),
        ("text,label\n,greeting\n  ,x\nhi,\n", "none of its 3 row(s) has both a text and a label"),
    ],
)
def test_read_intents_errors_name_file_line_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TrainingInputError, match=re.escape(message)) as caught:
        read_intents(path)
    assert str(path) in str(caught.value)


def test_rows_without_text_or_label_are_skipped_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("text,label\nhi,greeting\n,greeting\n   ,refund\nrefund please,\n\nbye,goodbye\n,\n",
                    encoding="utf-8")
    data = read_intent_file(path)
    assert data.rows == [IntentExample("hi", "greeting"), IntentExample("bye", "goodbye")]
    assert data.empty_lines == (3, 4, 5, 8) and data.rows_read == 6  # the blank line 6 is no row at all
    assert read_intents(path) == data.rows


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("text,label\r\nhi,greeting\r\n".encode("utf-8-sig"))
    assert read_intents(path) == [IntentExample("hi", "greeting")]


def test_faq_fields_must_not_be_empty(tmp_path: Path) -> None:
    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer"], [("f1", "q", "a"), ("f2", "q2", " ")])
    with pytest.raises(TrainingInputError, match="line 3: field 'answer' is empty"):
        read_faq(faq)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(TrainingInputError, match="cannot read file"):
        read_intents(tmp_path / "nope.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(TrainingInputError, match="not UTF-8"):
        read_intents(path)


def test_split_is_stratified_and_capped(tmp_path: Path) -> None:
    rows = read_intents(write_toy_intents(tmp_path / "t.csv", with_oos=False))
    train, valid = split_stratified(rows, fraction=0.5, max_rows=6, seed=0)
    assert len(valid) == 6 and len(train) == len(rows) - 6
    assert Counter(r.label for r in valid) == {"greeting": 2, "track_order": 2, "refund": 2}
    assert split_stratified(rows, 0.5, 6, 0) == (train, valid)  # fixed seed, same split


def test_a_label_with_one_row_stays_in_training() -> None:
    rows = [IntentExample("a", "x"), IntentExample("b", "x"), IntentExample("c", "lonely")]
    train, valid = split_stratified(rows, 0.5, 10, 0)
    assert IntentExample("c", "lonely") in train and [r.label for r in valid] == ["x"]
    assert split_stratified([IntentExample("a", "x"), IntentExample("c", "lonely")], 0.5, 10, 0) == (
        [IntentExample("a", "x"), IntentExample("c", "lonely")], [])  # nothing to validate: all trained on


def test_a_label_kept_for_training_gives_no_validation_row() -> None:
    rows = [IntentExample(f"big {i}", "big") for i in range(20)] + [IntentExample(f"new {i}", "new") for i in range(5)]
    assert "new" in {r.label for r in split_stratified(rows, 0.2, 10, 0)[1]}
    train, valid = split_stratified(rows, 0.2, 10, 0, keep={"new"})
    assert {r.label for r in valid} == {"big"} and sum(r.label == "new" for r in train) == 5


def test_every_label_with_two_rows_is_in_both_parts() -> None:
    """Beside a large label, proportional rounding would give labels of 2 rows no validation row."""
    rows = [IntentExample(f"big {i}", "big") for i in range(100)]
    rows += [IntentExample(f"small {label} {i}", label) for label in "abcde" for i in range(2)]
    train, valid = split_stratified(rows, 0.1, 500, 0)
    held, kept = Counter(r.label for r in valid), Counter(r.label for r in train)
    assert all(held[label] == kept[label] == 1 for label in "abcde") and held["big"] >= 9
    assert len(valid) > round(110 * 0.1)  # sklearn's 11 rows left some small label out: rows were moved
    assert sorted(train + valid, key=str) == sorted(rows, key=str)


def test_split_of_few_rows_never_fails() -> None:
    rows = [IntentExample(f"{label}{i}", label) for label in "xy" for i in range(2)]
    train, valid = split_stratified(rows, 0.9, 10, 0)
    assert sorted(r.label for r in train) == sorted(r.label for r in valid) == ["x", "y"]


def test_faq_alternatives_and_query_ids(tmp_path: Path) -> None:
    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer", "alternatives"],
                    [("f1", "reset password", "Use the link.", "forgot password | 密码重置"), ("f2", "refund", "Yes.", "")])  # fmt: skip
    entries = read_faq(faq)
    assert entries[0].phrasings() == ("reset password", "forgot password", "密码重置")
    assert entries[1].alternatives == ()
    queries = write_csv(tmp_path / "q.csv", ["query", "faq_id"], [("pw", "f1"), ("money", "f9")])
    with pytest.raises(TrainingInputError, match="row 3: faq_id 'f9' is not in the FAQ"):
        read_queries(queries, {"f1", "f2"})
    dup = write_csv(tmp_path / "dup.csv", ["faq_id", "question", "answer"], [("f1", "a", "b"), ("f1", "c", "d")])
    with pytest.raises(TrainingInputError, match="duplicate faq_id 'f1'"):
        read_faq(dup)


def test_split_queries_and_fingerprint() -> None:
    from training.data import LabelledQuery

    queries = [LabelledQuery(f"q{i}", "f1") for i in range(10)]
    train, held = split_queries(queries, 0.2, seed=1)
    assert len(held) == 2 and set(train) | set(held) == set(queries)
    assert fingerprint(queries) == fingerprint(list(queries))
    assert fingerprint(queries) != fingerprint(queries[:-1])
