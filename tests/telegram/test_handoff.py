"""Human handoff over Telegram: the core queues the conversation, the staff chat and the console
both see it, staff answer from either (never both at once), the bot stores but never answers a
handed-off customer, /done or a console close hands the customer back, and all of it survives a
restart of the bot."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from bot.channels.telegram.customers import ALREADY_WITH_PERSON
from bot.channels.telegram.delivery import BLOCKED, FROM_STAFF, HANDED_BACK, JOINED, TOOK
from bot.channels.telegram.handoff import BACK_TO_BOT, BACK_WITH_BOT, DONE_HOW, NOT_A_CUSTOMER, SOMEONE_ELSE
from bot.core.handlers import HANDOFF_TEXT
from bot.core.replies import RELAYED_WAITING, STILL_NO_ANSWER, WITH_STAFF_ALREADY
from bot.keys import CONVERSATIONS, DESK
from knowledge.conversations.handoffs import Handoff, Handoffs, Line
from knowledge.database import Database
from tests.telegram.conftest import STAFF_CHAT, USER, StartBot
from tests.telegram.fake_api import STAFF_MEMBER, Call, FakeTelegram

SESSION = f"tg:{USER}"
PHOTO = {"photo": [{"file_id": "f1", "file_unique_id": "u1", "width": 90, "height": 90}]}


def queued(position: int) -> str:
    return f"{HANDOFF_TEXT.rstrip('.')}; you're number {position} in the queue."


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


async def eventually(check: Callable[[], bool], what: str) -> None:
    for _ in range(250):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


def stored(client: TestClient) -> list[tuple[str, str, str]]:
    """The conversation's turns as (action, customer's text, bot's reply), oldest first."""
    return [(t.record.action, t.record.text, t.record.reply) for t in client.app[CONVERSATIONS].turns(SESSION)]


def staff_lines(client: TestClient) -> list[tuple[str | None, str]]:
    lines: list[Line] = client.app[DESK].handoffs.transcript(SESSION)
    return [(line.author, line.text) for line in lines if line.role == "staff"]


async def open_handoff(client: TestClient) -> Handoff:
    handoff = await client.app[DESK].state(SESSION)
    assert handoff is not None
    return handoff


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
    assert handing_over.params["text"] == queued(1)
    (request,) = await fake.wait_sent(STAFF_CHAT)
    text = request.params["text"]
    assert "Ann Smith (@ann)" in text and "asked for a person" in text and f"Chat {USER}" in text
    assert "👤 hello" in text and "🤖 Hello!" in text and "/done" in text

    await fake.push(fake.text_update(USER, "my parcel arrived damaged"))
    await fake.push(fake.update(message=fake.message(USER, caption="the box was crushed", **PHOTO)))
    await fake.push(fake.text_update(USER, "/human"))
    relayed_text, relayed_photo = await fake.wait_sent(STAFF_CHAT, count=2, method="forwardMessage")
    assert relayed_text.params["from_chat_id"] == USER and relayed_photo.params["from_chat_id"] == USER
    *_, passed_on, already = await fake.wait_sent(USER, count=4)
    assert passed_on.params["text"] == RELAYED_WAITING.format(1), "acknowledged once, not every message"
    assert already.params["text"] == ALREADY_WITH_PERSON
    await relayed(tmp_path, request, relayed_text, relayed_photo)
    assert [(action, text) for action, text, _ in stored(first_run)[-3:]] == [
        ("handoff", "/human"), ("relayed", "my parcel arrived damaged"),
        ("relayed", "(sent a photo) the box was crushed")], "stored for the console, answered by nobody"

    await staff_says(fake, "Sorry to hear that! A new one is on its way.", reply_to=relayed_photo)
    await staff_says(fake, "(anyone free for lunch?)")  # not a reply: the staff's own talk
    await staff_says(fake, "It should arrive on Monday.", reply_to=request)
    first_copy, second_copy = await fake.wait_sent(USER, count=2, method="copyMessage")
    assert first_copy.params["from_chat_id"] == STAFF_CHAT
    assert fake.sent(STAFF_CHAT) == [request], "the bot stays quiet in the staff chat"
    await eventually(lambda: len(staff_lines(first_run)) == 2, "both staff replies in the transcript")
    assert staff_lines(first_run) == [("Sam", "Sorry to hear that! A new one is on its way."),
                                      ("Sam", "It should arrive on Monday.")]
    assert (await open_handoff(first_run)).claimed_by == "Sam", "the first to answer has the conversation"
    await fake.push(fake.text_update(USER, "/human"))
    *_, with_sam = await fake.wait_sent(USER, count=5)
    assert with_sam.params["text"] == WITH_STAFF_ALREADY.format("Sam")
    await first_run.close()

    second_run = await start(start_bot)  # a new process on the same database
    await fake.push(fake.text_update(USER, "thank you!"))
    *_, after_restart = await fake.wait_sent(STAFF_CHAT, count=3, method="forwardMessage")
    await relayed(tmp_path, after_restart)
    await staff_says(fake, "You're welcome!", reply_to=after_restart)
    await staff_says(fake, "One more thing: keep the old parcel.", reply_to=relayed_text)
    copies = await fake.wait_sent(USER, count=4, method="copyMessage")
    assert [c.params["chat_id"] for c in copies] == [USER] * 4
    assert stored(second_run)[-1][:2] == ("relayed", "thank you!")

    await staff_says(fake, "/done")  # not a reply: whom?
    await staff_says(fake, "/done", reply_to=after_restart)
    _, how, done = await fake.wait_sent(STAFF_CHAT, count=3)
    assert how.params["text"] == DONE_HOW and done.params["text"] == HANDED_BACK.format("Sam", USER)
    *_, back = await fake.wait_sent(USER, count=6)
    assert back.params["text"] == BACK_TO_BOT
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    *_, answer = await fake.wait_sent(USER, count=7)
    assert "3-5 business days" in answer.params["text"], "the bot answers again"
    assert [c.params["text"] for c in fake.sent(USER)].count(BACK_TO_BOT) == 1


