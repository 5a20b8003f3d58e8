"""The demo's multi-turn handler: order status from a table, as a team would plug in its shop.

It asks for the order number when the message has none, looks it up, and answers. A real
deployment replaces ``OrderBook`` with a call to its own order system.

Example::

    handler = order_status_handler(OrderBook.from_csv(DEMO_ORDERS))
    await handler(HandlerTurn("where is NW-100002?", "web:1"))
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.followups import holds_on
from bot.core.handlers import Handler, HandlerReply, HandlerTurn

DEMO_ORDERS = Path(__file__).resolve().parent / "demo" / "orders.csv"
# "NW-100002", "nw 100002", "nw100002", and the digits alone after "order" or "#" ("order
# 100002", "#100002", "order number 100002"): how customers write the number on their receipt;
# and as they correct one ("sorry wrong number!! its 100003", "i meant 100003"), not any six
# digits after "it's" (a postcode: "my postcode, it's 238801").
ORDER_NUMBER = re.compile(r"(?:\bNW[-\s]?|\border\s*(?:number|no\.?|nr\.?|#)?\s*:?\s*#?|#|\bmeant\s+#?"
                          r"|\bwrong\s+(?:order\s+)?(?:number|no\.?|one)\b\D{0,20}?)(\d{6})\b", re.IGNORECASE)
BARE_NUMBER = re.compile(r"^\s*#?(\d{6})\s*[.!]?\s*$")  # the digits alone, in reply to the question
STOP_WORDS = {"cancel", "stop", "never mind", "nevermind", "forget it", "no"}
YES = {"yes", "yeah", "yep", "yup", "y", "sure", "correct", "right", "ok", "okay", "ya"}
# Said instead of a number: the customer cannot give one now. Matched anywhere in the reply.
NO_NUMBER = ("don't have", "dont have", "do not have", "no idea", "can't find", "cant find", "not sure",
             "forget it", "never mind", "nevermind", "don't know", "dont know")
MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Order:
    order_id: str
    status: str
    detail: str


@dataclass(frozen=True)
class OrderBook:
    orders: dict[str, Order]

    @classmethod
    def from_csv(cls, path: Path) -> OrderBook:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [Order(r["order_id"].upper(), r["status"], r["detail"]) for r in csv.DictReader(handle)]
        return cls({order.order_id: order for order in rows})

    def find(self, order_id: str) -> Order | None:
        return self.orders.get(order_id.upper())


def find_order_number(text: str, asked: bool = False) -> str | None:
    """``"where is nw 100002"`` -> ``"NW-100002"``; with ``asked`` (the bot asked for the
    number) the six digits alone count too."""
    match = ORDER_NUMBER.search(text) or (BARE_NUMBER.match(text) if asked else None)
    return f"NW-{match.group(1)}" if match else None


def gives_no_number(text: str) -> bool:
    """Does a reply to "What's your order number?" say there is none to give ("i dont have it on
    me, im at work", "never mind")? Such a reply answers the question, whatever else it resembles."""
    said = text.strip().lower().strip(".!").replace("’", "'")
    return said in STOP_WORDS or any(phrase in said for phrase in NO_NUMBER)


def tells_no_number(text: str) -> bool:
    """Does a message sent while the order handler waits for a number say there is none, clearly
    enough to be that reply whatever else it resembles? It says so of the number ("i dont have the
    number on me rn"), or says little else ("no idea"): "I can't find the returns form, how do I
    return an item?" is a new question."""
    words = re.findall(r"[\w']+", text.casefold())
    return gives_no_number(text) and (len(words) <= 5 or bool({"number", "it", "one"} & set(words)))


def order_status_handler(book: OrderBook) -> Handler:
    """A handler that answers 'where is my order' from ``book``, asking for the number."""

    async def order_status(turn: HandlerTurn) -> HandlerReply:
        number = find_order_number(turn.text, asked=turn.continuing)
        said = turn.text.strip().lower().strip(".!")
        remembered = turn.state.get("remembered")
        if number is None and remembered and turn.continuing and said.split(" ")[0] in YES:
            number = remembered  # "Is this about order NW-100002 again?" "yes"
        elif number is None and remembered and turn.continuing and said in ("no", "nope", "no it's not"):
            return HandlerReply("OK. What's the order number? It looks like NW-123456.", state={"attempts": "0"})
        if number is None and not turn.continuing:
            earlier = [find_order_number(text) for text in await turn.earlier()]
            last = next((n for n in reversed(earlier) if n and book.find(n)), None)
            if last is not None:
                return HandlerReply(f"Is this about order {last} again? If so, just say yes; otherwise send me "
                                    "the order number.", state={"attempts": "0", "remembered": last})
        if number is None:
            if turn.continuing and gives_no_number(turn.text):
                return HandlerReply("No problem. You'll find the number in your order confirmation email; "
                                    "send it whenever you have it. What else can I help with?")
            if turn.continuing and holds_on(turn.text):  # the question stays open, no attempt counted
                return HandlerReply("Sure, take your time. Send me the order number when you have it; it "
                                    "looks like NW-123456.", state={**turn.state, "attempts": turn.state.get("attempts", "0")})
            attempts = int(turn.state.get("attempts", "0")) + (1 if turn.continuing else 0)
            if attempts >= MAX_ATTEMPTS:
                return HandlerReply("I still can't find an order number. You'll find it in your "
                                    "order confirmation email; just send it whenever you have it.")
            ask = ("What's your order number? It looks like NW-123456." if not turn.continuing
                   else "That doesn't look like an order number. It looks like NW-123456.")
            return HandlerReply(ask, state={"attempts": str(attempts)})
        order = book.find(number)
        if order is None:
            return HandlerReply(f"I couldn't find order {number}. Please check the number in your "
                                "confirmation email, or ask for a person and we'll look into it.")
        return HandlerReply(f"Order {order.order_id} is {order.status}. {order.detail}")

    return order_status
