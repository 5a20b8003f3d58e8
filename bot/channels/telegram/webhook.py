"""``POST /telegram/webhook``: Telegram delivers updates here in webhook mode.

The ``X-Telegram-Bot-Api-Secret-Token`` header must equal ``SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET``
(compared in constant time; wrong or missing: 403). A good update is queued for the PTB
application and answered 200 at once: the reply to the customer is sent by a separate Bot API
call, so a slow answer never makes Telegram time out and deliver the update again. Updates
Telegram delivers twice anyway (after a network hiccup) are dropped by ``update_id``, remembered
for a day in the database (``knowledge.claims``) so that a repeat reaching another replica is
dropped there too. An update
the bot cannot read (``updates.parse_update``) is 400 with the field named, and its
``update_id`` is not remembered. While the channel stops, updates are 503: Telegram delivers
them again later, to the next process.

Register the URL with ``supportbot telegram set-webhook https://bot.example.com/telegram/webhook``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.telegram.updates import UnreadableUpdate, parse_update
from bot.http import bad_request, error_json, int_field, read_json, same_secret
from bot.keys import SETTINGS
from knowledge.claims import Claims

if TYPE_CHECKING:  # channel.py imports this module: the type only, at check time
    from bot.channels.telegram.channel import TelegramApplication

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REMEMBERED_S = 24 * 3600  # Telegram gives up redelivering an update within a day


class WebhookReceiver:
    """The route handler; ``application`` is set once the PTB application has started."""

    def __init__(self) -> None:
        self.application: TelegramApplication | None = None
        self.closing: Callable[[], bool] = lambda: False  # the channel is stopping: 503, Telegram retries
        self.unreadable: Callable[[], None] = lambda: None  # counts updates answered 400
        self.claims: Claims | None = None  # set with ``application``: update ids seen, by any replica

    async def receive(self, request: web.Request) -> web.Response:
        # The secret is checked before anything else is read; a header of any bytes is simply wrong.
        secret = request.app[SETTINGS].telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not same_secret(given, secret):
            raise web.HTTPForbidden(text=error_json(f"missing or wrong {SECRET_HEADER}"),
                                    content_type="application/json")
        application = self.application
        if application is None or not application.running or self.closing():  # retry later
            raise web.HTTPServiceUnavailable(text=error_json("the Telegram channel is not running"),
                                             content_type="application/json")
        body = await read_json(request)
        int_field(body, "update_id", "not a Telegram update: update_id must be a number")
        try:
            update = parse_update(body, application.bot)
        except UnreadableUpdate as error:
            self.unreadable()
            raise bad_request(f"not a Telegram update: {error}") from None
        # Remembered only once it parsed: a corrected redelivery of a bad update is processed.
        if not await self._first_time(update.update_id):
            return web.json_response({"ok": True, "repeat": True})
        await application.update_queue.put(update)
        return web.json_response({"ok": True})

    async def _first_time(self, update_id: int) -> bool:
        assert self.claims is not None, "set with the application"
        return await asyncio.to_thread(self.claims.take, f"tg-update:{update_id}", REMEMBERED_S)


def add_webhook_route(app: web.Application, receiver: WebhookReceiver) -> None:
    app.router.add_post(WEBHOOK_PATH, receiver.receive, name="telegram-webhook")
