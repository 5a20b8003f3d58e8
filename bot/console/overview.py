"""The overview: questions per day and what became of them, feedback, top unanswered topics.

The landing page of the console (``/console/``). Counts come from the conversation log
(``knowledge.conversations.activity``); "top unanswered topics" are the biggest groups of queued questions
the bot could not answer, grouped by meaning with the served model.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.console.pages import render, reviews
from bot.console.similarity import DEFAULT_THRESHOLD, cluster_turns
from bot.keys import DATABASE, KEEPER
from knowledge.conversations.activity import Activity, DayActivity

routes = web.RouteTableDef()
DAYS = 14
TOPICS = 5


@routes.get("/")
async def overview(request: web.Request) -> web.Response:
    activity = Activity(request.config_dict[DATABASE])
    days = await asyncio.to_thread(activity.per_day, DAYS)
    thumbs = await asyncio.to_thread(activity.feedback, DAYS)
    brain = request.config_dict[KEEPER].current
    unanswered = await asyncio.to_thread(reviews(request).pending, None, 300, None, True)
    topics = (await cluster_turns(brain, unanswered, DEFAULT_THRESHOLD))[:TOPICS]
    totals = DayActivity("total", **{name: sum(getattr(d, name) for d in days) for name in (
        "questions", "answered", "clarified", "fell_back", "handed_off", "handled", "rejected")})
    return await render(request, "overview.html", days=list(reversed(days)), totals=totals, thumbs=thumbs,
                        busiest=max([d.questions for d in days] + [1]), topics=topics,
                        version=brain.version, entries=len(brain.entries),
                        faq_revision=brain.index.header.faq_revision, period=DAYS)
