"""Inline keyboards: clarification choices and thumbs up/down, pressed through callback queries."""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path

from bot.channels.telegram.buttons import Pick, PickFromTurn, Vote, parse_callback, reply_keyboard
from bot.channels.telegram.customers import ALREADY_RATED, EXPIRED, THANKS
from bot.core.handlers import HANDOFF_TEXT
from bot.core.replies import Button, Reply
from bot.keys import DESK
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.telegram.conftest import USER, StartBot
from tests.telegram.fake_api import Call, FakeTelegram

CLARIFYING = {"answer_threshold": 0.99, "clarify_window": 0.7}  # every FAQ question gets choices


def log(tmp_path: Path) -> ConversationLog:
    return ConversationLog(Database.open(f"sqlite:///{tmp_path / 'data' / 'supportbot.db'}"))


def buttons(call: Call) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in call.params["reply_markup"]["inline_keyboard"] for b in row]


async def test_a_clarification_choice_answers_the_picked_entry(start_bot: StartBot, fake: FakeTelegram,
                                                              tmp_path: Path) -> None:
    await start_bot(**CLARIFYING)
    await fake.push(fake.text_update(USER, "refund for my return"))
    (question,) = await fake.wait_sent(USER)
    choices = buttons(question)
    assert 2 <= len(choices) <= 4 and choices[-1] == ("None of these", "p:none")
    label, data = choices[0]
    assert data.startswith("p:faq:")
    await fake.push(fake.button_update(question, data))
    _, answer = await fake.wait_sent(USER, count=2)
    (spinner,) = await fake.wait_sent(method="answerCallbackQuery")
    assert "text" not in spinner.params, "the spinner stops without a pop-up"
    (edit,) = fake.sent(USER, "editMessageReplyMarkup")
    assert edit.params["message_id"] == question.params["message_id_sent"] and not edit.params.get("reply_markup")
    picked = data.removeprefix("p:faq:")
    turns = log(tmp_path).turns(f"tg:{USER}")
    assert [t.record.action for t in turns] == ["clarify", "answer"] and turns[-1].record.faq_id == picked
    assert buttons(answer)[-1][1] == f"v:{turns[-1].id}:-1", "the answer invites feedback on its own turn"


async def test_a_choice_can_name_the_logged_turn_instead_of_the_entry(start_bot: StartBot, fake: FakeTelegram,
                                                                      tmp_path: Path) -> None:
    await start_bot(**CLARIFYING)
    await fake.push(fake.text_update(USER, "refund for my return"))
    (question,) = await fake.wait_sent(USER)
    (turn,) = log(tmp_path).turns(f"tg:{USER}")
    message = fake.sent_message(question)
    await fake.push(fake.update(callback_query={"id": "q1", "from": message["chat"] | {"is_bot": False},
                                                "chat_instance": "c", "message": message, "data": f"t:{turn.id}:1"}))
    await fake.wait_sent(USER, count=2)
    assert log(tmp_path).turns(f"tg:{USER}")[-1].record.faq_id == turn.record.choices[1]


async def test_thumbs_record_feedback_on_the_turn_once(start_bot: StartBot, fake: FakeTelegram, tmp_path: Path) -> None:
    await start_bot()
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    (turn,) = log(tmp_path).turns(f"tg:{USER}")
    related = [(label, data) for label, data in buttons(answer) if data.startswith("p:faq:")]
    assert related and buttons(answer) == [*related, ("👍 Helpful", f"v:{turn.id}:1"),
                                           ("👎 Not helpful", f"v:{turn.id}:-1")]
    await fake.push(fake.button_update(answer, f"v:{turn.id}:-1"))
    await fake.push(fake.button_update(answer, f"v:{turn.id}:1"))  # a second tap before the edit
    first, second = await fake.wait_sent(method="answerCallbackQuery", count=2)
    assert first.params["text"] == THANKS[-1] and second.params["text"] == ALREADY_RATED
    (rated,) = log(tmp_path).turns(f"tg:{USER}")
    assert rated.feedback == -1 and rated.review == "pending"
    (edit,) = fake.sent(USER, "editMessageReplyMarkup")
    assert buttons(edit) == related, "the thumbs go once used; the related questions stay"


