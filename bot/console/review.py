"""The review queue: what the bot could not answer well, and one click to label each.

``/console/review`` lists queued turns newest first, filtered by why they were queued
(fell back, low confidence, thumbs down, handed off). ``/console/review/similar`` groups the
unanswered ones by meaning so a whole group is labelled at once. Both post to
``/console/review/label``:

- ``faq`` (attach): the texts become alternative phrasings of that entry (one revision by the
  signed-in person, live at once) and are labelled as paraphrases of it;
- ``intent``: labelled with that intent; ``out_of_scope``; ``dismissed``.

Creating a new FAQ entry from turns goes through the create form (``/console/create?turn=ID``).
Every label is all-or-nothing and names who gave it (``knowledge.conversations.reviews``).
"""
from __future__ import annotations

import asyncio
from typing import TypedDict
from urllib.parse import urlencode

from aiohttp import web

from bot.admin.faq_changes import change_faq, error_status
from bot.console.pages import problem, render, reviews, see_other, signed_in
from bot.console.similarity import DEFAULT_THRESHOLD, cluster_turns, suggest_entries
from bot.core.actions import Action
from bot.core.policy import HANDOFF
from bot.core.replies import HUMAN_LABEL
from bot.core.streak import ESCALATE_AFTER
from bot.http import parse_number
from bot.keys import CONVERSATIONS, KEEPER, RESPONDER, STORE
from knowledge.conversations.log import LoggedTurn
from knowledge.conversations.reviews import REASONS, InvalidLabel, NoSuchTurn, NotPending, QueuedTurn
from knowledge.errors import KnowledgeError
from knowledge.faq.entry import FaqEntry

routes = web.RouteTableDef()
REASON_NAMES = {"fallback": "Fell back", "low_confidence": "Low confidence", "thumbs_down": "Thumbs down",
                "handoff": "Handed off", "possibly_wrong": "Possibly wrong"}
FORM_KINDS = ("faq", "intent", "out_of_scope", "dismissed")
MAX_SIMILAR = 300
CONTEXT_BEFORE, CONTEXT_AFTER = 3, 2  # turns of the conversation shown around a queued one


class Choices(TypedDict):
    """What the labelling forms suggest: FAQ entries to attach to, intents to label with."""

    entries: list[FaqEntry]
    intents: list[str]


@routes.get("/review")
async def queue(request: web.Request) -> web.Response:
    reason = request.query.get("reason", "")
    if reason and reason not in REASONS:
        return await problem(request, 400, "Unknown filter", f"Filters are {', '.join(REASONS)}.",
                             back="/console/review")
    log = reviews(request)
    turns = await asyncio.to_thread(log.pending, reason or None, 100)
    counts = await asyncio.to_thread(log.pending_counts)
    suggestions = await suggest_entries(request.config_dict[KEEPER].current, turns)
    context = await asyncio.to_thread(_conversations_around, request, turns)
    asked = {turn.id: label for turn in turns if (label := asked_for_person(turn)) is not None}
    return await render(request, "review.html", turns=turns, counts=counts, reason=reason,
                        reason_names=REASON_NAMES, suggestions=suggestions, context=context, asked=asked,
                        escalate_after=ESCALATE_AFTER, **await _choices(request))


@routes.get("/review/similar")
async def similar(request: web.Request) -> web.Response:
    try:
        threshold = float(request.query.get("threshold", DEFAULT_THRESHOLD))
    except ValueError:
        threshold = -1.0
    if not 0.3 <= threshold <= 0.99:
        return await problem(request, 400, "Refused", "The similarity threshold is a number from 0.3 to 0.99.",
                             back="/console/review/similar")
    turns = await asyncio.to_thread(reviews(request).pending, None, MAX_SIMILAR, None, True)
    clusters = await cluster_turns(request.config_dict[KEEPER].current, turns, threshold)
    return await render(request, "review_similar.html", clusters=clusters, threshold=threshold,
                        questions=len(turns), reason_names=REASON_NAMES, **await _choices(request))


