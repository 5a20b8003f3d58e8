from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from knowledge.errors import FaqIndexError, IndexMismatch
from knowledge.faq.documents import document_texts
from knowledge.faq.hashing import HashingEncoder
from knowledge.faq.index import FaqIndex, open_index
from knowledge.faq.store import FaqStore
from tests.knowledge.conftest import make_entry

ENTRIES = [
    make_entry("returns", question="Can I return an item?", alternatives=("refund for my purchase",)),
    make_entry("shipping", question="How long does delivery take?",
               alternatives=("when will my parcel arrive", "delivery time to Germany")),
    make_entry("password", question="I forgot my password", alternatives=("reset login password",)),
    make_entry("hidden", question="Secret parcel question", enabled=False),
]


class CountingEncoder(HashingEncoder):
    """The hashing encoder, remembering which texts it was asked to encode."""

    def __init__(self) -> None:
        super().__init__(dimension=256)
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return super().encode(texts)


def query(text: str) -> np.ndarray:
    return HashingEncoder(256).encode([text])[0]


def test_search_ranks_entries_by_best_phrasing() -> None:
    index = FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4)
    hits = index.search(query("when will my parcel arrive?"), k=3)
    assert hits[0].faq_id == "shipping" and hits[0].matched == "when will my parcel arrive"
    assert hits[0].score > 0.8
    assert len({h.faq_id for h in hits}) == len(hits) == 3  # one hit per entry
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_disabled_entries_are_not_indexed() -> None:
    index = FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4)
    assert "hidden" not in index.faq_ids
    assert index.header.count == 2 + 3 + 2


def test_search_on_empty_index() -> None:
    index = FaqIndex.build([], HashingEncoder(256), faq_revision=0)
    assert index.search(query("anything")) == []


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "faq.index"
    FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4).save(path)
    loaded = FaqIndex.load(path, encoder_fingerprint="hashing-v1-256", faq_revision=4)
    assert loaded.header.faq_revision == 4 and loaded.header.dimension == 256
    assert loaded.search(query("reset my password"))[0].faq_id == "password"
    assert [p.name for p in tmp_path.iterdir()] == ["faq.index"]  # no temp files left


def test_fingerprint_and_revision_mismatch_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "faq.index"
    FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4).save(path)
    with pytest.raises(IndexMismatch, match="rebuild"):
        FaqIndex.load(path, encoder_fingerprint="some-other-model")
    with pytest.raises(IndexMismatch, match="revision 4.*revision 5"):
        FaqIndex.load(path, faq_revision=5)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_damaged_file_is_refused(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "faq.index"
    FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4).save(path)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[-10] ^= 0xFF
    else:
        data = bytearray(b"not an index at all")
    path.write_bytes(bytes(data))
    with pytest.raises(FaqIndexError):
        FaqIndex.load(path)


def test_interrupted_save_keeps_previous_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "faq.index"
    FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4).save(path)
    newer = FaqIndex.build(ENTRIES[:1], HashingEncoder(256), faq_revision=5)

    def crash(_fd: int) -> None:  # the process dies after writing, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        newer.save(path)
    monkeypatch.undo()
    assert FaqIndex.load(path).header.faq_revision == 4
    assert [p.name for p in tmp_path.iterdir()] == ["faq.index"]


def test_killed_writer_leaves_previous_index(tmp_path: Path) -> None:
    """A real SIGKILL in the middle of writing the temp file."""
    import signal
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "faq.index"
    FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4).save(path)
    script = textwrap.dedent(f"""
        import os, signal, builtins
        from knowledge.faq.hashing import HashingEncoder
        from knowledge.faq.index import FaqIndex
        from tests.knowledge.test_index import ENTRIES
        real_open = builtins.open
        class Dying:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *a): self.f.close()
            def write(self, data):
                self.f.write(data[: len(data) // 3]); self.f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        builtins.open = lambda *a, **k: Dying(real_open(*a, **k))
        FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=9).save(__import__("pathlib").Path({str(path)!r}))
    """)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert FaqIndex.load(path).header.faq_revision == 4


