"""A fake Telegram Bot API server on loopback, for driving the real PTB client in tests.

It answers the methods the bot uses (getMe, getUpdates with long polling, sendMessage,
forwardMessage, copyMessage, editMessageReplyMarkup, answerCallbackQuery, sendChatAction,
setWebhook, deleteWebhook, setMyCommands, ...), records every call, hands out updates that
tests queue, and can be told to answer a method with 429 ``retry_after`` (``fail_once``,
``fail_times``). Like Telegram it can hold each chat to a sending rate (``per_chat_rate``
messages a second after a burst of ``burst``), answering 429 to a message sent sooner. A chat
in ``blocked`` answers 403, as Telegram does once a customer blocked the bot.

Example::

    fake = FakeTelegram()
    await fake.start()                       # PTB: base_url(f"{fake.url}/bot")
    await fake.push(fake.text_update(USER, "hello"))
    (sent,) = await fake.wait_sent(USER)
    sent.params["text"]
"""
from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "123456789:TEST-token-abcdefghijklmnopqrstuvwxyz"
BOT = {"id": 7000001, "is_bot": True, "first_name": "Support", "username": "support_test_bot"}
CUSTOMER = {"id": 5001, "is_bot": False, "first_name": "Ann", "last_name": "Smith", "username": "ann"}
STAFF_MEMBER = {"id": 6001, "is_bot": False, "first_name": "Sam", "username": "sam_staff"}
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "link_preview_options", "reply_parameters",
               "entities"}
INT_FIELDS = {"chat_id", "from_chat_id", "message_id", "offset", "limit", "timeout"}
COMMAND_OR_MENTION = re.compile(r"^/\w+(?:@\w+)?|@\w+")


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


