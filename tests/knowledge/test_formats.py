from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.database import Database
from knowledge.errors import FaqFileError
from knowledge.faq.entry import FaqEntry
from knowledge.faq.formats import read_faq_file, write_faq_file
from knowledge.faq.store import FaqStore

TRICKY = [
    FaqEntry("commas", 'Do you ship to "Paris, France"?', "Yes, we do, see [shipping](https://example.com/s?a=1,b=2).",
             alternatives=("Shipping to France?", "livraison en France ?"), tags=("shipping", "eu"),
             language="en"),
    FaqEntry("multiline", "What are your hours?", "Mon-Fri 8-18.\nSat 10-14.\n\nSunday closed.",
             enabled=False),
    FaqEntry("unicode", "退款需要多久？", "通常需要 5 个工作日 😀", alternatives=("怎么退款",), language="zh"),
    FaqEntry("plain", "Just a question", "Just an answer"),
]


@pytest.mark.parametrize("suffix", [".csv", ".yaml", ".json"])
def test_write_then_read_round_trips(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"faq{suffix}"
    write_faq_file(TRICKY, path)
    assert list(read_faq_file(path).entries) == TRICKY


@pytest.mark.parametrize("suffix", [".csv", ".yaml", ".json"])
def test_export_import_export_is_identical(tmp_path: Path, suffix: str) -> None:
    first = FaqStore(Database.open(f"sqlite:///{tmp_path / 'a.db'}"))
    first.import_entries(TRICKY, "ana")
    exported = tmp_path / f"first{suffix}"
    write_faq_file(first.list(), exported)
    second = FaqStore(Database.open(f"sqlite:///{tmp_path / 'b.db'}"))
    second.import_entries(read_faq_file(exported).entries, "ben")
    again = tmp_path / f"second{suffix}"
    write_faq_file(second.list(), again)
    assert exported.read_bytes() == again.read_bytes()
    assert first.plan_import(read_faq_file(again).entries).changes == 0


def test_csv_minimal_columns(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("faq_id,question,answer\nq1,How?,Like this.\n", encoding="utf-8")
    (entry,) = read_faq_file(path).entries
    assert entry == FaqEntry("q1", "How?", "Like this.")


def test_csv_reports_every_bad_row_with_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "faq_id,question,answer\n"
        "ok,Fine question,Fine answer\n"
        'multi,"Question",""\n'  # line 3: empty answer
        "bad id,Question,Answer\n"  # line 4: bad id
        "ok,Again,Duplicate\n"  # line 5: duplicate
        ",No id,Answer\n",  # line 6: missing id
        encoding="utf-8",
    )
    with pytest.raises(FaqFileError) as caught:
        read_faq_file(path)
    found = {(p.location.rsplit(" ", 1)[-1], p.field) for p in caught.value.problems}
    assert found == {("3", "answer"), ("4", "faq_id"), ("5", "faq_id"), ("6", "faq_id")}
    message = str(caught.value)
    assert "faq.csv, line 5" in message and "first at" in message and "nothing was imported" in message


def test_csv_line_numbers_count_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text('faq_id,question,answer\na,Q,"line one\nline two"\nb,Q2,\n', encoding="utf-8")
    with pytest.raises(FaqFileError) as caught:
        read_faq_file(path)
    assert [p.location for p in caught.value.problems] == [f"{path}, line 4"]


def test_unknown_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("faq_id,question,colour\n", encoding="utf-8")
    with pytest.raises(FaqFileError) as caught:
        read_faq_file(path)
    message = str(caught.value)
    assert "missing column 'answer'" in message and "unknown column 'colour'" in message


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_bytes(b"faq_id,question,answer\na,Q,A\nb,Caf\xe9?,A\n")
    with pytest.raises(FaqFileError, match=r"line 3.*UTF-8"):
        read_faq_file(path)


def test_long_answer_warns_but_imports(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text(json.dumps([{"faq_id": "long", "question": "Q", "answer": "x" * 5000}]), encoding="utf-8")
    result = read_faq_file(path)
    assert len(result.entries) == 1
    assert [p.field for p in result.warnings] == ["answer"] and "4096" in str(result.warnings[0])


def test_yaml_errors_name_the_line_of_each_entry(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(
        "format: supportbot-faq\nversion: 1\nentries:\n"
        "  - faq_id: good\n    question: Q\n    answer: A\n"
        "  - faq_id: bad\n    question: Q\n    answer: A\n    colour: red\n"  # line 7
        "  - faq_id: worse\n    question: Q\n    answer: A\n    alternatives: not-a-list\n",  # line 11
        encoding="utf-8",
    )
    with pytest.raises(FaqFileError) as caught:
        read_faq_file(path)
    assert {(p.location, p.field) for p in caught.value.problems} == {
        (f"{path}, line 7", "colour"), (f"{path}, line 11", "alternatives")}


def test_invalid_yaml_and_json_syntax(tmp_path: Path) -> None:
    yaml_path = tmp_path / "faq.yaml"
    yaml_path.write_text("entries:\n  - faq_id: [unclosed\n", encoding="utf-8")
    with pytest.raises(FaqFileError, match="not valid YAML"):
        read_faq_file(yaml_path)
    json_path = tmp_path / "faq.json"
    json_path.write_text('{"entries": [\n{"faq_id": }]}', encoding="utf-8")
    with pytest.raises(FaqFileError, match=r"line 2.*not valid JSON"):
        read_faq_file(json_path)


def test_wrong_format_version_and_extension(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text(json.dumps({"format": "supportbot-faq", "version": 9, "entries": []}), encoding="utf-8")
    with pytest.raises(FaqFileError, match="expected 1, got 9"):
        read_faq_file(path)
    with pytest.raises(FaqFileError, match="unknown file type '.txt'"):
        read_faq_file(tmp_path / "faq.txt")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("faq_id,question,answer\n", encoding="utf-8")
    with pytest.raises(FaqFileError, match="no FAQ entries"):
        read_faq_file(path)


def test_demo_knowledge_base_is_valid() -> None:
    demo = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "faq.yaml"
    result = read_faq_file(demo)
    assert len(result.entries) >= 40
    assert all(2 <= len(e.alternatives) <= 4 for e in result.entries)
    assert not result.warnings


def test_a_link_the_chat_cannot_show_warns_but_imports(tmp_path: Path) -> None:
    """The chat and Telegram make links of http(s) addresses only (``knowledge.faq.entry.LINK``);
    anything else that looks like a link shows to customers as raw markup."""
    path = tmp_path / "faq.json"
    answer = ("See [our returns page](https://example.com/returns), [click](javascript:alert(1)), [mail](mailto:a@b.c), "
              "[Returns](HTTPS://shop.example/returns) and [x](https://a.example/p<q>).")
    path.write_text(json.dumps([{"faq_id": "links", "question": "Q", "answer": answer}]), encoding="utf-8")
    result = read_faq_file(path)
    assert len(result.entries) == 1
    messages = [str(p) for p in result.warnings]
    assert [m.split(" is not a link")[0].split(": ")[-1] for m in messages] == [
        "[click](javascript:alert(1)", "[mail](mailto:a@b.c)", "[Returns](HTTPS://shop.example/returns)",
        "[x](https://a.example/p<q>)"]
    assert all("customers see it as written" in m for m in messages)


def test_the_web_chat_makes_links_of_what_the_server_calls_links() -> None:
    """chat-text.js carries the same pattern as ``LINK`` (which Telegram and the warnings use)."""
    import re

    from knowledge.faq.entry import LINK

    script = (Path(__file__).parents[2] / "bot" / "channels" / "static" / "chat-text.js").read_text(encoding="utf-8")
    found = re.search(r"const LINK = /(.+)/g;", script)
    assert found is not None and found.group(1).replace("\\/", "/") == LINK.pattern
