"""Typed keys of everything the aiohttp application holds, in one place."""
from __future__ import annotations

from aiohttp import web

from bot.core.brain import BrainKeeper
from bot.core.handoff import HandoffDesk
from bot.core.responder import Responder
from bot.metrics import Metrics
from bot.settings import Settings
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from knowledge.faq.store import FaqStore

SETTINGS = web.AppKey("settings", Settings)
# The one open database; STORE and CONVERSATIONS (and whatever a page needs) are built on it.
DATABASE = web.AppKey("database", Database)
STORE = web.AppKey("store", FaqStore)
CONVERSATIONS = web.AppKey("conversations", ConversationLog)
KEEPER = web.AppKey("keeper", BrainKeeper)
RESPONDER = web.AppKey("responder", Responder)
METRICS = web.AppKey("metrics", Metrics)
DESK = web.AppKey("handoff_desk", HandoffDesk)  # handoff to a person: state, wake-ups, delivery
