"""The Telegram channel (python-telegram-bot): polling or webhook, buttons, feedback, handoff.

``add_telegram(app)`` wires it into the bot's aiohttp application; see ``channel.py``.
"""
from __future__ import annotations

import os

# PTB 22 warns, on every 429 among other places, that time periods such as ``retry_after``
# become ``timedelta`` in its next major version. Opt in now through its documented switch, so
# that upgrade changes nothing here (``ratelimit.retry_seconds`` reads both types).
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.channels.telegram.channel import add_telegram

__all__ = ["add_telegram"]
