"""What a message holds, in words: for the transcript of a handed-off conversation."""
from __future__ import annotations

import time
from typing import Any

import pytest
from telegram import Message

from bot.channels.telegram.contents import customer_words, describe, staff_words
from tests.telegram.fake_api import CUSTOMER
from tests.telegram.test_messages import MEDIA

DESCRIBED = {
    "sticker": "a sticker", "photo": "a photo", "voice": "a voice message", "audio": "an audio file",
    "video_note": "a video message", "document": "a file: invoice.pdf", "video": "a video",
    "animation": "a GIF", "location": "a location", "contact": "a contact",
}


def message(**fields: Any) -> Message:
    return Message.de_json({"message_id": 1, "date": int(time.time()), "from": CUSTOMER,
                            "chat": {"id": 5001, "type": "private", "first_name": "Ann"}, **fields}, None)


@pytest.mark.parametrize("kind", MEDIA)
def test_every_kind_the_bot_cannot_read_is_put_into_words(kind: str) -> None:
    assert describe(message(**MEDIA[kind][0])) == DESCRIBED[kind]


def test_a_sticker_keeps_its_emoji_and_a_gif_is_not_called_a_file() -> None:
    sticker = {**MEDIA["sticker"][0]["sticker"], "emoji": "👍"}
    assert describe(message(sticker=sticker)) == "a sticker 👍"
    animation = MEDIA["animation"][0]
    assert describe(message(**animation, document={"file_id": "f2", "file_unique_id": "u2"})) == "a GIF"


@pytest.mark.parametrize(("fields", "edited", "words"), [
    (MEDIA["photo"][0], False, "(sent a photo)"),
    ({**MEDIA["photo"][0], "caption": "the box was crushed"}, False, "(sent a photo) the box was crushed"),
    ({"text": "my order is 1234"}, True, "(edited a message) my order is 1234"),
    ({**MEDIA["document"][0], "caption": "my invoice"}, True, "(edited a message) my invoice"),
])
def test_the_customer_side_says_what_came_with_its_caption(fields: dict[str, Any], edited: bool,
                                                           words: str) -> None:
    assert customer_words(message(**fields), edited=edited) == words


@pytest.mark.parametrize(("fields", "words"), [
    ({"text": "It arrives on Monday."}, "It arrives on Monday."),
    (MEDIA["photo"][0], "(a photo)"),
    ({**MEDIA["document"][0], "caption": "your new label"}, "(a file: invoice.pdf) your new label"),
])
def test_the_staff_side_is_the_text_or_what_was_sent(fields: dict[str, Any], words: str) -> None:
    assert staff_words(message(**fields)) == words