class FakeTelegram:
    def __init__(self, token: str = TOKEN, per_chat_rate: float | None = None, burst: int = 3) -> None:
        self.token = token
        self.per_chat_rate = per_chat_rate
        self.burst = burst
        self._chat_due: dict[int, float] = {}  # chat -> when its next message is due (GCRA)
        self.calls: list[Call] = []
        self.webhook_url = ""
        self.blocked: set[int] = set()  # chats whose customer blocked the bot: 403 to everything
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: defaultdict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._failures: dict[str, tuple[int, int]] = {}  # method -> (retry_after, times left)
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    @property
    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    # --- what tests send in ---------------------------------------------------------------

    def message(self, chat_id: int, text: str | None = None, *, user: dict[str, Any] | None = None,
                reply_to: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """A message from a person (a customer unless ``user`` says otherwise), remembered."""
        message: dict[str, Any] = {"message_id": next(self._message_ids[chat_id]), "date": int(time.time()),
                                   "chat": _chat(chat_id), "from": user or CUSTOMER, **fields}
        if text is not None:
            message["text"] = text
            entities = [_entity(m) for m in COMMAND_OR_MENTION.finditer(text)]
            if entities:
                message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self._messages[chat_id, message["message_id"]] = message
        return message

    def update(self, **kind: Any) -> dict[str, Any]:
        """An update carrying ``message=...``, ``edited_message=...``, ``callback_query=...``, ..."""
        return {"update_id": next(self._update_ids), **kind}

    def text_update(self, chat_id: int, text: str, **fields: Any) -> dict[str, Any]:
        return self.update(message=self.message(chat_id, text, **fields))

    def button_update(self, pressed: Call, data: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """The user pressing the button with ``data`` under the message the bot sent in ``pressed``."""
        buttons = [b["callback_data"] for row in pressed.params["reply_markup"]["inline_keyboard"] for b in row]
        assert data in buttons, f"no button {data!r} in {buttons}"
        message = self._messages[pressed.params["chat_id"], pressed.params["message_id_sent"]]
        return self.update(callback_query={"id": str(next(self._update_ids)), "from": user or CUSTOMER,
                                           "chat_instance": "ci-1", "message": message, "data": data})

    async def push(self, update: dict[str, Any]) -> None:
        """Queue an update for the bot's next getUpdates (polling mode)."""
        self._updates.append(update)
        await self._notify()

    def fail_once(self, method: str, retry_after: int) -> None:
        """Answer the next call of ``method`` with 429 Too Many Requests."""
        self.fail_times(method, retry_after, 1)

    def fail_times(self, method: str, retry_after: int, times: int) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 Too Many Requests."""
        self._failures[method] = (retry_after, times)

    def sent_message(self, call: Call) -> dict[str, Any]:
        """The message the bot created with ``call``, as a reply target for a test message."""
        return self._messages[call.params["chat_id"], call.params["message_id_sent"]]

    # --- what tests look at ----------------------------------------------------------------

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[Call]:
        return [c for c in self.calls if c.method == method and
                (chat_id is None or c.params.get("chat_id") == chat_id)]

    async def wait_for(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(done), timeout)

    async def wait_sent(self, chat_id: int | None = None, count: int = 1, method: str = "sendMessage",
                        timeout: float = 5.0) -> list[Call]:
        """The first ``count`` calls of ``method`` to ``chat_id``, once there are that many."""
        await self.wait_for(lambda: len(self.sent(chat_id, method)) >= count, timeout)
        return self.sent(chat_id, method)[:count]

    # --- the server --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = _decode(dict(await request.post()))
        if method in self._failures:
            retry_after, times = self._failures.pop(method)
            if times > 1:
                self._failures[method] = (retry_after, times - 1)
            self.calls.append(Call(f"{method}:429", params))
            return _error(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        if params.get("chat_id") in self.blocked:
            self.calls.append(Call(f"{method}:403", params))
            return _error(403, "Forbidden: bot was blocked by the user")
        if method == "sendMessage" and (wait := self._too_soon(params.get("chat_id"))):
            self.calls.append(Call(f"{method}:429", params))
            return _error(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        answer = getattr(self, f"_api_{method}", None)
        if answer is None:
            return _error(404, "Not Found: method not found")
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._api_getUpdates(params)})
        result = answer(params)
        self.calls.append(Call(method, params))
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _too_soon(self, chat_id: object) -> int:
        """Seconds to wait (as Telegram rounds them, at least 1) if the chat is over its rate; else 0."""
        if self.per_chat_rate is None or not isinstance(chat_id, int):
            return 0
        interval, now = 1 / self.per_chat_rate, time.monotonic()
        due = max(self._chat_due.get(chat_id, now), now)
        if due - now > (self.burst - 1) * interval + 0.05:  # a little slack for timers' jitter
            return max(1, round(due - now - (self.burst - 1) * interval))
        self._chat_due[chat_id] = due + interval
        return 0

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset", 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and params.get("timeout"):
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._updates)),
                                           min(params["timeout"], 2))
                except TimeoutError:
                    pass
        return self._updates[:params.get("limit") or 100]  # Telegram's most per call

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._bot_message(params, text=params["text"],
                                 **({"reply_markup": params["reply_markup"]} if params.get("reply_markup") else {}))

    def _api_forwardMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        original = self._messages[params["from_chat_id"], params["message_id"]]
        copied = {k: v for k, v in original.items() if k not in ("message_id", "chat", "from", "date")}
        return self._bot_message(params, **copied, forward_origin={
            "type": "user", "date": original["date"], "sender_user": original["from"]})

    def _api_copyMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        original = self._messages[params["from_chat_id"], params["message_id"]]
        copied = {k: v for k, v in original.items()
                  if k not in ("message_id", "chat", "from", "date", "reply_to_message")}
        return {"message_id": self._bot_message(params, **copied)["message_id"]}

    def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._messages[params["chat_id"], params["message_id"]]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    def _api_setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = params["url"]
        return True

    def _api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        return True

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": 0}

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        return True

    def _bot_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params["chat_id"]
        message = {"message_id": next(self._message_ids[chat_id]), "date": int(time.time()),
                   "chat": _chat(chat_id), "from": BOT, **content}
        params["message_id_sent"] = message["message_id"]  # lets tests press its buttons
        self._messages[chat_id, message["message_id"]] = message
        return message


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Ann"}
    return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}


def _entity(match: re.Match[str]) -> dict[str, Any]:
    kind = "mention" if match[0].startswith("@") else "bot_command"
    return {"type": kind, "offset": match.start(), "length": len(match[0])}


def _decode(form: dict[str, Any]) -> dict[str, Any]:
    """PTB posts form fields: objects as JSON text, numbers as text."""
    params: dict[str, Any] = {}
    for key, value in form.items():
        if key in JSON_FIELDS:
            value = json.loads(value)
        elif key in INT_FIELDS and re.fullmatch(r"-?\d+", str(value)):
            value = int(value)
        params[key] = value
    return params


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