@routes.post("/review/label")
async def label(request: web.Request) -> web.Response:
    form = await request.post()
    back = _back(str(form.get("back", "")))
    ids = [number for number in map(parse_number, map(str, form.getall("turn", []))) if number is not None]
    kind = str(form.get("kind", ""))
    value = str(form.get("faq_id" if kind == "faq" else "intent", "")).strip() or None
    staff = signed_in(request).name
    try:
        if kind not in FORM_KINDS:
            raise InvalidLabel(f"unknown action {kind!r}; expected one of {', '.join(FORM_KINDS)}")
        if not ids:
            raise InvalidLabel("no question was chosen")
        if kind == "faq":
            await _attach(request, ids, value or "", staff)
        await asyncio.to_thread(reviews(request).label, ids, kind, value, staff)
    except (InvalidLabel, NotPending, KnowledgeError) as error:
        status = 400 if isinstance(error, InvalidLabel) else 404 if isinstance(error, NoSuchTurn) \
            else 409 if isinstance(error, NotPending) else error_status(error)
        return await problem(request, status, "Not labelled", str(error), back=back)
    raise see_other(back + ("&" if "?" in back else "?") + "done=labelled")


async def _attach(request: web.Request, ids: list[int], faq_id: str, staff: str) -> None:
    """Add the turns' texts to the entry's alternatives (one revision), live before returning."""
    if not faq_id:
        raise InvalidLabel("choose the FAQ entry to attach the question to")
    log, store = reviews(request), request.config_dict[STORE]
    turns: list[QueuedTurn] = await asyncio.to_thread(log.pending, None, len(ids), ids)
    if len(turns) != len(set(ids)):
        await asyncio.to_thread(log.check_queued, ids)  # says which: no such turn, or labelled meanwhile
        raise NotPending("some of these questions are not waiting for review any more "
                         "(someone else may have labelled them); nothing was changed")
    entry = await asyncio.to_thread(store.get, faq_id)
    known = {p.casefold() for p in entry.phrasings()}
    texts = [" ".join(t.text.split()) for t in reversed(turns)]
    new = [text for text in dict.fromkeys(texts) if text.casefold() not in known]
    if new:
        await change_faq(request, store.edit, faq_id, entry.revision, staff,
                         alternatives=(*entry.alternatives, *new))


def asked_for_person(turn: QueuedTurn) -> str | None:
    """The intent to pre-label a handed-over turn with when the customer asked for a person; else None.

    The log does not say why a person was called in, but what it holds tells: a handler hands
    over (a request for a person, "yes" to the offer of one) with the model's reading and no FAQ
    search, so the reading is the label (``affirm`` for that "yes", never ``human_handoff``). A
    fallback that called a person in after repeated misses keeps the score of its FAQ search: an
    unanswered question. A pressed button is logged by its label with no reading: "Talk to a
    person" is a request; "None of these" pressed as the last miss is not.

    Example: "can I talk to a person" handed over gives ``"human_handoff"``; "blorp flim", handed
    over as the third miss in a row, gives None.
    """
    if turn.action != Action.HANDOFF or turn.faq_score is not None:
        return None
    if turn.intent is not None:
        return turn.intent
    return HANDOFF if turn.text == HUMAN_LABEL else None


def _conversations_around(request: web.Request, turns: list[QueuedTurn]) -> dict[int, list[LoggedTurn]]:
    """For each queued turn, the turns just before and after it in its conversation."""
    log = request.config_dict[CONVERSATIONS]
    return {turn.id: log.around(turn.id, CONTEXT_BEFORE, CONTEXT_AFTER) for turn in turns}


async def _choices(request: web.Request) -> Choices:
    """FAQ entries to attach to and intents to label with, for the forms' suggestion lists."""
    entries = await asyncio.to_thread(request.config_dict[STORE].list)
    logged = await asyncio.to_thread(reviews(request).known_intents)
    routed = request.config_dict[RESPONDER].routing.routes
    return Choices(entries=entries, intents=sorted({*logged, *routed}))


def _back(raw: str) -> str:
    """Where to go after labelling: the queue with the same filter, or the similar groups."""
    if raw == "similar":
        return "/console/review/similar"
    return "/console/review" + (f"?{urlencode({'reason': raw})}" if raw in REASONS else "")
