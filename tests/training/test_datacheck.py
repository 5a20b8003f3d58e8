"""The data check on messy intents files: one test per shape of real data, no model needed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.helpers import TOY_INTENTS, write_csv
from training.args import IntentTrainingArgs
from training.data import IntentExample
from training.datacheck import LONG_TEXT, Conflict, load_intents, text_key
from training.errors import TrainingInputError
from training.intents import prepare_splits

TOY_ROWS = [(text, label) for label, texts in TOY_INTENTS.items() for text in texts]


def test_repeated_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["text", "label"],
                     [("hello", "greeting"), ("refund", "refund"), ("hello", "greeting"), ("hello", "greeting"),
                      ("Hello", "greeting")])  # fmt: skip
    checked = load_intents(path)
    assert checked.rows == [IntentExample("hello", "greeting"), IntentExample("refund", "refund"),
                            IntentExample("Hello", "greeting")]  # a case variant is another example
    assert checked.check.duplicates_dropped == 2 and checked.check.conflicts == ()
    assert checked.check.warnings() == [f"{path}: dropped 2 repeated row(s)"]


def test_a_conflict_with_a_strict_majority_keeps_the_majority_label(tmp_path: Path) -> None:
    rows = [("cancel my order", "cancel"), ("Cancel  my order", "cancel"), ("cancel my order", "cancel"),
            ("cancel my order", "refund"), ("where is it", "track_order")]
    checked = load_intents(write_csv(tmp_path / "t.csv", ["text", "label"], rows))
    assert checked.rows == [IntentExample("cancel my order", "cancel"), IntentExample("Cancel  my order", "cancel"),
                            IntentExample("where is it", "track_order")]
    assert checked.check.conflicts == (Conflict("cancel my order", (("cancel", 3), ("refund", 1)), "cancel"),)
    assert checked.check.duplicates_dropped == 1 and checked.check.conflict_rows_dropped == 1


def test_a_tied_conflict_drops_every_row_of_the_text_and_names_it(tmp_path: Path) -> None:
    text = "i want my money back for the order that never arrived, it has been weeks now"
    rows = [(text, "refund"), (text.upper(), "track_order"), ("hi", "greeting")]
    path = write_csv(tmp_path / "t.csv", ["text", "label"], rows)
    checked = load_intents(path)
    assert checked.rows == [IntentExample("hi", "greeting")]
    assert checked.check.conflict_rows_dropped == 2
    warnings = checked.check.warnings()
    assert warnings[0] == f"{path}: 1 text(s) have conflicting labels; dropped 2 row(s)"
    assert warnings[1] == (f"{path}: conflict: 'i want my money back for the order that never arrived, it h…' "
                           "labelled refund 1, track_order 1: dropped all")  # the text clipped to 60 characters
    assert checked.check.to_dict()["conflict_examples"] == [
        {"text": text[:59] + "…", "labels": {"refund": 1, "track_order": 1}, "kept": None}]


def test_empty_and_blank_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nhello,greeting\n,greeting\n \t ,refund\nrefund,   \nrefund,refund\n", encoding="utf-8")
    checked = load_intents(path)
    assert [row.text for row in checked.rows] == ["hello", "refund"]
    assert checked.check.rows_read == 5 and checked.check.empty_lines == (3, 4, 5) and checked.check.rows_kept == 2
    assert checked.check.warnings() == [f"{path}: skipped 3 row(s) with no text or no label (line 3, 4, 5)"]


def test_long_texts_are_kept_and_counted(tmp_path: Path) -> None:
    long = "my parcel " * 500  # 5,000 characters
    checked = load_intents(write_csv(tmp_path / "t.csv", ["text", "label"], [(long, "track_order"), ("hi", "greeting")]))
    assert checked.rows[0].text == long.strip() and checked.check.long_texts == 1
    assert f"over {LONG_TEXT} characters" in checked.check.warnings()[0]


def test_a_single_example_intent_is_trained_but_reported_as_not_validated(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [*TOY_ROWS, ("ten pallets of mattresses", "wholesale")])
    splits = prepare_splits(path, None, IntentTrainingArgs(valid_fraction=0.3))
    assert "wholesale" in splits.labels and IntentExample("ten pallets of mattresses", "wholesale") in splits.train
    assert splits.report.not_validated == {"wholesale": 1}
    assert splits.report.warnings() == ["not validated: too few examples: wholesale (1)"]
    assert splits.report.to_dict()["not_validated"] == {"reason": "too few examples", "labels": {"wholesale": 1}}
    assert "Not validated (too few examples): wholesale (1)" in splits.report.markdown()
    json.dumps(splits.report.to_dict())  # the checkpoint's data_report.json


def test_an_intent_missing_from_the_valid_file_is_reported(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", ["text", "label"], TOY_ROWS)
    valid = write_csv(tmp_path / "valid.csv", ["text", "label"], [("hey there", "greeting"), ("refund it", "refund")])
    splits = prepare_splits(train, valid, IntentTrainingArgs())
    assert splits.report.not_validated == {"track_order": 12}
    assert splits.report.warnings() == [f"not validated: no rows in {valid}: track_order (12)"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [([("hello", "greeting"), ("hi", "greeting"), ("weather", "oos")],
      "1 intent(s) to learn (greeting) besides 'oos'; a classifier needs at least 2"),
     ([("hello", "greeting"), ("hello", "refund"), ("hi", "greeting")],  # the conflict leaves one intent
      "1 intent(s) to learn (greeting)"),
     ([("hello", "greeting"), ("refund", "refund")],
      "no intent has the 2 examples needed to hold one out for validation; add examples or pass --valid CSV")],
)  # fmt: skip
def test_what_cannot_be_trained_is_one_line(tmp_path: Path, rows: list[tuple[str, str]], message: str) -> None:
    path = write_csv(tmp_path / "t.csv", ["text", "label"], rows)
    with pytest.raises(TrainingInputError) as caught:
        prepare_splits(path, None, IntentTrainingArgs())
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_text_key_ignores_case_and_spacing() -> None:
    assert text_key(" Where IS\tmy  card ") == text_key("where is my card") == "where is my card"
