"""Lexical search: terms cut to fit the script, BM25 scores normalised per query, saved and updated."""
from __future__ import annotations

import numpy as np
import pytest

from knowledge.faq.lexical import SCHEME, LexicalIndex, fuse
from knowledge.faq.terms import fold_width, lexical_terms


@pytest.mark.parametrize(("text", "terms"), [
    ("", []),
    ("?!。，", []),
    ("a", ["a"]),
    ("花", ["花"]),
    ("Where's my ORDER", ["where", "s", "my", "order"]),
    ("退款", ["退", "款", "退款"]),
    ("花呗，怎么还？", ["花", "呗", "花呗", "怎", "么", "还", "怎么", "么还"]),
    ("iPhone13怎么退", ["iphone13", "怎", "么", "退", "怎么", "么退"]),
    ("ＡＴＭ取款", ["atm", "取", "款", "取款"]),  # full-width Latin folds to a word
    ("注文はどこ", ["注", "文", "は", "ど", "こ", "注文", "文は", "はど", "どこ"]),  # kanji and kana
    ("ｶﾀｶﾅ", ["カ", "タ", "カ", "ナ", "カタ", "タカ", "カナ"]),  # half-width katakana folds to full
    ("주문 취소", ["주", "문", "주문", "취", "소", "취소"]),  # Hangul
    ("Straße café", ["strasse", "café"]),  # case folding, accents kept
    ("📦 where 📦", ["where"]),  # emoji are no terms
])
def test_terms_fit_the_script(text: str, terms: list[str]) -> None:
    assert sorted(lexical_terms(text)) == sorted(terms)


@pytest.mark.parametrize(("raw", "folded"), [
    ("ＡＢＣ１２３", "ABC123"),
    ("你好，世界！", "你好,世界!"),
    ("全角\u3000空格", "全角 空格"),
    ("。、「」", "。、「」"),  # Chinese punctuation proper is not a width variant: kept
    ("x² ™ ﬁ", "x² ™ ﬁ"),  # other compatibility characters are not folded
    ("plain text", "plain text"),
])
def test_fold_width(raw: str, folded: str) -> None:
    assert fold_width(raw) == folded


def _index(texts: dict[int, str]) -> LexicalIndex:
    index = LexicalIndex()
    index.add(texts)
    return index


CHINESE = {0: "花呗怎么还款", 1: "借呗怎么开通", 2: "花呗逾期会怎么样", 3: "如何修改收货地址"}


def test_a_phrasing_that_is_the_query_scores_one_and_nothing_shared_scores_zero() -> None:
    scores = _index(CHINESE).scores("花呗怎么还款", 4)
    assert scores[0] == pytest.approx(1.0) and scores.argmax() == 0
    assert scores[3] == 0.0 and np.all(scores < 1.0 + 1e-9)


def test_chinese_query_finds_its_entry_among_near_neighbours() -> None:
    scores = _index(CHINESE).scores("我的花呗逾期了怎么办", 4)
    assert scores.argmax() == 2
    assert _index(CHINESE).scores("怎样修改地址", 4).argmax() == 3


def test_an_unknown_query_term_lowers_every_score() -> None:
    index = _index({0: "refund my order", 1: "track my parcel"})
    known, with_unknown = index.scores("refund order", 2), index.scores("refund order zebra", 2)
    assert with_unknown[0] < known[0] and with_unknown.argmax() == 0


def test_empty_query_and_empty_index_score_zero() -> None:
    assert not _index(CHINESE).scores("", 4).any()
    assert not _index(CHINESE).scores("???", 4).any()
    assert not LexicalIndex().scores("花呗", 3).any()


def test_add_replace_and_remove_keep_the_statistics_right() -> None:
    index = _index(CHINESE)
    index.add({0: "如何修改手机号"})  # replaces document 0
    index.remove([1])
    fresh = _index({0: "如何修改手机号", 2: CHINESE[2], 3: CHINESE[3]})
    for query in ("花呗怎么还款", "如何修改", "借呗"):
        assert np.allclose(index.scores(query, 4), fresh.scores(query, 4))
    assert len(index) == 3 and index.scores("借呗开通", 4)[1] == 0.0


def test_copy_is_independent() -> None:
    index = _index(CHINESE)
    copy = index.copy()
    copy.remove([0])
    assert index.scores("花呗怎么还款", 4)[0] == pytest.approx(1.0)
    assert copy.scores("花呗怎么还款", 4)[0] == 0.0


def test_json_round_trip_and_scheme_check() -> None:
    index = _index({**CHINESE, 7: "where is my parcel parcel"})
    data = index.to_json()
    again = LexicalIndex.from_json(data)
    for query in ("花呗还款", "parcel", "地址"):
        assert np.array_equal(index.scores(query, 8), again.scores(query, 8))
    with pytest.raises(ValueError, match="scheme"):
        LexicalIndex.from_json({**data, "scheme": "bm25-older"})
    assert data["scheme"] == SCHEME


def test_fuse_weighs_the_two_scores() -> None:
    assert float(fuse(0.8, 0.2, 0.0)) == pytest.approx(0.8)
    assert float(fuse(0.8, 0.2, 1.0)) == pytest.approx(0.2)
    assert np.allclose(fuse(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 0.25), [0.75, 0.25])