def test_update_re_encodes_only_the_changed_entry() -> None:
    encoder = CountingEncoder()
    index = FaqIndex.build(ENTRIES, encoder, faq_revision=4)
    encoder.seen.clear()
    changed = make_entry("shipping", question="What does delivery cost?", alternatives=("shipping fee",))
    index.update(["shipping"], [changed], encoder, faq_revision=5)
    assert encoder.seen == ["What does delivery cost?", "shipping fee"]
    assert index.header.faq_revision == 5 and index.header.count == 2 + 2 + 2
    assert index.search(query("how much is the shipping fee"))[0].faq_id == "shipping"
    assert all(h.matched != "when will my parcel arrive" for h in index.search(query("parcel arrive"), k=5))


def test_update_removes_and_disables() -> None:
    index = FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4)
    index.update(["returns", "password"], [make_entry("password", enabled=False)], HashingEncoder(256), 6)
    assert index.faq_ids == {"shipping"}


def test_update_with_another_encoder_is_refused() -> None:
    index = FaqIndex.build(ENTRIES, HashingEncoder(256), faq_revision=4)
    with pytest.raises(IndexMismatch):
        index.update(["returns"], ENTRIES, HashingEncoder(128), 5)


def test_question_answer_documents() -> None:
    entry = make_entry(alternatives=("alt",))
    assert document_texts(entry, "question") == [entry.question, "alt"]
    assert document_texts(entry, "question_answer") == [f"{entry.question}\n{entry.answer}",
                                                        f"alt\n{entry.answer}"]
    index = FaqIndex.build([entry], HashingEncoder(256), 1, document="question_answer")
    (hit,) = index.search(query("30 days of delivery"))
    assert hit.faq_id == "returns" and hit.matched in entry.phrasings()  # a phrasing, not the answer


def test_open_index_builds_loads_then_updates(store: FaqStore, tmp_path: Path) -> None:
    path = tmp_path / "faq.index"
    for entry in ENTRIES:
        store.add(entry, "ana")
    encoder = CountingEncoder()
    index, action = open_index(path, store, encoder)
    assert action == "built" and index.faq_ids == {"returns", "shipping", "password"}
    index, action = open_index(path, store, encoder)
    assert action == "loaded"
    store.edit("password", 1, "ana", alternatives=["new login please"])
    encoder.seen.clear()
    index, action = open_index(path, store, encoder)
    assert action == "updated" and encoder.seen == ["I forgot my password", "new login please"]
    assert FaqIndex.load(path, faq_revision=store.kb_revision()).search(
        query("new login please"))[0].faq_id == "password"
    index, action = open_index(path, store, HashingEncoder(128))  # another encoder: rebuilt
    assert action == "built" and index.header.dimension == 128


CHINESE = [
    make_entry("repay", question="花呗怎么还款", alternatives=("花呗在哪里还钱",), language="zh"),
    make_entry("open", question="借呗怎么开通", alternatives=(), language="zh"),
    make_entry("overdue", question="花呗逾期会怎么样", alternatives=("花呗晚还几天有影响吗",), language="zh"),
    make_entry("address", question="如何修改收货地址", alternatives=("地址填错了怎么改",), language="zh"),
]


def test_hybrid_search_fuses_cosine_and_lexical_scores() -> None:
    encoder = HashingEncoder(256)
    index = FaqIndex.build(CHINESE, encoder, faq_revision=1, lexical_weight=0.5)
    text = "我的花呗晚还了几天有什么影响"
    hits = index.search(encoder.encode([text])[0], k=3, text=text)
    assert hits[0].faq_id == "overdue" and hits[0].matched == "花呗晚还几天有影响吗"
    cosine = float(encoder.encode([hits[0].matched])[0] @ encoder.encode([text])[0])
    lexical = FaqIndex.build(CHINESE, encoder, 1, lexical_weight=1.0).search(query(text), k=1, text=text)[0]
    assert hits[0].score == pytest.approx(0.5 * cosine + 0.5 * lexical.score, abs=1e-6)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.faq_id for h in hits}) == 3


