from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bot.cli import main
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaqStore:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUPPORTBOT_DB", raising=False)
    store = FaqStore(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))
    store.add(FaqEntry("refunds", "How long do refunds take?", "Five days."), "ana")
    ConversationLog(store.database).record([
        TurnRecord("web:a", "web", "refund, how long?", "fallback", "sorry", 2.0, needs_review=True),
        TurnRecord("web:a", "web", "hello", "handler", "Hi!", 1.0, intent="greeting", confidence=0.9),
        TurnRecord("web:b", "web", "weather?", "fallback", "sorry", 2.0, needs_review=True),
    ])
    return store


def test_export_csv_and_jsonl(store: FaqStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "export", "--format", "jsonl", "--output", str(tmp_path / "t.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["refund, how long?", "hello", "weather?"]
    assert rows[1]["intent"] == "greeting" and rows[0]["review"] == "pending"
    assert main(["logs", "export", "--format", "csv", "--output", str(tmp_path / "t.csv"), "--pending"]) == 0
    assert (tmp_path / "t.csv").read_text().count("\n") == 3  # header + two pending turns
    with pytest.raises(SystemExit, match="needs a .csv file name"):
        main(["logs", "export", "--format", "csv", "--output", str(tmp_path / "t.txt")])


def test_export_writes_into_the_path_given_without_replacing_or_renaming_it(store: FaqStore, tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"  # stands for /dev/full or /dev/null: not a file a rename may replace
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main(["logs", "export", "--format", "jsonl", "--output", str(pipe)]) == 0
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert [json.loads(line)["text"] for line in received.splitlines()] == ["refund, how long?", "hello", "weather?"]
    assert stat.S_ISFIFO(pipe.stat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["data", "pipe"]
    with pytest.raises(SystemExit, match="is a directory"):
        main(["logs", "export", "--format", "csv", "--output", str(tmp_path)])


@pytest.mark.parametrize("where", ["afile/t.csv", "missing/t.csv", "adir.csv"])
def test_export_where_no_file_can_be_written_is_one_line_and_makes_nothing(
    where: str, store: FaqStore, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("kept", encoding="utf-8")  # a file where a directory should be
    (tmp_path / "adir.csv").mkdir()
    with pytest.raises(SystemExit) as caught:
        main(["logs", "export", "--format", "csv", "--output", str(tmp_path / where)])
    message = str(caught.value.code)
    assert message.startswith(f"supportbot logs: error: cannot write {tmp_path / where}: ") and "\n" not in message
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.csv", "afile", "data"]
    assert list((tmp_path / "adir.csv").iterdir()) == []


def test_import_applies_all_labels(store: FaqStore, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("turn_id,kind,value\n1,faq,refunds\n3,out_of_scope,\n", encoding="utf-8")
    assert main(["logs", "import", str(path), "--author", "labeller"]) == 0
    labels = Reviews(store.database).labels()
    assert {(label.turn_id, label.kind, label.value, label.author) for label in labels} == {
        (1, "faq", "refunds", "labeller"), (3, "out_of_scope", None, "labeller")}


def test_import_reports_every_bad_row_and_applies_nothing(store: FaqStore, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join([
        json.dumps({"turn_id": 1, "kind": "intent", "value": "refund_status"}),  # fine
        json.dumps({"turn_id": 2, "kind": "intent", "value": "greeting"}),  # line 2: not queued
        json.dumps({"turn_id": 3, "kind": "faq", "value": "no-such-entry"}),  # line 3: unknown FAQ
        json.dumps({"turn_id": "x", "kind": "dismissed"}),  # line 4: bad id
        json.dumps({"turn_id": 1, "kind": "shrug"}),  # line 5: twice, unknown kind
    ]) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        main(["logs", "import", str(path)])
    message = str(caught.value.code)
    for line in (2, 3, 4, 5):
        assert f"labels.jsonl, line {line}" in message
    assert "line 1," not in message
    assert Reviews(store.database).labels() == [] and len(Reviews(store.database).pending()) == 2


def test_unlabel_and_relabel_follow_the_faq_phrasings(store: FaqStore, capsys: pytest.CaptureFixture[str]) -> None:
    reviews = Reviews(store.database)
    refund, weather = [t.id for t in reversed(reviews.pending())]
    reviews.label([refund], "faq", "refunds", "ana")
    store.edit("refunds", 1, "ana", alternatives=("refund, how long?",))  # as the console attaches it
    store.add(FaqEntry("forecast", "Do you forecast weather?", "No."), "ana")
    reviews.label([weather], "intent", "weather", "ana")
    assert main(["logs", "relabel", str(weather), "--faq", "forecast", "--author", "bo"]) == 0
    assert "intent weather -> faq forecast" in capsys.readouterr().out
    assert store.get("forecast").alternatives == ("weather?",)
    assert main(["logs", "relabel", str(weather), "--out-of-scope"]) == 0
    assert store.get("forecast").alternatives == () and reviews.labels(weather)[0].kind == "out_of_scope"
    assert main(["logs", "unlabel", str(refund)]) == 0
    out = capsys.readouterr().out
    assert "label faq refunds undone" in out and "FAQ entry refunds" in out
    assert store.get("refunds").alternatives == () and [t.id for t in reviews.pending()] == [refund]
    with pytest.raises(SystemExit, match=rf"supportbot logs: error: turn\(s\) \[{refund}\] have no label"):
        main(["logs", "unlabel", str(refund)])
    with pytest.raises(SystemExit, match="no FAQ entry 'nope'"):
        main(["logs", "relabel", str(weather), "--faq", "nope"])
