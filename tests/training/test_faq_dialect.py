"""One FAQ CSV dialect: training, the parity gate and the knowledge base read the same phrasings.

Every producer of FAQ CSVs is covered: ``supportbot kb export`` writes alternatives one per
line, training's ``write_faq`` (heldout_faq.csv) wrote them joined by ``|`` before it used the
shared dialect, and hand-written files use either (or Windows line ends).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from export.heldout import read_faq_entries, read_retrieval_set
from knowledge.faq.entry import FaqEntry
from knowledge.faq.formats import read_faq_file, write_faq_file
from tests.training.helpers import write_csv
from training.data import read_faq, write_faq

CELLS = {
    "kb export (one per line)": "forgot password\nreset my login",
    "training before (joined by |)": "forgot password|reset my login",
    "hand-written, spaces and blanks": " forgot password | \n\n reset my login ",
    "Windows line ends": "forgot password\r\nreset my login",
}


@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_every_reader_splits_alternatives_alike(tmp_path: Path, cell: str) -> None:
    path = write_csv(tmp_path / "faq.csv", ["faq_id", "question", "answer", "alternatives"],
                     [("f1", "reset password", "Use the link.", cell), ("f2", "refund", "Yes.", "")])
    expected = [("reset password", "forgot password", "reset my login"), ("refund",)]
    assert [e.phrasings() for e in read_faq(path)] == expected
    assert [e.phrasings() for e in read_faq_entries(path)] == expected
    assert [e.phrasings() for e in read_faq_file(path).entries] == expected
    queries = write_csv(tmp_path / "q.csv", ["query", "faq_id"], [("pw", "f1")])
    gate = read_retrieval_set(path, queries, "question")
    assert gate.documents == ("reset password", "forgot password", "reset my login", "refund")


def test_training_writes_what_the_knowledge_base_and_the_gate_read(tmp_path: Path) -> None:
    entries = [FaqEntry("f1", "Q one?", "A, with a comma.\nTwo lines.", ("alt 1", "alt 2")),
               FaqEntry("f2", "Q two?", "A.")]
    write_faq(tmp_path / "heldout_faq.csv", entries)
    assert read_faq(tmp_path / "heldout_faq.csv") == entries
    assert read_faq_entries(tmp_path / "heldout_faq.csv") == entries
    assert list(read_faq_file(tmp_path / "heldout_faq.csv").entries) == entries
    write_faq_file(entries, tmp_path / "export.csv")  # what ``supportbot kb export`` writes
    assert read_faq(tmp_path / "export.csv") == entries