async def test_a_thumb_after_a_related_question_was_picked_does_not_bring_it_back(
        start_bot: StartBot, fake: FakeTelegram, tmp_path: Path) -> None:
    await start_bot()
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    (turn,) = log(tmp_path).turns(f"tg:{USER}")
    related = next(data for _, data in buttons(answer) if data.startswith("p:faq:"))
    stale = copy.deepcopy(fake.button_update(answer, f"v:{turn.id}:1"))  # the keyboard as the app still shows it
    await fake.push(fake.button_update(answer, related))
    await fake.wait_sent(USER, count=2)  # the picked question's answer
    await fake.push(stale)
    picked, voted = await fake.wait_sent(method="editMessageReplyMarkup", count=2)
    assert not picked.params.get("reply_markup") and not voted.params.get("reply_markup"), \
        "the keyboard stays empty: the vote does not restore the used related questions"
    assert log(tmp_path).turns(f"tg:{USER}")[0].feedback == 1


async def test_buttons_this_bot_never_sent_or_for_another_chat_have_expired(start_bot: StartBot, fake: FakeTelegram,
                                                                           tmp_path: Path) -> None:
    await start_bot()
    await fake.push(fake.text_update(USER, "How long does delivery take?"))
    (answer,) = await fake.wait_sent(USER)
    (turn,) = log(tmp_path).turns(f"tg:{USER}")
    message = fake.sent_message(answer)
    other_chat = {**message, "chat": {"id": 5002, "type": "private", "first_name": "Bo"}}
    for data, where in (("garbage", message), ("v:999:1", message), (f"v:{turn.id}:1", other_chat),
                        (f"t:{turn.id}:5", message)):
        await fake.push(fake.update(callback_query={"id": data, "from": {"id": 5002, "is_bot": False,
                                                                         "first_name": "Bo"},
                                                    "chat_instance": "c", "message": where, "data": data}))
    answers = await fake.wait_sent(method="answerCallbackQuery", count=4)
    assert [a.params["text"] for a in answers] == [EXPIRED] * 4
    assert log(tmp_path).turns(f"tg:{USER}")[0].feedback is None


async def test_talk_to_a_person_without_a_staff_chat_queues_for_the_console(start_bot: StartBot,
                                                                            fake: FakeTelegram) -> None:
    client = await start_bot()
    await fake.push(fake.text_update(USER, "what's the weather like in Lisbon"))
    (fallback,) = await fake.wait_sent(USER)
    assert ("Talk to a person", "p:human") in buttons(fallback)
    await fake.push(fake.button_update(fallback, "p:human"))
    _, reply = await fake.wait_sent(USER, count=2)
    assert reply.params["text"] == f"{HANDOFF_TEXT.rstrip('.')}; you're number 1 in the queue."
    assert "reply_markup" not in reply.params
    (waiting,) = client.app[DESK].handoffs.inbox()
    assert waiting.handoff.session_id == f"tg:{USER}" and waiting.handoff.state == "waiting"


def test_keyboards_fit_telegram_callback_data() -> None:
    long_id = "x" * 64
    reply = Reply("Did you mean?", "clarify", (Button("Q1", "faq:a"), Button("Q2", f"faq:{long_id}"),
                                                 Button("None of these", "none")), turn_id=41)
    keyboard = reply_keyboard(reply)
    assert keyboard is not None
    data = [row[0].callback_data for row in keyboard.inline_keyboard]
    assert data == ["p:faq:a", "t:41:1", "p:none"]
    assert all(len(str(d).encode()) <= 64 for d in data)
    assert [parse_callback(str(d)) for d in data] == [Pick("faq:a"), PickFromTurn(41, 1), Pick("none")]
    assert parse_callback("v:7:-1") == Vote(7, -1) and parse_callback("v:7:0") is None
    assert parse_callback("p:nonsense") is None and parse_callback("p:faq:../x") is None, "never sent by the bot"
    assert reply_keyboard(Reply("Hello!", "handler")) is None


async def test_a_double_tap_on_a_choice_answers_once(start_bot: StartBot, fake: FakeTelegram, tmp_path: Path) -> None:
    await start_bot(**CLARIFYING)
    await fake.push(fake.text_update(USER, "refund for my return"))
    (question,) = await fake.wait_sent(USER)
    _, data = buttons(question)[0]
    await fake.push(fake.button_update(question, data))
    await fake.push(fake.button_update(question, data))  # the second tap, before the keyboard went
    await fake.wait_sent(method="answerCallbackQuery", count=2)
    await fake.wait_sent(USER, count=2)
    await asyncio.sleep(0.5)  # a second answer, if any, would be out by now
    assert len(fake.sent(USER)) == 2, "the question and one answer"
    assert [t.record.action for t in log(tmp_path).turns(f"tg:{USER}")] == ["clarify", "answer"]
