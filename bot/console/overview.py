"""The overview: questions per day and what became of them, feedback, top unanswered topics.

The landing page of the console (``/console/``). Counts come from the conversation log
(``knowledge.conversations.activity``) and the handoffs (waiting now, median time to the first
staff reply, handoffs per day); "top unanswered topics" are the biggest groups of queued questions
the bot could not answer, grouped by meaning with the served model.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from bot.console.pages import render, reviews
from bot.console.similarity import DEFAULT_THRESHOLD, cluster_turns
from bot.keys import DATABASE, KEEPER
from knowledge.conversations.activity import Activity, DayActivity
from knowledge.conversations.handoffs import Handoffs

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
    handoffs = await asyncio.to_thread(Handoffs(request.config_dict[DATABASE]).stats, DAYS)
    totals = DayActivity("total", **{name: sum(getattr(d, name) for d in days) for name in (
        "questions", "answered", "clarified", "fell_back", "handed_off", "handled", "rejected")})
    return await render(request, "overview.html", days=list(reversed(days)), totals=totals, thumbs=thumbs,
                        busiest=max([d.questions for d in days] + [1]), topics=topics, handoffs=handoffs,
                        handoff_days=list(reversed(handoffs.per_day)), first_reply=duration(handoffs.median_first_reply_s),
                        version=brain.version, entries=len(brain.entries),
                        faq_revision=brain.index.header.faq_revision, period=DAYS)


def duration(seconds: float | None) -> str:
    """A wait as staff read it: "45 s", "12 min", "3.5 h"; "–" when there is none yet."""
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
