"""The runtime's normaliser folds what CJK keyboards type, as the FAQ index's lexical search does."""
from __future__ import annotations

import pytest

from bot.core.text import clean_text, normalise_text
from knowledge.faq.terms import lexical_terms


@pytest.mark.parametrize(("raw", "clean"), [
    ("ＡＴＭ取款，可以吗？", "ATM取款,可以吗?"),
    ("订单号：ＮＷ－１２３４５６", "订单号:NW-123456"),
    ("你好\u3000\u3000在吗", "你好 在吗"),  # ideographic spaces collapse like spaces
    ("我的快递到哪了。", "我的快递到哪了。"),  # Chinese punctuation proper is kept
    ("ﾊﾟｽﾜｰﾄﾞを忘れた", "パスワードを忘れた"),  # half-width katakana, voiced marks composed
    ("\u3000\u3000", ""),
])
def test_cjk_input_is_folded(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    assert normalise_text(raw, 100).text == clean


def test_folded_message_and_faq_phrasing_have_the_same_terms() -> None:
    typed, written = "ＮＷ１２３退款", "NW123退款"
    assert lexical_terms(normalise_text(typed, 100).text) == lexical_terms(written) == lexical_terms(typed)
