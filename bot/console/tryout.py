"""The "Try it" page: ask the bot as a user would and see how it decided, without logging a turn.

Shows the reply as the chat would render it, the action, the intent and its confidence, the
top FAQ matches with their scores and matched phrasing, the rule that decided and the
thresholds in force. It answers from the bot's current brain, so a FAQ change saved a moment
ago is already visible here.
"""
from __future__ import annotations

from aiohttp import web

from bot.console.pages import render
from bot.core.policy import IntentGuess, Thresholds, decide
from bot.core.responder import Reply
from bot.core.routing import RoutingTable
from bot.keys import KEEPER, RESPONDER

routes = web.RouteTableDef()


@routes.get("/try")
async def try_it(request: web.Request) -> web.Response:
    question = request.query.get("q", "")
    brain = request.config_dict[KEEPER].current
    responder = request.config_dict[RESPONDER]
    reply = await responder.explain(question) if question.strip() else None
    matches = [(hit, brain.entries.get(hit.faq_id)) for hit in (reply.hits if reply else ())]
    return await render(request, "try.html", question=question, reply=reply, matches=matches,
                        handler=_handler(reply, responder.routing, brain.thresholds),
                        thresholds=brain.thresholds, version=brain.version)


def _handler(reply: Reply | None, routing: RoutingTable, thresholds: Thresholds) -> str | None:
    """The handler the policy would run (``explain`` composes no handler replies), else None."""
    if reply is None or reply.intent is None or reply.confidence is None:
        return None
    guess = IntentGuess(reply.intent, reply.confidence, bool(reply.in_scope))
    decision = decide(guess, reply.hits, routing.route_for(reply.intent), thresholds)
    return decision.handler if decision.action == "handler" else None
