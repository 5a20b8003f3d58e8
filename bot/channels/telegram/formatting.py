"""Telegram message text: FAQ answers as HTML, split to Telegram's length limit.

FAQ answers are plain text that may hold Markdown links (``[our returns page](https://...)``).
Telegram's HTML parse mode is the simplest to get right: escape ``<``, ``>`` and ``&``, and turn
each Markdown link into ``<a href>`` so it stays clickable. A message may hold at most 4096
characters after its HTML is parsed (the text the reader sees, in UTF-16 code units, as Telegram
counts them: ``&amp;`` is one, a link counts its label); longer answers are split, preferably
between paragraphs, then lines, then sentences, then words, never inside a link.

Example::

    >>> to_html("Returns are free; see [our page](https://shop.example/returns) & <FAQ>.")
    'Returns are free; see <a href="https://shop.example/returns">our page</a> &amp; &lt;FAQ&gt;.'
    >>> [len(chunk) for chunk in split_message("One. " * 2000)]
    [4094, 4094, 1809]
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable

from knowledge.faq.entry import LINK

MAX_MESSAGE = 4096  # Telegram's limit for one message's text
TAG = re.compile(r"<[^>]*>")  # the only markup ``to_html`` writes: <a href="..."> and </a>
# Where to split, best first. Each pattern's match is the whitespace dropped between two chunks.
BOUNDARIES = (
    re.compile(r"\n[ \t]*\n\s*"),  # between paragraphs
    re.compile(r"\n\s*"),  # between lines
    re.compile(r"(?<=[.!?…:;])\s+"),  # after a sentence
    re.compile(r"\s+"),  # between words
)


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def visible_length(rendered: str) -> int:
    """Length of Telegram HTML as Telegram limits it: of the text once tags and entities are parsed.

    >>> visible_length('a &amp; <a href="https://e.example">b</a>')
    5
    """
    return telegram_length(html.unescape(TAG.sub("", rendered)))


def escape(text: str) -> str:
    """Escape text for Telegram's HTML parse mode.

    >>> escape("a < b & c")
    'a &lt; b &amp; c'
    """
    return html.escape(text, quote=False)


def to_html(text: str) -> str:
    """Plain text with Markdown links -> Telegram HTML (see the module docstring)."""
    parts: list[str] = []
    last = 0
    for match in LINK.finditer(text):
        parts.append(escape(text[last:match.start()]))
        parts.append(f'<a href="{html.escape(match[2], quote=True)}">{escape(match[1])}</a>')
        last = match.end()
    parts.append(escape(text[last:]))
    return "".join(parts)


def split_message(text: str, limit: int = MAX_MESSAGE,
                  render: Callable[[str], str] = to_html) -> list[str]:
    """``text`` rendered and cut into messages of at most ``limit`` visible UTF-16 units each.

    Whitespace at the cuts is dropped; nothing else is lost. Empty text gives no messages.

    >>> split_message("First line.\\nSecond line.", limit=16)
    ['First line.', 'Second line.']
    """
    if limit < 16:
        raise ValueError(f"limit must be at least 16, got {limit}")
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        rendered = render(rest)
        if visible_length(rendered) <= limit:
            chunks.append(rendered)
            break
        end, start = _cut(rest, limit, render)
        head = rest[:end].strip()
        if head:
            chunks.append(render(head))
        rest = rest[start:].lstrip()
    return chunks


def _cut(text: str, limit: int, render: Callable[[str], str]) -> tuple[int, int]:
    """Where the first chunk of ``text`` ends, and where the rest begins."""
    links = [match.span() for match in LINK.finditer(text)]
    fits = _longest_fit(text, limit, render)
    end = next((start for start, stop in links if start < fits < stop), fits)
    if end <= 0:  # a single link longer than a message: cut through it
        end = fits
    for pattern in BOUNDARIES:
        best = None
        for match in pattern.finditer(text, 1, end):
            if match.start() >= end // 2 and not _inside(match.start(), links):
                best = match
        if best is not None:
            return best.start(), best.end()
    return end, end


def _longest_fit(text: str, limit: int, render: Callable[[str], str]) -> int:
    """The longest prefix whose rendering fits (visible length grows with the prefix)."""
    # A link shows only its label, so a prefix longer than ``limit`` characters may fit.
    low, high = 1, len(text)  # the answer is in [low, high]; a prefix of 1 fits
    while low < high:
        middle = (low + high + 1) // 2
        if visible_length(render(text[:middle])) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < position < stop for start, stop in spans)
