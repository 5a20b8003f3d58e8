"""The demo's order-status handler: order numbers as customers write them, and a way out."""
from __future__ import annotations

import pytest

from bot.app import demo_handlers
from bot.core.followups import holds_on
from bot.core.handlers import HandlerTurn
from bot.core.orders import find_order_number


@pytest.mark.parametrize("text, number", [
    ("where is NW-100002", "NW-100002"), ("nw 100002 where is it", "NW-100002"), ("nw100002", "NW-100002"),
    ("whats happening with order 100002? been a few days", "NW-100002"), ("did order #100004 go through", "NW-100004"),
    ("order number: 100003", "NW-100003"), ("hey did my order #NW-100004 go through?", "NW-100004"),
    ("sorry wrong number!! its 123456", "NW-123456"), ("I meant #100003, not 2", "NW-100003"),
    ("oops wrong one, it’s 100003", "NW-100003"),
    ("call me on 123456", None), ("my number is 123456", None), ("My postcode, it's 238801. Do you ship there?", None),
    ("how much is shipping for a big order? its 200000 won total", None), ("I ordered 2 lamps", None), ("100002", None)])
def test_order_numbers_as_customers_write_them(text: str, number: str | None) -> None:
    assert find_order_number(text) == number


async def test_the_digits_alone_answer_the_question_and_no_number_is_a_way_out() -> None:
    handler = demo_handlers()["order_status"]
    asked = await handler(HandlerTurn("where is my order", "web:o"))
    assert asked.state is not None and "order number" in asked.text
    found = await handler(HandlerTurn("100002", "web:o", continuing=True, state=asked.state))
    assert "shipped" in found.text and found.state is None
    for words in ("i dont have it", "no idea what the number is", "never mind", "I can’t find it"):
        out = await handler(HandlerTurn(words, "web:o", continuing=True, state=asked.state))
        assert out.state is None and "What else can I help with?" in out.text, words


async def test_hang_on_keeps_the_question_open_without_counting_an_attempt() -> None:
    handler = demo_handlers()["order_status"]
    asked = await handler(HandlerTurn("where is my order", "web:h"))
    state = asked.state
    for words in ("hang on let me find it", "one sec", "hold on", "give me a minute", "1 sec pls", "let me check",
                  "brb looking for it", "hang on", "ok one moment"):
        held = await handler(HandlerTurn(words, "web:h", continuing=True, state=state))
        assert held.state is not None and "take your time" in held.text.lower(), words
        state = held.state
    assert state is not None and state["attempts"] == "0"
    closed = await handler(HandlerTurn("hold on i dont have the number", "web:h", continuing=True, state=state))
    assert closed.state is None and "What else can I help with?" in closed.text  # no number to give: a way out
    wrong = await handler(HandlerTurn("abc", "web:h", continuing=True, state=state))
    assert "doesn't look like an order number" in wrong.text  # the first wrong reply still gets a second chance


@pytest.mark.parametrize("text", ["hang on, can I return a kettle I bought in the sale last month?",
                                  "hang on its 100002", "one second NW-100003", "where is my order", "no idea",
                                  "a second order", "I got one mug and a second one broken",
                                  "hang on, how long does delivery take?", "hold on, where is my refund?",
                                  "hang on you charged me twice", "should i hold on to the packaging",
                                  "please let me get a refund", "my name is Amin", "te amo", "it has been 1mo."])
def test_what_is_not_a_hold_on(text: str) -> None:
    assert not holds_on(text)
