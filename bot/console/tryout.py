"""The "Try it" page: ask the bot as a user would and see how it decided, without logging a turn;
or play a whole conversation (``POST /console/try/say``, a rehearsal: nothing stored).

Shows the reply as the chat would render it, the action, the intent and its confidence, the
top FAQ matches with their scores and matched phrasing, the rule that decided and the
thresholds in force. It answers from the bot's current brain, so a FAQ change saved a moment
ago is already visible here.
"""
from __future__ import annotations

import re
import secrets

from aiohttp import web

from bot.console.pages import render, signed_in
from bot.core.actions import Action
from bot.core.replies import Explanation, check_choice
from bot.core.responder import REHEARSAL_PREFIX
from bot.http import bad_request, read_json
from bot.keys import KEEPER, RESPONDER

routes = web.RouteTableDef()
CONVERSATION = re.compile(r"[0-9a-f]{16}")
WOULD = {Action.ANSWER: "answer", Action.CLARIFY: "offer a choice", Action.FALLBACK: "fall back",
         Action.REJECTED: "refuse the message"}  # "The bot would ..."


@routes.post("/try/say")
async def say(request: web.Request) -> web.Response:
    """One message of a Try-it conversation, answered as a customer would be (rehearsal: nothing
    stored, nobody called in), with how the bot decided."""
    body = await read_json(request)
    conversation, text, choice = body.get("conversation"), body.get("text", ""), body.get("choice")
    if not isinstance(conversation, str) or not CONVERSATION.fullmatch(conversation):
        raise bad_request("conversation must be the id the page was given")
    if not isinstance(text, str):
        raise bad_request("text must be a string")
    try:  # the chat's rules (bot.channels.web), so a rehearsal goes as the conversation would
        picked = None if choice is None else check_choice(choice)
    except ValueError as error:
        raise bad_request(str(error)) from None
    session = f"{REHEARSAL_PREFIX}{signed_in(request).name}:{conversation}"
    text = "" if picked is not None else text  # a button's label sent with its choice: the choice speaks
    reply = await request.config_dict[RESPONDER].respond(session, "console", text, picked, rehearsal=True)
    return web.json_response({"reply": reply.text, "action": reply.action, "handler": reply.handler,
                              "intent": reply.intent, "faq_id": reply.faq_id, "reason": reply.reason,
                              "buttons": [{"label": b.label, "payload": b.payload} for b in reply.buttons]})


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
                        conversation=secrets.token_hex(8),
                        Action=Action, thresholds=brain.thresholds, version=brain.version)


def _handler(explanation: Explanation | None) -> str | None:
    """The handler the policy chose (``explain`` describes it rather than running it), else None."""
    decision = explanation.decision if explanation else None
    return decision.handler if decision and decision.action == Action.HANDLER else None
