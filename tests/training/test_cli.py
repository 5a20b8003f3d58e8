"""``supportbot train`` / ``supportbot evaluate`` through the root dispatcher: help and error paths."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.training.helpers import TOY_FAQ, TOY_QUERIES, write_csv, write_toy_intents


def run_error(argv: list[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    message = str(caught.value.code)
    assert message.count("\n") == 0, "one line"
    return message


def test_help_has_examples_and_does_not_import_torch() -> None:
    code = (
        "import sys, contextlib, io\nfrom bot.cli import main\n"
        "for argv in (['train','intents','--help'], ['train','retriever','--help'],"
        " ['train','joint','--help'], ['evaluate','intents','--help'], ['evaluate','faq','--help']):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "    assert 'example:' in out.getvalue() and 'supportbot ' in out.getvalue(), argv\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_group_without_subcommand_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        status = main(["train"])
    except SystemExit as stop:
        status = stop.code
    assert status not in (0, None)
    assert "intents" in capsys.readouterr().out


def test_missing_column(tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "bad.csv", ["text", "intent"], [("hi", "greeting")])
    message = run_error(["train", "intents", "--train", str(bad), "--out", str(tmp_path / "out")])
    assert message.startswith("supportbot train: error: ") and "bad.csv" in message and "label" in message
    assert not (tmp_path / "out").exists()


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert "empty" in run_error(["train", "intents", "--train", str(empty), "--out", str(tmp_path / "out")])


def test_one_intent_in_total(tmp_path: Path) -> None:
    rows = [("hello", "greeting"), ("hi", "greeting"), ("hey", "greeting"), ("weather", "oos")]
    train = write_csv(tmp_path / "train.csv", ["text", "label"], rows)
    message = run_error(["train", "intents", "--train", str(train), "--out", str(tmp_path / "out")])
    assert message == (f"supportbot train: error: {train}: 1 intent(s) to learn (greeting) besides 'oos'; "
                       "a classifier needs at least 2")
    assert not (tmp_path / "out").exists()


def test_messy_data_trains_with_warnings_on_stderr(tmp_path: Path, tiny_bert_master: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A single-example intent, a repeat, a conflict and a blank row: trained, each one reported."""
    train = write_toy_intents(tmp_path / "train.csv")
    with train.open("a", encoding="utf-8") as handle:
        handle.write("ten pallets of mattresses,wholesale\nhello,greeting\n,refund\nrefund please,greeting\n")
    out = tmp_path / "out"
    assert main(["train", "intents", "--train", str(train), "--out", str(out), "--base-model", str(tiny_bert_master),
                 "--epochs", "1", "--min-train-steps", "5", "--batch-size", "8", "--precision", "fp32"]) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("supportbot train: warning: ")]
    assert [line.removeprefix("supportbot train: warning: ") for line in warnings] == [
        f"{train}: skipped 1 row(s) with no text or no label (line 46)",
        f"{train}: dropped 1 repeated row(s)",
        f"{train}: 1 text(s) have conflicting labels; dropped 2 row(s)",
        f"{train}: conflict: 'refund please' labelled greeting 1, refund 1: dropped all",
        "not validated: too few examples: wholesale (1)",
    ]
    assert f"wrote {out}" in captured.out
    assert "wholesale" in json.loads((out / "supportbot_intents.json").read_text(encoding="utf-8"))["labels"]
    report = json.loads((out / "data_report.json").read_text(encoding="utf-8"))
    assert report["not_validated"]["labels"] == {"wholesale": 1}
    assert report["files"][0] | {"conflict_examples": None} == {
        "source": str(train), "rows_read": 46, "empty_skipped": 1, "empty_lines": [46], "duplicates_dropped": 1,
        "conflicts": 1, "conflict_rows_dropped": 2, "conflict_examples": None, "long_texts": 0, "rows_kept": 42}
    assert "wholesale (1)" in (out / "data_report.md").read_text(encoding="utf-8")