async def test_a_console_claim_keeps_the_staff_chat_from_answering_twice(start_bot: StartBot,
                                                                         fake: FakeTelegram, tmp_path: Path) -> None:
    client = await start(start_bot)
    desk = client.app[DESK]
    await fake.push(fake.text_update(USER, "/human"))
    (request,) = await fake.wait_sent(STAFF_CHAT)
    await relayed(tmp_path, request)
    handoff = await open_handoff(client)

    await desk.claim(handoff.id, "ana")
    *_, joined = await fake.wait_sent(USER, count=2)
    assert joined.params["text"] == JOINED.format("ana")
    _, took = await fake.wait_sent(STAFF_CHAT, count=2)
    assert took.params["text"] == TOOK.format("ana", USER), "the staff chat knows who has it"

    await staff_says(fake, "I can help with that!", reply_to=request)
    *_, refused = await fake.wait_sent(STAFF_CHAT, count=3)
    assert refused.params["text"] == SOMEONE_ELSE.format("ana")
    assert fake.sent(USER, method="copyMessage") == [], "not copied to the customer"
    assert staff_lines(client) == []

    posted = await desk.post(handoff.id, "ana", "Hi, I'm Ana. How can I help?", "console")
    assert posted.delivered is True
    *_, from_ana = await fake.wait_sent(USER, count=3)
    assert from_ana.params["text"] == FROM_STAFF.format("ana", "Hi, I'm Ana. How can I help?")
    assert len(fake.sent(STAFF_CHAT)) == 3, "ana had it already: no second note"

    await desk.close(handoff.id, "ana")
    *_, back = await fake.wait_sent(USER, count=4)
    assert back.params["text"] == BACK_TO_BOT
    *_, handed_back = await fake.wait_sent(STAFF_CHAT, count=4)
    assert handed_back.params["text"] == HANDED_BACK.format("ana", USER)
    await staff_says(fake, "Anything else?", reply_to=request)
    *_, too_late = await fake.wait_sent(STAFF_CHAT, count=5)
    assert too_late.params["text"] == BACK_WITH_BOT
    await asyncio.sleep(0.2)
    assert [c.params["text"] for c in fake.sent(USER)].count(BACK_TO_BOT) == 1
    assert fake.sent(USER, method="copyMessage") == []


async def test_a_console_reply_takes_the_conversation_and_the_staff_chat_hears_of_it(
        start_bot: StartBot, fake: FakeTelegram, tmp_path: Path) -> None:
    client = await start(start_bot)
    desk = client.app[DESK]
    question = fake.message(USER, "where is my order 123?")
    await fake.push(fake.update(message=question))
    await fake.push(fake.text_update(USER, "/human"))
    await fake.wait_sent(STAFF_CHAT)
    await fake.push(fake.update(edited_message={**question, "text": "where is my order 1234?",
                                                "edit_date": question["date"] + 5}))
    (forwarded,) = await fake.wait_sent(STAFF_CHAT, method="forwardMessage")
    assert forwarded.params["message_id"] == question["message_id"]
    await eventually(lambda: stored(client)[-1][0] == "relayed", "the edit stored")
    assert stored(client)[-1][1] == "(edited a message) where is my order 1234?"

    handoff = await open_handoff(client)
    await desk.post(handoff.id, "ana", "Let me look that up.", "console")
    await desk.post(handoff.id, "ana", "It left our warehouse today.", "console")
    _, took = await fake.wait_sent(STAFF_CHAT, count=2)
    assert took.params["text"] == TOOK.format("ana", USER)
    *_, joined, first, second = await fake.wait_sent(USER, count=6)
    assert [joined.params["text"], first.params["text"], second.params["text"]] == [
        JOINED.format("ana"), FROM_STAFF.format("ana", "Let me look that up."),
        FROM_STAFF.format("ana", "It left our warehouse today.")], "the reply that claimed it says who joined first"
    await relayed(tmp_path, took)
    await staff_says(fake, "I'll take this one", reply_to=took)  # the note stands for the customer too
    *_, refused = await fake.wait_sent(STAFF_CHAT, count=3)
    assert refused.params["text"] == SOMEONE_ELSE.format("ana")
    assert len(fake.sent(STAFF_CHAT)) == 3, "one note when ana took it, none for her next message"


