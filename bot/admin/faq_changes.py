"""One FAQ change from the web, made live: shared by the admin API and the staff console.

The store call runs in a thread (it is blocking SQL); on success the bot's index is brought
up to date and swapped in before the caller answers, so the next message already sees the
change. Store errors propagate unchanged; ``error_status`` says which HTTP status each means.

Example::

    entry = await change_faq(request, store.edit, "returns", 3, "ana", answer="Yes, 60 days.")
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from aiohttp import web

from bot.keys import KEEPER
from knowledge.errors import EntryNotFound, InvalidEntry, KnowledgeError

P = ParamSpec("P")
T = TypeVar("T")


async def change_faq(request: web.Request, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``function(*args, **kwargs)`` (a ``FaqStore`` change) in a thread, then re-index."""
    result = await asyncio.to_thread(function, *args, **kwargs)
    try:
        await request.config_dict[KEEPER].faq_changed()
    except KnowledgeError as error:  # saved, but not live: an internal error, not the caller's
        raise RuntimeError(f"the FAQ change was saved but the index could not be updated: {error}") from error
    return result


def error_status(error: KnowledgeError) -> int:
    """The HTTP status of a refused change: invalid 400, unknown 404, stale or taken 409."""
    if isinstance(error, InvalidEntry):
        return 400
    if isinstance(error, EntryNotFound):
        return 404
    return 409  # EditConflict, EntryExists and other refusals of the current state