def test_unreadable_base_model_leaves_no_output(tmp_path: Path) -> None:
    train = write_toy_intents(tmp_path / "train.csv")
    out = tmp_path / "out"
    argv = ["train", "intents", "--train", str(train), "--out", str(out), "--base-model", str(tmp_path / "no-model")]
    assert "no-model" in run_error(argv) and "not a model directory" in run_error(argv)
    assert list(tmp_path.iterdir()) == [train]


def test_broken_base_model_dir_leaves_no_output(tmp_path: Path) -> None:
    train = write_toy_intents(tmp_path / "train.csv")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    argv = ["train", "intents", "--train", str(train), "--out", str(tmp_path / "out"), "--base-model", str(broken)]
    assert run_error(argv).startswith("supportbot train: error: --base-model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "train.csv"]


def test_existing_output_is_not_overwritten(tmp_path: Path, tiny_bert: Path) -> None:
    train = write_toy_intents(tmp_path / "train.csv")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    argv = ["train", "intents", "--train", str(train), "--out", str(out), "--base-model", str(tiny_bert)]
    assert "already exists" in run_error(argv)
    assert (out / "keep.txt").read_text() == "mine"


def test_bad_argument_value(tmp_path: Path) -> None:
    train = write_toy_intents(tmp_path / "train.csv")
    message = run_error(["train", "intents", "--train", str(train), "--out", str(tmp_path / "o"), "--epochs", "0"])
    assert "training argument epochs" in message


def test_retriever_errors(tmp_path: Path) -> None:
    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer"], [("f1", "q", "a")])
    queries = write_csv(tmp_path / "q.csv", ["query", "faq_id"], [("x", "f2")])
    message = run_error(["train", "retriever", "--faq", str(faq), "--queries", str(queries), "--out", str(tmp_path / "o")])
    assert "faq_id 'f2' is not in the FAQ" in message and "q.csv" in message


def test_evaluate_errors(tmp_path: Path) -> None:
    test = write_toy_intents(tmp_path / "test.csv")
    message = run_error(["evaluate", "intents", "--model", str(tmp_path), "--test", str(test), "--report", str(tmp_path / "r")])
    assert message.startswith("supportbot evaluate: error: ") and "supportbot_intents.json" in message
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    message = run_error(["evaluate", "intents", "--model", str(tmp_path), "--test", str(test), "--report", str(tmp_path / "r")])
    assert "runtime bundle" in message


def test_lexical_weight_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer"], [("f1", "q", "a")])
    queries = write_csv(tmp_path / "q.csv", ["query", "faq_id"], [("x", "f1")])
    argv = ["train", "retriever", "--faq", str(faq), "--queries", str(queries), "--out", str(tmp_path / "o")]
    for bad in ("1.5", "high"):
        with pytest.raises(SystemExit):
            main([*argv, "--lexical-weight", bad])
        assert "--lexical-weight: expected auto or a number in [0, 1]" in capsys.readouterr().err


def test_held_out_queries_flag(tmp_path: Path, tiny_bert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The share of queries held out to calibrate the FAQ thresholds on is the team's to choose."""
    from training.data import read_rows

    faq = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer"], TOY_FAQ)
    queries = write_csv(tmp_path / "q.csv", ["query", "faq_id"], TOY_QUERIES)
    argv = ["train", "retriever", "--faq", str(faq), "--queries", str(queries), "--base-model", str(tiny_bert),
            "--epochs", "1", "--precision", "fp32"]
    for bad in ("0", "1", "half"):
        with pytest.raises(SystemExit):
            main([*argv, "--out", str(tmp_path / "bad"), "--held-out-queries", bad])
        assert "--held-out-queries: expected a number between 0 and 1" in capsys.readouterr().err
    for share in (0.1, 0.5):
        out = tmp_path / f"held{share}"
        assert main([*argv, "--out", str(out), "--held-out-queries", str(share)]) == 0
        held = read_rows(out / "heldout_queries.csv", ["query", "faq_id"])
        assert len(held) == max(1, round(len(TOY_QUERIES) * share))
