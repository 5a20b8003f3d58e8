"""The "Try it" page: ask the bot as a user would and see how it decided, without logging a turn.

Shows the reply as the chat would render it, the action, the intent and its confidence, the
top FAQ matches with their scores and matched phrasing, the rule that decided and the
thresholds in force. It answers from the bot's current brain, so a FAQ change saved a moment
ago is already visible here.
"""
from __future__ import annotations

from aiohttp import web

from bot.console.pages import render
from bot.core.actions import Action
from bot.core.replies import Explanation
from bot.keys import KEEPER, RESPONDER

routes = web.RouteTableDef()
WOULD = {Action.ANSWER: "answer", Action.CLARIFY: "offer a choice", Action.FALLBACK: "fall back",
         Action.REJECTED: "refuse the message"}  # "The bot would ..."


@routes.get("/try")
async def try_it(request: web.Request) -> web.Response:
    question = request.query.get("q", "")
    brain = request.config_dict[KEEPER].current
    explanation = await request.config_dict[RESPONDER].explain(question) if question.strip() else None
    reply = explanation.reply if explanation else None
    matches = [(hit, brain.entries.get(hit.faq_id)) for hit in (reply.hits if reply else ())]
    return await render(request, "try.html", question=question, reply=reply, matches=matches,
                        guess=explanation.intent if explanation else None,
                        handler=_handler(explanation), would=WOULD.get(reply.action, reply.action) if reply else "",
                        Action=Action, thresholds=brain.thresholds, version=brain.version)


def _handler(explanation: Explanation | None) -> str | None:
    """The handler the policy chose (``explain`` describes it rather than running it), else None."""
    decision = explanation.decision if explanation else None
    return decision.handler if decision and decision.action == Action.HANDLER else None
