"""Human handoff: the request reaches the staff chat, messages are relayed both ways, /done hands
the customer back, and all of it survives a restart of the bot."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from bot.channels.telegram.customers import ALREADY_WITH_PERSON
from bot.channels.telegram.handoff import BACK_TO_BOT, DONE_HOW, NOT_A_CUSTOMER
from bot.core.handlers import HANDOFF_TEXT
from knowledge.conversations.handoffs import Handoffs
from knowledge.database import Database
from tests.telegram.conftest import STAFF_CHAT, USER, StartBot
from tests.telegram.fake_api import STAFF_MEMBER, Call, FakeTelegram

PHOTO = {"photo": [{"file_id": "f1", "file_unique_id": "u1", "width": 90, "height": 90}]}


async def relayed(tmp_path: Path, *calls: Call) -> None:
    """Wait until the bot has stored whom these staff-chat messages stand for.

    It does so just after Telegram confirms the message; a person replies later than that, a
    test might not.
    """
    handoffs = Handoffs(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))
    for call in calls:
        for _ in range(250):
            if handoffs.relay_for(str(STAFF_CHAT), call.params["message_id_sent"]):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"no relay stored for {call}")


async def start(start_bot: StartBot) -> TestClient:
    return await start_bot(telegram_staff_chat=str(STAFF_CHAT))


async def staff_says(fake: FakeTelegram, text: str, reply_to: Call | None = None) -> None:
    target = fake.sent_message(reply_to) if reply_to else None
    await fake.push(fake.text_update(STAFF_CHAT, text, user=STAFF_MEMBER, reply_to=target))


async def test_the_whole_relay_survives_a_restart(start_bot: StartBot, fake: FakeTelegram, tmp_path: Path) -> None:
    first_run = await start(start_bot)
    await fake.push(fake.text_update(USER, "hello"))
    await fake.push(fake.text_update(USER, "/human"))
    greeting, handing_over = await fake.wait_sent(USER, count=2)
    assert handing_over.params["text"] == HANDOFF_TEXT
    (request,) = await fake.wait_sent(STAFF_CHAT)
    text = request.params["text"]
    assert "Ann Smith (@ann)" in text and "asks for a person" in text and f"Chat {USER}" in text
    assert "👤 hello" in text and "🤖 Hello!" in text and "/done" in text

    await fake.push(fake.text_update(USER, "my parcel arrived damaged"))
    await fake.push(fake.update(message=fake.message(USER, **PHOTO)))
    await fake.push(fake.text_update(USER, "/human"))
    relayed_text, relayed_photo = await fake.wait_sent(STAFF_CHAT, count=2, method="forwardMessage")
    assert relayed_text.params["from_chat_id"] == USER and relayed_photo.params["from_chat_id"] == USER
    *_, already = await fake.wait_sent(USER, count=3)
    assert already.params["text"] == ALREADY_WITH_PERSON
    assert len(fake.sent(USER)) == 3, "the bot no longer answers a handed-off customer"
    await relayed(tmp_path, request, relayed_text, relayed_photo)

    await staff_says(fake, "Sorry to hear that! A new one is on its way.", reply_to=relayed_photo)
    await staff_says(fake, "(anyone free for lunch?)")  # not a reply: the staff's own talk
    await staff_says(fake, "It should arrive on Monday.", reply_to=request)
    first_copy, second_copy = await fake.wait_sent(USER, count=2, method="copyMessage")
    assert first_copy.params["from_chat_id"] == STAFF_CHAT
    assert fake.sent(STAFF_CHAT) == [request], "the bot stays quiet in the staff chat"
    await first_run.close()

    await start(start_bot)  # a new process on the same database
    await fake.push(fake.text_update(USER, "thank you!"))
    *_, after_restart = await fake.wait_sent(STAFF_CHAT, count=3, method="forwardMessage")
    await relayed(tmp_path, after_restart)
    await staff_says(fake, "You're welcome!", reply_to=after_restart)
    await staff_says(fake, "One more thing: keep the old parcel.", reply_to=relayed_text)
    copies = await fake.wait_sent(USER, count=4, method="copyMessage")
    assert [c.params["chat_id"] for c in copies] == [USER] * 4

    await staff_says(fake, "/done")  # not a reply: whom?
    await staff_says(fake, "/done", reply_to=after_restart)
    _, how, done = await fake.wait_sent(STAFF_CHAT, count=3)
    assert how.params["text"] == DONE_HOW and done.params["text"].startswith("Done")
    *_, back = await fake.wait_sent(USER, count=4)
    assert back.params["text"] == BACK_TO_BOT
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    *_, answer = await fake.wait_sent(USER, count=5)
    assert "3-5 business days" in answer.params["text"], "the bot answers again"


async def test_a_reply_to_a_bot_message_that_stands_for_nobody_gets_a_hint(start_bot: StartBot,
                                                                          fake: FakeTelegram) -> None:
    await start(start_bot)
    await staff_says(fake, "/help")
    (help_text,) = await fake.wait_sent(STAFF_CHAT)
    assert "staff chat" in help_text.params["text"]
    await staff_says(fake, "who is this for?", reply_to=help_text)
    _, hint = await fake.wait_sent(STAFF_CHAT, count=2)
    assert hint.params["text"] == NOT_A_CUSTOMER


async def test_asking_in_words_or_failing_three_times_calls_a_person(start_bot: StartBot, fake: FakeTelegram) -> None:
    await start(start_bot)
    await fake.push(fake.text_update(5002, "can I speak to a real person please"))
    await fake.wait_sent(STAFF_CHAT)
    for question in ("weather tomorrow?", "tell me a joke", "football scores?"):
        await fake.push(fake.text_update(USER, question))
    _, request = await fake.wait_sent(STAFF_CHAT, count=2)
    assert "could not answer 3 messages in a row" in request.params["text"]
    *fallbacks, handing_over = await fake.wait_sent(USER, count=4)
    assert "reply_markup" not in fallbacks[-1].params, "no 'talk to a person' button once one is called"
    assert handing_over.params["text"] == HANDOFF_TEXT


async def test_only_fallbacks_in_a_row_call_a_person(start_bot: StartBot, fake: FakeTelegram) -> None:
    """An offer of choices or a refused message ends the run of fallbacks; the "still" wording
    carries on through them, as it always has."""
    await start_bot(telegram_staff_chat=str(STAFF_CHAT), answer_threshold=0.99, clarify_window=0.7)
    for text in ("weather tomorrow?", "tell me a joke", "refund for my return", "football scores?", "   ",
                 "weather on Sunday?", "a joke please", "football tonight?"):
        await fake.push(fake.text_update(USER, text))
    sent = await fake.wait_sent(USER, count=9)
    (request,) = await fake.wait_sent(STAFF_CHAT)
    assert "could not answer 3 messages in a row" in request.params["text"]
    texts = [m.params["text"] for m in sent]
    assert "Did you mean one of these?" in texts[2] and "didn't catch" in texts[4]
    assert "still can't find" in texts[3], "a clarification does not reset what the bot says"
    assert ["reply_markup" in m.params for m in sent[5:8]] == [True, True, False]
    assert texts[8] == HANDOFF_TEXT