def test_without_text_or_weight_search_is_dense() -> None:
    encoder = HashingEncoder(256)
    hybrid = FaqIndex.build(CHINESE, encoder, faq_revision=1, lexical_weight=0.5)
    dense = FaqIndex.build(CHINESE, encoder, faq_revision=1)
    vector = query("花呗怎么还款")
    assert dense.search(vector, k=4) == dense.search(vector, k=4, text="花呗怎么还款")
    without_text, cosines = hybrid.search(vector, k=4), dense.search(vector, k=4)
    assert [h.faq_id for h in without_text] == [h.faq_id for h in cosines]  # the cosine's ranking ...
    assert [h.score for h in without_text] == pytest.approx([0.5 * h.score for h in cosines])  # ... lexical 0
    with_text = {h.faq_id: h.score for h in hybrid.search(vector, k=4, text="花呗怎么还款")}
    assert all(h.score <= with_text.get(h.faq_id, 1.0) + 1e-9 for h in without_text)


def test_lexical_search_finds_what_the_encoder_cannot_read() -> None:
    """An encoder that sees nothing (every text the same vector) ranks at random; BM25 still finds it."""

    class Blind(HashingEncoder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return super().encode(["same"] * len(texts))

    index = FaqIndex.build(CHINESE, Blind(64), faq_revision=1, lexical_weight=0.6)
    vector = Blind(64).encode(["x"])[0]
    assert index.search(vector, k=1, text="收货地址怎么修改")[0].faq_id == "address"
    assert index.search(vector, k=1, text="借呗开通")[0].faq_id == "open"


def test_lexical_part_is_saved_loaded_and_updated(tmp_path: Path) -> None:
    path = tmp_path / "faq.index"
    encoder = HashingEncoder(256)
    FaqIndex.build(CHINESE, encoder, faq_revision=1).save(path)
    index = FaqIndex.load(path, lexical_weight=1.0)
    assert index.header.lexical.startswith("bm25") and index.lexical_weight == 1.0
    assert index.search(query("x"), k=1, text="地址填错了")[0].faq_id == "address"
    index.update(["address"], [make_entry("address", question="怎么更换手机号", alternatives=())], encoder, 2)
    assert index.search(query("x"), k=1, text="地址填错了")[0].score == 0.0  # the old phrasings are gone
    assert index.search(query("x"), k=1, text="更换手机号")[0].faq_id == "address"
    copy = index.copy()
    copy.update(["address"], [], encoder, 3)
    assert "address" in index.faq_ids and index.search(query("x"), k=1, text="更换手机号")[0].faq_id == "address"


def test_an_index_of_the_first_format_is_rebuilt(store: FaqStore, tmp_path: Path) -> None:
    path = tmp_path / "faq.index"
    for entry in CHINESE:
        store.add(entry, "ana")
    index, _ = open_index(path, store, HashingEncoder(256))
    data = path.read_bytes().replace(b'"format_version": 2', b'"format_version": 1', 1)
    path.write_bytes(data)
    with pytest.raises(FaqIndexError, match="format 1"):
        FaqIndex.load(path)
    index, action = open_index(path, store, HashingEncoder(256), lexical_weight=0.4)
    assert action == "built" and index.lexical_weight == 0.4
    assert index.search(query("x"), k=1, text="借呗开通")[0].faq_id == "open"


def test_lexical_weight_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="lexical_weight"):
        FaqIndex.build(CHINESE, HashingEncoder(64), faq_revision=1, lexical_weight=1.5)