async def test_without_a_staff_chat_the_console_answers(start_bot: StartBot, fake: FakeTelegram) -> None:
    client = await start_bot()
    desk = client.app[DESK]
    await fake.push(fake.text_update(USER, "can I speak to a real person please"))
    (handing_over,) = await fake.wait_sent(USER)
    assert handing_over.params["text"] == queued(1), "queued, even with no staff chat"
    (waiting,) = desk.handoffs.inbox()
    assert waiting.handoff.session_id == SESSION and waiting.handoff.state == "waiting"

    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    await fake.push(fake.update(message=fake.message(USER, **PHOTO)))
    await fake.push(fake.text_update(USER, "hello?"))
    await eventually(lambda: len(stored(client)) == 4, "every message stored")
    assert [(action, text) for action, text, _ in stored(client)[1:]] == [
        ("relayed", "How long does delivery take?"), ("relayed", "(sent a photo)"), ("relayed", "hello?")]
    assert [reply for _, _, reply in stored(client)[1:]] == [RELAYED_WAITING.format(1), "", ""]
    assert fake.sent(method="forwardMessage") == []
    (inbox_item,) = desk.handoffs.inbox()
    assert inbox_item.last_message == "hello?"

    posted = await desk.post(waiting.handoff.id, "ana", "Hi, I'm Ana. Delivery takes 3-5 days.", "console")
    assert posted.delivered is True and posted.handoff.claimed_by == "ana"
    *_, joined, from_ana = await fake.wait_sent(USER, count=4)
    assert joined.params["text"] == JOINED.format("ana")
    assert from_ana.params["text"] == FROM_STAFF.format("ana", "Hi, I'm Ana. Delivery takes 3-5 days.")
    assert staff_lines(client) == [("ana", "Hi, I'm Ana. Delivery takes 3-5 days.")]


async def test_a_customer_who_blocked_the_bot_is_a_failed_delivery(start_bot: StartBot, fake: FakeTelegram) -> None:
    client = await start_bot()
    desk = client.app[DESK]
    await fake.push(fake.text_update(USER, "/human"))
    await fake.wait_sent(USER)
    handoff = await open_handoff(client)
    fake.blocked.add(USER)
    posted = await desk.post(handoff.id, "ana", "Are you still there?", "console")
    assert posted.delivered is False and posted.problem == BLOCKED
    assert staff_lines(client) == [("ana", "Are you still there?")], "stored all the same"


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
    *fallbacks, handing_over = await fake.wait_sent(USER, count=3)
    assert all("reply_markup" in f.params for f in fallbacks)
    assert handing_over.params["text"] == f"{STILL_NO_ANSWER} {queued(2)}"
    assert "reply_markup" not in handing_over.params, "no 'talk to a person' button once one is called"


async def test_only_fallbacks_in_a_row_call_a_person(start_bot: StartBot, fake: FakeTelegram) -> None:
    """An offer of choices or a refused message ends the run of fallbacks; the "still" wording
    carries on through them, as it always has."""
    await start_bot(telegram_staff_chat=str(STAFF_CHAT), answer_threshold=0.99, clarify_window=0.7)
    for text in ("weather tomorrow?", "tell me a joke", "refund for my return", "football scores?", "   ",
                 "weather on Sunday?", "a joke please", "football tonight?"):
        await fake.push(fake.text_update(USER, text))
    sent = await fake.wait_sent(USER, count=8)
    (request,) = await fake.wait_sent(STAFF_CHAT)
    assert "could not answer 3 messages in a row" in request.params["text"]
    texts = [m.params["text"] for m in sent]
    assert "Did you mean one of these?" in texts[2] and "didn't catch" in texts[4]
    assert "still can't find" in texts[3], "a clarification does not reset what the bot says"
    assert ["reply_markup" in m.params for m in sent[5:8]] == [True, True, False]
    assert texts[7] == f"{STILL_NO_ANSWER} {queued(1)}"
