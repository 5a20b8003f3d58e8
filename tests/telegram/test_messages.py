"""Every kind of update a customer's chat can bring: commands, text, things the bot cannot read,
edits, groups and channels; and answers too long for one message."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram.customers import CANNOT_READ, EDITED, HELP, UNKNOWN_COMMAND, WELCOME
from bot.channels.telegram.formatting import visible_length
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore
from tests.telegram.conftest import USER, StartBot, telegram_settings
from tests.telegram.fake_api import BOT, FakeTelegram

GROUP = -1004242
FILE = {"file_id": "f1", "file_unique_id": "u1"}
MEDIA = {
    "sticker": ({"sticker": {**FILE, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                             "is_video": False}}, "sticker"),
    "photo": ({"photo": [{**FILE, "width": 90, "height": 90}]}, "photo"),
    "voice": ({"voice": {**FILE, "duration": 3}}, "voice"),
    "audio": ({"audio": {**FILE, "duration": 120}}, "voice"),
    "video_note": ({"video_note": {**FILE, "length": 240, "duration": 5}}, "voice"),
    "document": ({"document": {**FILE, "file_name": "invoice.pdf"}}, "file"),
    "video": ({"video": {**FILE, "width": 640, "height": 480, "duration": 9}}, "file"),
    "animation": ({"animation": {**FILE, "width": 320, "height": 240, "duration": 2}}, "file"),
    "location": ({"location": {"latitude": 52.5, "longitude": 13.4}}, "other"),
    "contact": ({"contact": {"phone_number": "+4912345", "first_name": "Ann"}}, "other"),
}


@pytest.fixture(autouse=True)
def no_errors(caplog: pytest.LogCaptureFixture):
    """Nothing a customer sends may end in an exception (the error handler logs at ERROR)."""
    caplog.set_level(logging.WARNING)
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("text,expected", [("/start", WELCOME), ("/help", HELP), ("/frobnicate", UNKNOWN_COMMAND),
                                           (f"/help@{BOT['username']}", HELP)])
async def test_commands(start_bot: StartBot, fake: FakeTelegram, text: str, expected: str) -> None:
    await start_bot()
    await fake.push(fake.text_update(USER, text))
    (reply,) = await fake.wait_sent(USER)
    assert reply.params["text"] == expected.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("kind", MEDIA)
async def test_what_the_bot_cannot_read_gets_a_polite_reply(start_bot: StartBot, fake: FakeTelegram,
                                                           kind: str) -> None:
    content, reply_kind = MEDIA[kind]
    await start_bot()
    await fake.push(fake.update(message=fake.message(USER, **content)))
    (reply,) = await fake.wait_sent(USER)
    assert reply.params["text"] == CANNOT_READ[reply_kind].replace("&", "&amp;")


async def test_an_edit_gets_a_hint_and_is_not_answered_again(start_bot: StartBot, fake: FakeTelegram) -> None:
    await start_bot()
    message = fake.message(USER, "How long does delivery take?")
    await fake.push(fake.update(message=message))
    await fake.push(fake.update(edited_message={**message, "text": "How much does delivery cost?",
                                                "edit_date": message["date"] + 5}))
    answer, hint = await fake.wait_sent(USER, count=2)
    assert "3-5 business days" in answer.params["text"] and hint.params["text"] == EDITED


async def test_groups_hear_only_what_is_addressed_to_the_bot(start_bot: StartBot, fake: FakeTelegram) -> None:
    await start_bot()
    ignored: list[dict[str, Any]] = [
        fake.message(GROUP, "How long does delivery take?"),  # people talking among themselves
        fake.message(GROUP, **MEDIA["sticker"][0]),
        fake.message(GROUP, "/help@some_other_bot"),
        fake.message(GROUP, "/frobnicate"),
        fake.message(GROUP, new_chat_members=[{"id": 5003, "is_bot": False, "first_name": "Cy"}]),
    ]
    for message in ignored:
        await fake.push(fake.update(message=message))
    await fake.push(fake.update(edited_message={**ignored[0], "edit_date": ignored[0]["date"] + 1}))
    await fake.push(fake.update(channel_post={"message_id": 1, "date": 1, "text": "news",
                                              "chat": {"id": -1005555, "type": "channel", "title": "News"}}))
    mention = fake.message(GROUP, f"@{BOT['username']} How long does delivery take?")
    await fake.push(fake.update(message=mention))
    (answer,) = await fake.wait_sent(GROUP)
    assert "3-5 business days" in answer.params["text"]
    assert answer.params["reply_parameters"]["message_id"] == mention["message_id"], "quoted in a group"
    await fake.push(fake.text_update(GROUP, "and how much does delivery cost?", reply_to=fake.sent_message(answer)))
    await fake.wait_sent(GROUP, count=2)
    await fake.push(fake.text_update(GROUP, "/help"))
    *_, help_reply = await fake.wait_sent(GROUP, count=3)
    assert help_reply.params["text"].startswith("Ask me a question")
    assert len(fake.sent(GROUP)) == 3 and fake.sent(-1005555) == []


async def test_an_answer_longer_than_a_message_is_split_at_sentences(start_bot: StartBot, fake: FakeTelegram,
                                                                    tmp_path: Path) -> None:
    sentence = "Our warehouse team checks every parcel twice before it leaves & ships it <carefully>. "
    long_answer = sentence * 70 + "See [our delivery page](https://shop.example/delivery) for details."
    settings = telegram_settings(tmp_path, fake)
    store = FaqStore(Database.open(settings.database_url))
    store.add(FaqEntry("warehouse-checks", "How does the warehouse check my parcel?", long_answer), "test")
    store.database.close()
    await start_bot()
    await fake.push(fake.text_update(USER, "How does the warehouse check my parcel?"))
    first, second = await fake.wait_sent(USER, count=2)
    # Telegram limits the text it shows: the HTML parsed, so "&amp;" counts one.
    assert all(visible_length(m.params["text"]) <= 4096 for m in (first, second))
    assert first.params["text"].endswith("&lt;carefully&gt;.") and second.params["text"].startswith("Our warehouse")
    assert second.params["text"].endswith('<a href="https://shop.example/delivery">our delivery page</a> for details.')
    assert "reply_markup" not in first.params and "👍 Helpful" in str(second.params["reply_markup"])
