"""What a text's terms are: width folding and cutting text into terms to fit its script.

The lexical FAQ index (``knowledge.faq.lexical``) matches terms, so a query and an FAQ
phrasing must be cut the same way, whatever the language:

- ``fold_width`` maps the compatibility forms that Chinese, Japanese and Korean input methods
  type to their plain forms (full-width Latin letters, digits and punctuation such as
  ``ＡＢＣ１２３，？``, the ideographic space, half-width katakana), leaving every other
  character as it is. The runtime's normaliser (``bot.core.text``) applies the same folding
  to every message, so the encoder and the lexical index see one form.
- ``lexical_terms`` case-folds, then cuts runs of letters and digits: a run of a script written
  with spaces between words (Latin, Cyrillic, Greek, Arabic, ...) is one word; a run of Chinese
  characters, kana or Hangul, written without spaces, becomes its single characters and its
  character bigrams (what Lucene's CJK analyser does): no dictionary, no segmenter, and a
  bigram still matches a two-character word wherever a segmenter would have cut it.
  Punctuation (Chinese or not) only separates terms.

Example::

    >>> fold_width("ＡＴＭ取款，可以吗？")
    'ATM取款,可以吗?'
    >>> lexical_terms("Where is my ORDER?")
    ['where', 'is', 'my', 'order']
    >>> lexical_terms("花呗怎么还款")
    ['花', '呗', '怎', '么', '还', '款', '花呗', '呗怎', '怎么', '么还', '还款']
"""
from __future__ import annotations

import re
import unicodedata

TERMS_VERSION = "terms-v1"  # changes whenever lexical_terms would cut a text differently

WORD_RUN = re.compile(r"\w+")
# Scripts written without spaces between words: Han (CJK unified ideographs, extensions A-F and
# compatibility ideographs), Hiragana, Katakana (with its phonetic extensions) and Hangul.
UNSPACED = re.compile(
    "([\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\U00020000-\U0002fa1f]+)"
)
# The Halfwidth and Fullwidth Forms block and the ideographic space: what ``fold_width`` folds.
WIDE_OR_NARROW = re.compile("[\u3000\uff01-\uffef]+")


def fold_width(text: str) -> str:
    """``text`` with full-width and half-width compatibility forms folded (NFKC on those alone).

    NFKC on the whole text would also rewrite characters that mean something as typed
    (``²``, ``™``, ``½``, ligatures); only the width variants are folded here.

    >>> fold_width("ｈｅｌｌｏ　ｗｏｒｌｄ！ ｶﾀｶﾅ ²")
    'hello world! カタカナ ²'
    """
    return WIDE_OR_NARROW.sub(lambda match: unicodedata.normalize("NFKC", match.group()), text)


def lexical_terms(text: str) -> list[str]:
    """The terms of ``text`` for lexical search; see the module docstring.

    >>> lexical_terms("iPhone13怎么退")
    ['iphone13', '怎', '么', '退', '怎么', '么退']
    >>> lexical_terms("")
    []
    """
    words: list[str] = []
    characters: list[str] = []
    for run in WORD_RUN.findall(fold_width(text).casefold()):
        for number, piece in enumerate(UNSPACED.split(run)):
            if not piece:
                continue
            if number % 2:  # re.split puts the captured unspaced runs at odd positions
                characters.extend(piece)
                characters.extend(piece[i:i + 2] for i in range(len(piece) - 1))
            else:
                words.append(piece)
    return words + characters
