"""FAQ answers as Telegram HTML, and the split of long answers."""
from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.telegram.formatting import escape, split_message, telegram_length, to_html, visible_length


@pytest.mark.parametrize("text,expected", [
    ("", ""),
    ("plain", "plain"),
    ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
    ("<b>not bold</b>", "&lt;b&gt;not bold&lt;/b&gt;"),
    ("see [our page](https://shop.example/returns?a=1&b=2).",
     'see <a href="https://shop.example/returns?a=1&amp;b=2">our page</a>.'),
    ('[x"><script>](https://e.example/"q")', '<a href="https://e.example/&quot;q&quot;">x"&gt;&lt;script&gt;</a>'),
    ("[js](javascript:alert(1))", "[js](javascript:alert(1))"),
    ("[<i>t</i>](http://e.example)", '<a href="http://e.example">&lt;i&gt;t&lt;/i&gt;</a>'),
    ("emoji 👍 stays", "emoji 👍 stays"),
])
def test_to_html_escapes_and_keeps_links_clickable(text: str, expected: str) -> None:
    assert to_html(text) == expected


def test_length_counts_utf16_units_like_telegram() -> None:
    assert telegram_length("abc") == 3 and telegram_length("👍") == 2 and telegram_length("é") == 1


def test_split_prefers_paragraphs_then_lines_then_sentences_then_words() -> None:
    paragraph = "Alpha beta gamma. " * 10
    assert split_message(f"{paragraph}\n\n{paragraph}", limit=200) == [paragraph.strip()] * 2
    lines = "\n".join(f"line number {i}" for i in range(30))
    chunks = split_message(lines, limit=100)
    assert all(chunk.splitlines()[-1].startswith("line number") for chunk in chunks)
    sentences = "One sentence here. " * 20
    assert all(chunk.endswith(".") for chunk in split_message(sentences, limit=100))
    words = "word " * 100
    assert all(chunk.endswith("word") for chunk in split_message(words, limit=64))
    assert split_message("x" * 50, limit=20) == ["x" * 20, "x" * 20, "x" * 10], "no boundary: hard cut"


def test_split_never_cuts_a_link_and_counts_what_telegram_counts() -> None:
    text = "Read " + "more " * 7 + "on [our returns page](https://shop.example/returns) today."
    for limit in range(40, 140, 7):
        chunks = split_message(text, limit=limit)
        assert all(telegram_length(rendered(c)) <= limit for c in chunks)
        assert sum('<a href="https://shop.example/returns">our returns page</a>' in c for c in chunks) == 1


def test_emoji_count_double_at_the_limit() -> None:
    chunks = split_message("👍" * 30, limit=20)
    assert [telegram_length(c) for c in chunks] == [20, 20, 20]


def test_escaping_does_not_count_against_the_limit() -> None:
    """Telegram counts ``&amp;`` as the one character it shows: 5000 of them are two messages."""
    chunks = split_message("&" * 5000)
    assert [len(rendered(c)) for c in chunks] == [4096, 904]
    assert visible_length(chunks[0]) == 4096 and chunks[0] == "&amp;" * 4096


def test_empty_text_gives_no_messages_and_tiny_limits_are_refused() -> None:
    assert split_message("  \n ") == []
    with pytest.raises(ValueError):
        split_message("abc", limit=5)


def rendered(chunk: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", chunk))


words = st.sampled_from(["a", "bb", "<c>", "d&e", "f.", "g!", "👍", "[h](https://x.example/h)", "ω",
                         "\n", "\n\n", " "])


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=300).map(" ".join), st.integers(min_value=40, max_value=300))
def test_split_loses_nothing_and_respects_the_limit(text: str, limit: int) -> None:
    chunks = split_message(text, limit=limit)
    assert all(0 < telegram_length(rendered(c)) <= limit for c in chunks)
    assert re.sub(r"\s", "", "".join(map(rendered, chunks))) == re.sub(r"\s", "", rendered(to_html(text)))


def test_escape_is_html_safe() -> None:
    assert escape("<&>") == "&lt;&amp;&gt;"
