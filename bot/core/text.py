"""What the bot accepts as a message: normalising user text before anything looks at it.

Example::

    normalise_text("  Hello\\u0000 there \\n ")   # -> Message(text="Hello there", problem=None)
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from knowledge.faq.terms import UNSPACED, WORD_RUN, fold_width

SPACES = re.compile(r"\s+")
# Where a sentence ends: . ! ? and a space (not "12.5" or "e.g.x"), or a Chinese or Japanese full
# stop, or ! ? straight before Chinese, Japanese or Korean (written without spaces), or an emoji
# (with its skin tone or variation selector) and a space: in a chat, an emoji is punctuation
# ("... the second one 🤦‍♀️ can i just swap it?"). An emoji: a pictograph of the supplementary
# planes, a symbol shown as one (❤️: the variation selector; a keycap), or one of the few older
# symbols drawn as emoji by default (⌛ ⚡ ✅ ❌ ❓ ⭐ ...); not a symbol used as text (♯ ★ ✔ ➜).
EMOJI_END = ("\U0001f000-\U0001faff\ufe0f\u20e3\u231a\u231b\u23e9-\u23f3\u2614\u2615\u26a1\u26bd\u26be\u26d4"
             "\u2705\u270a\u270b\u2728\u274c\u274e\u2753-\u2757\u2b1b\u2b1c\u2b50\u2b55")
SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|(?<=\u3002)\s*|(?<=[!?])(?=[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af])"
                          rf"|(?<=[{EMOJI_END}])\s+")
# Abbreviations whose full stop ends no sentence ("i ordered a gift, e.g. the vase")
ABBREVIATIONS = frozenset({"e.g.", "i.e.", "mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "approx.", "no.", "nr."})
NUMBERED = frozenset({"no.", "nr."})  # abbreviations only before a number ("order no. 100002"; "No. Agent." is two)
SENTENCE_WORDS = 3  # a shorter sentence ("hi!", "thanks.", "ok so") says nothing by itself
DROPPED = frozenset({"Cc", "Cf", "Cs", "Co"})  # control, format, lone surrogate, private use


@dataclass(frozen=True)
class Message:
    """The cleaned text, or why there is nothing to answer (``empty``, ``too_long``)."""

    text: str
    problem: str | None = None


def normalise_text(raw: str, max_chars: int) -> Message:
    """NFC-normalise, fold width variants, drop invisible and control characters, collapse
    whitespace, check length.

    Width variants (``knowledge.faq.terms.fold_width``, the same folding the FAQ index's lexical
    search applies): what Chinese, Japanese and Korean keyboards type as full-width Latin letters,
    digits and punctuation (``ＡＴＭ，？``) becomes plain ``ATM,?``, the ideographic space a space,
    half-width katakana full-width; Chinese punctuation proper (``。、「」``) stays.

    Dropped: control characters (category Cc; tabs and line breaks become spaces), format
    characters (Cf: the zero-width space U+200B, joiners, a byte-order mark, direction marks
    and overrides, soft hyphens), lone surrogates (Cs) and private-use characters (Co). A
    message of nothing else is ``empty``.
    """
    if len(raw) > max_chars * 4:  # don't even normalise megabytes of text
        return Message("", "too_long")
    text = clean_text(raw)
    if not text:
        return Message("", "empty")
    if len(text) > max_chars:
        return Message("", "too_long")
    return Message(text)


def clean_text(raw: str) -> str:
    """``raw`` as ``normalise_text`` cleans it, without the length check: what may be stored.

    Example::

        clean_text("a\\ud800b\\u200b ")     # -> "ab"
        clean_text("花呗？\\u3000ＯＫ")          # -> "花呗? OK"
    """
    text = fold_width(unicodedata.normalize("NFC", raw))
    text = "".join(" " if ch in "\t\n\r\v\f" else ch for ch in text
                   if unicodedata.category(ch) not in DROPPED or ch in "\t\n\r\v\f")
    return SPACES.sub(" ", text).strip()


def sentences(text: str, said: Callable[[str], bool] = lambda sentence: False) -> list[str]:
    """The sentences of a message of more than one that say something by themselves (of
    ``SENTENCE_WORDS`` or more words, a character of Chinese, Japanese or Korean counting as one,
    or shorter ones that ``said`` says mean something: "a human."); [] for a message of one
    sentence.

    >>> sentences("hola! do you ship a España? quiero comprar unas sartenes. ok")
    ['do you ship a España?', 'quiero comprar unas sartenes.']
    >>> sentences("is 12.5 cm the size?"), sentences("你好!我的订单在哪里?")
    ([], ['我的订单在哪里?'])
    >>> sentences("Mr. Smith sent it, e.g. the vase… it broke in two")
    ['Mr. Smith sent it, e.g. the vase…', 'it broke in two']
    >>> sentences("picked double instead of king 🤦 can i swap it for the bigger size?")
    ['picked double instead of king 🤦', 'can i swap it for the bigger size?']
    """
    parts: list[str] = []
    for piece in SENTENCE_END.split(text):
        piece = piece.strip()
        if not piece:
            continue
        last = parts[-1].rsplit(" ", 1)[-1].lower() if parts else ""
        if last in ABBREVIATIONS and (last not in NUMBERED or piece[0] in "#0123456789"):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    if len(parts) < 2:
        return []
    return [part for part in parts if word_count(part) >= SENTENCE_WORDS or said(part)]


def word_count(text: str) -> int:
    """Words of ``text``, each character of a script written without spaces counting as one.

    >>> word_count("where is my order"), word_count("订单在哪 NW-1")
    (4, 6)
    """
    count = 0
    for run in WORD_RUN.findall(text):
        for number, piece in enumerate(UNSPACED.split(run)):
            if piece:
                count += len(piece) if number % 2 else 1  # re.split puts the captured runs at odd positions
    return count
