"""Reading updates from Telegram: one that cannot be read is skipped, never fatal.

An update the library cannot parse happens: a Bot API server of another version (a self-hosted
one) sends an object without a field this library requires, or a webhook caller sends
``{"message": "hi"}``. ``parse_update`` turns every such case into ``UnreadableUpdate`` with a
reason that names the field (never the update's text). The webhook answers it 400
(``webhook.py``); in polling mode ``PollingBot`` logs it once, counts it and hands the updater a
bare update with the same ``update_id`` in its place, so the updater confirms it with its next
offset and polling goes on. (Left alone, PTB's updater logs the whole update with a traceback
and asks for the same offset again at once, forever.)

Example::

    update = parse_update({"update_id": 7, "message": {...}}, bot)     # or UnreadableUpdate
    bot = PollingBot(token, on_unreadable=lambda: metrics.inc())
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ExtBot

log = logging.getLogger(__name__)
# Update fields that carry a message: each must be an object with a chat.
MESSAGE_FIELDS = ("message", "edited_message", "channel_post", "edited_channel_post",
                  "business_message", "edited_business_message")
OBJECT_FIELDS = (*MESSAGE_FIELDS, "callback_query", "inline_query", "my_chat_member", "chat_member")


class UnreadableUpdate(ValueError):
    """An update this bot cannot read; the message says which field, never the content."""


def parse_update(data: object, bot: Bot) -> Update:
    """Telegram's JSON -> ``Update``, or ``UnreadableUpdate`` naming what is wrong."""
    if not isinstance(data, dict):
        raise UnreadableUpdate("an update must be a JSON object")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise UnreadableUpdate("update_id must be a number")
    for name in OBJECT_FIELDS:
        if name in data and not isinstance(data[name], dict):
            raise UnreadableUpdate(f"{name} must be an object")
    for name in MESSAGE_FIELDS:
        if name in data and not isinstance(data[name].get("chat"), dict):
            raise UnreadableUpdate(f"{name}.chat is missing")
    query = data.get("callback_query")
    if query is not None and not (isinstance(query.get("from"), dict) and isinstance(query.get("id"), str)):
        raise UnreadableUpdate("callback_query needs an id and from")
    try:
        update = Update.de_json(data, bot)
    except (AttributeError, KeyError, TypeError, ValueError) as error:  # the library's ways of refusing
        raise UnreadableUpdate(f"this bot cannot read it ({type(error).__name__} in the library)") from None
    if update is None:
        raise UnreadableUpdate("empty update")
    return update


class PollingBot(ExtBot[int]):
    """An ``ExtBot`` whose ``get_updates`` skips updates it cannot read (see module doc).

    ``Bot.get_updates`` parses the whole batch at once and fails on the first bad update; the
    raw batch passes through ``_post`` first, where each unreadable update is replaced by a bare
    ``{"update_id": ...}``: the batch then parses, and the updater confirms all of it.
    """

    def __init__(self, *args: Any, on_unreadable: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_unreadable = on_unreadable

    async def _post(self, endpoint: str, data: dict[str, Any] | None = None, **timeouts: Any) -> Any:
        result = await super()._post(endpoint, data, **timeouts)
        if endpoint != "getUpdates":
            return result
        if not isinstance(result, list):  # a TelegramError: the updater retries with back-off
            raise TelegramError("getUpdates answered something other than a list")
        return [self._readable(item) for item in result]

    def _readable(self, item: object) -> dict[str, Any]:
        try:
            parse_update(item, self)
        except UnreadableUpdate as error:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                raise TelegramError("getUpdates answered an update without update_id") from None
            log.warning("skipped Telegram update %d: %s", update_id, error)
            if self._on_unreadable is not None:
                self._on_unreadable()
            return {"update_id": update_id}  # nothing to handle; the next offset confirms it
        assert isinstance(item, dict)  # parse_update accepted it
        return item
