from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser, main
from knowledge.database import Database
from knowledge.faq.store import FaqStore


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUPPORTBOT_DB", raising=False)
    monkeypatch.setenv("USER", "tester")
    return tmp_path / "data"


def kb(*args: str) -> int:
    return main(["kb", *args])


def error_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as caught:
        kb(*args)
    message = str(caught.value.code)
    assert message.startswith("supportbot kb: error: ")
    return message


def store(data_dir: Path) -> FaqStore:
    return FaqStore(Database.open(f"sqlite:///{data_dir / 'supportbot.db'}"))


def test_every_kb_command_has_help_with_an_example() -> None:
    parser = build_parser()
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    kb_parser = groups[0].choices["kb"]
    (sub,) = [a for a in kb_parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == {"list", "show", "add", "edit", "remove", "restore", "history",
                                "revert", "import", "export", "index"}
    for name, command in sub.choices.items():
        assert "example:\n  supportbot kb " + name in command.description


def test_add_edit_history_revert(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kb("add", "returns", "--question", "Can I return it?", "--answer", "Yes, 30 days.",
              "--alt", "How do returns work?", "--tag", "returns") == 0
    assert kb("edit", "returns", "--base-revision", "1", "--answer", "Yes, 60 days.") == 0
    assert kb("history", "returns") == 0
    out = capsys.readouterr().out
    assert "added returns (revision 1)" in out and "edited returns (revision 2)" in out
    assert "tester\tedit\tanswer" in out
    assert kb("revert", "returns", "1") == 0
    assert store(data_dir).get("returns").answer == "Yes, 30 days."


def test_stale_edit_is_one_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb("add", "returns", "--question", "Q?", "--answer", "A.")
    kb("edit", "returns", "--answer", "B.")
    message = error_of(capsys, "edit", "returns", "--base-revision", "1", "--answer", "C.")
    assert "conflict" in message and "\n" not in message
    assert store(data_dir).get("returns").answer == "B."


def test_unknown_entry_and_nothing_to_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert "no FAQ entry 'nope'" in error_of(capsys, "show", "nope")
    kb("add", "x", "--question", "Q?", "--answer", "A.")
    assert "nothing to change" in error_of(capsys, "edit", "x")


def test_invalid_add_names_the_fields(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, "add", "bad id", "--question", " ", "--answer", "A")
    assert "'faq_id'" in message and "'question'" in message
    assert store(data_dir).list() == []


def test_bad_import_lists_every_row_and_changes_nothing(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb("add", "keep", "--question", "Q?", "--answer", "A.")
    path = tmp_path / "bad.csv"
    path.write_text("faq_id,question,answer\nnew,Fine,Fine\nb1,,x\nb2,y,\n", encoding="utf-8")
    message = error_of(capsys, "import", str(path))
    assert "bad.csv, line 3" in message and "bad.csv, line 4" in message
    assert [e.faq_id for e in store(data_dir).list()] == ["keep"]


def test_dry_run_changes_nothing(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("entries:\n  - {faq_id: a, question: Q, answer: A}\n", encoding="utf-8")
    assert kb("import", str(path), "--dry-run") == 0
    assert "would create 1" in capsys.readouterr().out
    assert store(data_dir).list() == []


def test_export_format_must_match_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb("add", "x", "--question", "Q?", "--answer", "A.")
    assert "extension '.csv'" in error_of(capsys, "export", "--format", "yaml", "--output", str(tmp_path / "a.csv"))
    for name, why in (("a", "it has no extension"), ("a.txt", "the extension '.txt' names no format")):
        message = error_of(capsys, "export", "--output", str(tmp_path / name))  # no --format: the extension says
        assert f"{why}; give --format" in message and "\n" not in message
    assert kb("export", "--format", "yaml", "--output", str(tmp_path / "a")) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name != "data"] == ["a"]  # the path given, no extension added
    assert yaml.safe_load((tmp_path / "a").read_text(encoding="utf-8"))["entries"][0]["faq_id"] == "x"


def test_export_writes_into_the_path_given_without_replacing_or_renaming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb("add", "x", "--question", "Q?", "--answer", "A.")
    pipe = tmp_path / "pipe"  # stands for /dev/full or /dev/null: not a file a rename may replace
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert kb("export", "--format", "json", "--output", str(pipe)) == 0
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert json.loads(received)["entries"][0]["faq_id"] == "x"
    assert stat.S_ISFIFO(pipe.stat().st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["data", "pipe"]
    assert f"exported 1 entries to {pipe}\n" in capsys.readouterr().out
    # a directory is refused, not written beside as DIR.yaml
    assert "is a directory" in error_of(capsys, "export", "--format", "yaml", "--output", str(tmp_path))
    assert not tmp_path.with_name(f"{tmp_path.name}.yaml").exists()


@pytest.mark.parametrize(("command", "suffix"), [("export", ".yaml"), ("index", ".index")])
@pytest.mark.parametrize("where", ["afile/faq", "missing/faq", "adir"])
def test_output_where_no_file_can_be_written_is_one_line_and_makes_nothing(
    command: str, suffix: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kb export and kb index --output: a file in the way, a missing directory, or a directory
    named as the file."""
    (tmp_path / "afile").write_text("kept", encoding="utf-8")  # a file where a directory should be
    (tmp_path / f"adir{suffix}").mkdir()
    kb("add", "x", "--question", "Q?", "--answer", "A.")
    output = tmp_path / f"{where}{suffix}"
    message = error_of(capsys, command, "--output", str(output))
    assert message.startswith(f"supportbot kb: error: cannot write {output}: ") and "\n" not in message
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"adir{suffix}", "afile", "data"]
    assert list((tmp_path / f"adir{suffix}").iterdir()) == []


def test_group_without_command_shows_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert kb() == 2
    assert "import" in capsys.readouterr().out


def test_index_build_and_check(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb("add", "x", "--question", "Where is my parcel?", "--answer", "On its way.")
    assert kb("index") == 0
    assert kb("index", "--check") == 0
    out = capsys.readouterr().out
    assert "built" in out and "(up to date)" in out and "lexical bm25-" in out
    kb("edit", "x", "--answer", "Delivered.")
    kb("index", "--check")
    assert "(stale)" in capsys.readouterr().out
    assert "cannot read" in error_of(capsys, "index", "--check", "--output", str(data_dir / "missing.index"))


def test_stackfaq_import_export_reimport_unchanged(
    shared_data: Path, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kb("import", str(shared_data / "stackfaq" / "faq.csv")) == 0
    assert "created 125" in capsys.readouterr().out
    for suffix in ("csv", "yaml", "json"):
        exported = tmp_path / f"stackfaq.{suffix}"
        assert kb("export", "--output", str(exported)) == 0
        assert kb("import", str(exported)) == 0
        assert "created 0, updated 0, removed 0, unchanged 125" in capsys.readouterr().out


def test_import_if_empty_keeps_staff_edits(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("faq_id,question,answer\na,Q?,Original.\n", encoding="utf-8")
    assert kb("import", str(path), "--if-empty") == 0
    kb("edit", "a", "--answer", "Edited by staff.")
    assert kb("import", str(path), "--if-empty") == 0
    assert "not imported" in capsys.readouterr().out
    assert store(data_dir).get("a").answer == "Edited by staff."
