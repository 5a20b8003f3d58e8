"""Typed keys of everything the aiohttp application holds, in one place."""
from __future__ import annotations

from aiohttp import web

from bot.core.brain import BrainKeeper
from bot.core.responder import Responder
from bot.metrics import Metrics
from bot.settings import Settings
from knowledge.conversations.log import ConversationLog
from knowledge.faq.store import FaqStore

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", FaqStore)
CONVERSATIONS = web.AppKey("conversations", ConversationLog)
KEEPER = web.AppKey("keeper", BrainKeeper)
RESPONDER = web.AppKey("responder", Responder)
METRICS = web.AppKey("metrics", Metrics)
