"""The decision policy: from intent scores and FAQ hits to what the bot does with a message.

Pure functions, no I/O, so every branch is easy to test and to show staff ("why did it say
that?"). Order of rules:

1. a confident, in-scope intent routed to a handler runs that handler, unless the FAQ has a
   clear answer (rule 3's test) that scores ``overrule_extra`` above ``answer`` and the intent
   is below ``handler_sure``: a strong FAQ answer beats a hesitant handler ("how long does
   delivery take?" is not a question about my order), a weak one does not ("ok and where is my
   order": order_status 0.65 against a 0.41 resemblance to the shipping countries). A hit of
   ``faq_sure`` or more is, in effect, one of the entry's own phrasings ("How long does delivery
   take?" word for word): staff wrote those words for that entry, so it is answered even when the
   intent is sure. A request for a person (``HANDOFF``) is never answered by the FAQ instead;
2. a confident, in-scope intent routed to one FAQ entry answers it; a handler intent the model
   reads as out of scope (its logits unlike its training examples': a long story, a mixed-language
   message) but with at least ``oos_handler`` probability runs its handler when the FAQ has no
   answer clear at the out-of-scope bar (``answer`` + ``oos_extra``), and the message is more than
   a word or two: "I've been going round in circles in this chat for 10 minutes. Transfer me to
   an agent." is a request for a person (0.48) whatever the energy says. Only a handler the
   caller says may (``acts``; the responder: a person, the order handler, a greeting, a thanks)
   does so; a complaint or a goodbye read out of scope ("tell me a joke pls" as a complaint at
   0.6, "recommend me a good movie" as goodbye) is out of scope. Straight after that handler's
   own reply (``again``), the message is first read as a question for the FAQ, whose answer or
   choices win: the customer is saying what is wrong with the reply ("it says delivered but it's
   not in the locker");
3. otherwise FAQ search: answer when the top score clears ``answer`` and beats the second
   entry by ``margin`` (by ``oos_extra`` more when the intent model says out of scope); offer the close ones as choices when the top is within
   ``clarify_window`` below that, only if the intent model reads the message as an in-scope
   question for the FAQ (not out of scope, not an unsure handler intent such as a greeting);
   a near tie (entries within ``margin`` of the top, which clears ``answer``) in a message of
   more than two words is broken by the customer's wording: the tied entry above ``answer`` that shares
   ``tie_lead`` more of it (``Hit.words``: BM25 over its phrasings and answer) than every other
   is answered;
   a message of a word or two gets choices from ``short_window`` below ``answer``, and gets
   them whatever the intent model reads (out of scope, or a handler intent it is unsure of,
   not a request for a person) when entries above ``answer`` match it alike: the model reads a
   lone word poorly;
4. else fall back: say so, offer a person, queue the turn for review.

Example::

    decide(IntentGuess("faq", 0.9, True), hits, SEARCH, Thresholds(0.6, 0.05, 0.12, 0.5))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.actions import Action
from bot.core.routing import SEARCH, Route
from knowledge.faq.index import Hit

MAX_CHOICES = 3
HANDOFF = "human_handoff"  # the built-in handler that hands the conversation to a person


@dataclass(frozen=True)
class Thresholds:
    answer: float  # cosine the top FAQ hit needs to be answered directly
    margin: float  # ... and its lead over the second entry
    clarify_window: float  # top scores this far below ``answer`` are offered as choices
    handler: float  # probability a handler intent needs
    handler_sure: float = 0.8  # ... and above which it wins even over a clear FAQ answer
    oos_extra: float = 0.1  # an out-of-scope reading needs the FAQ answer this much above ``answer``
    overrule_extra: float = 0.0  # ... and a confident handler intent below ``handler_sure`` this much
    short_window: float = 0.25  # a message of a word or two gets choices from this far below ``answer``
    faq_sure: float = 0.95  # an FAQ hit this close is the entry's own phrasing: it beats a sure handler too
    tie_lead: float = 2.0  # a near tie goes to the entry whose wording leads by this much (above 1: never)
    oos_handler: float = 2.0  # a handler intent read as out of scope runs from this probability (above 1: never)


@dataclass(frozen=True)
class IntentGuess:
    label: str
    confidence: float
    in_scope: bool
    phrase: bool = False  # the message is one of the intent's phrases (``bot.core.phrases``), not a model's reading


@dataclass(frozen=True)
class Decision:
    action: Action  # HANDLER, ANSWER, CLARIFY or FALLBACK
    reason: str  # which rule decided, in words staff understand
    handler: str | None = None
    faq_id: str | None = None
    choices: tuple[Hit, ...] = ()
    by_intent: bool = False  # the intent decided (a handler, or an intent routed to one entry)
    by_wording: bool = False  # an answer to a near tie, chosen by the customer's words: not clear by meaning


def decide(intent: IntentGuess, hits: Sequence[Hit], route: Route, thresholds: Thresholds,
           short: bool = False, acts: bool = True, again: bool = False) -> Decision:
    """What to do with one message; see the module docstring for the rules. ``acts``: the
    route's handler may run from an out-of-scope reading (rule 2); ``again``: that handler wrote
    the reply to the message before (rule 2 then gives way to a clear FAQ answer)."""
    confident = is_confident(intent, thresholds)
    clear = bool(hits) and hits[0].score >= thresholds.answer and _lead(hits) >= thresholds.margin
    overruled = ""  # why a clear FAQ answer beats a handler intent (rule 1), in words
    if route.kind == "handler" and confident:
        sure = thresholds.handler_sure if route.sure is None else route.sure
        overruled, kept = _overrule(intent, hits, route, thresholds, sure) if clear else ("", "")
        if not overruled:
            read = f"the message is one of intent {intent.label}'s phrases" if intent.phrase else \
                f"intent {intent.label} ({intent.confidence:.2f} >= {thresholds.handler:.2f})"
            return Decision(Action.HANDLER, f"{read} runs handler {route.target}{kept}", handler=route.target,
                            by_intent=True)
    elif route.kind == "faq" and confident:
        return Decision(Action.ANSWER, f"intent {intent.label} is routed to FAQ {route.target}",
                        faq_id=route.target, by_intent=True)
    oos_handler = max(thresholds.oos_handler, thresholds.handler)  # never easier than an in-scope reading
    runs_out_of_scope = route.kind == "handler" and acts and not intent.in_scope and not short \
        and intent.confidence >= oos_handler  # rule 2 may run the handler
    if runs_out_of_scope and again:
        # "that one says delivered but it's not in the locker" right after the order's status: read
        # out of scope as that handler again (0.41), it says what is wrong with what the handler
        # said. It is read as a question for the FAQ (lost parcel, parcel lockers); the status
        # again would not listen. With no answer or choices there, the handler runs as before.
        searched = decide(IntentGuess(intent.label, intent.confidence, True), hits, SEARCH, thresholds, short)
        if searched.action in (Action.ANSWER, Action.CLARIFY):
            return replace(searched, reason=f"{searched.reason}; intent {intent.label} ({intent.confidence:.2f}, "
                           f"read as out of scope) does not run handler {route.target} again straight after its reply")
    if runs_out_of_scope and not (clear and hits[0].score >= thresholds.answer + thresholds.oos_extra):
        return Decision(Action.HANDLER, f"intent {intent.label} ({intent.confidence:.2f} >= "
                        f"{oos_handler:.2f}) runs handler {route.target}, though the intent model "
                        f"reads the message as out of scope: the FAQ has no clear answer", handler=route.target,
                        by_intent=True)
    if not hits:
        return Decision(Action.FALLBACK, "the FAQ is empty")
    top = hits[0]
    # A word or two that several FAQ entries match about equally, as well as an answerable
    # question ("gift", "my account", "payment??"), read by the intent model as out of scope or
    # as a handler intent it is unsure of (a greeting at 0.37): the model reads a lone word
    # poorly, so its reading neither turns the message away nor lets one of the entries be
    # answered on a word's resemblance. They are offered as choices. One entry far ahead is
    # left to the rules below, and so is a possible request for a person (its fallback offers one).
    if short and not confident and top.score >= thresholds.answer and route.target != HANDOFF \
            and (not intent.in_scope or route.kind == "handler"):
        close = tuple(h for h in hits[:MAX_CHOICES] if h.score >= top.score - thresholds.clarify_window)
        if len(close) > 1:
            return Decision(Action.CLARIFY, f"a message of a word or two that {len(close)} FAQ entries match "
                            f"alike (top {top.score:.2f} >= {thresholds.answer:.2f}), whatever the intent "
                            f"model reads", choices=close)
    # The intent model reading the message as out of scope raises the bar for an FAQ answer: a
    # weak resemblance ("what's the capital of Australia?" to "Which countries do you ship to?")
    # is no answer. Only a match clear by ``oos_extra`` more is answered.
    if clear and not intent.in_scope and top.score < thresholds.answer + thresholds.oos_extra:
        return Decision(Action.FALLBACK, f"the intent model says out of scope and the top FAQ score "
                        f"{top.score:.2f} < {thresholds.answer + thresholds.oos_extra:.2f}")
    if clear:
        return Decision(Action.ANSWER, f"top FAQ score {top.score:.2f} >= {thresholds.answer:.2f} and "
                        f"leads by {_lead(hits):.2f} >= {thresholds.margin:.2f}{overruled}", faq_id=top.faq_id)
    floor = thresholds.answer - thresholds.clarify_window
    # Choices only for a question the intent model reads as one for the FAQ: in scope, and not
    # small talk or a task it was unsure of. Offering FAQ entries for "what's the weather?" or
    # "qwzx" only looks foolish; an honest fallback is better.
    # A message of a word or two ("refund", "my account") is vague by nature: offering the
    # nearest entries is the helpful reply, from a lower score than a full question needs.
    if short and intent.in_scope and route.kind != "handler":
        floor = min(floor, thresholds.answer - thresholds.short_window)
    if top.score >= floor and intent.in_scope and route.kind != "handler":
        chosen = None if short or top.score < thresholds.answer else _by_wording(hits, thresholds)
        if chosen is not None:
            return chosen
        close = tuple(h for h in hits[:MAX_CHOICES] if h.score >= max(floor, top.score - thresholds.clarify_window))
        why = ("the top FAQ entries are too close to tell apart" if top.score >= thresholds.answer
               else f"top FAQ score {top.score:.2f} is just below {thresholds.answer:.2f}")
        return Decision(Action.CLARIFY, why, choices=close)
    scope = "" if intent.in_scope else "; the intent model says out of scope"
    if top.score < floor:
        return Decision(Action.FALLBACK, f"top FAQ score {top.score:.2f} < {floor:.2f}{scope}")
    # Close enough for choices, but they are only for an in-scope question for the FAQ.
    unclear = "too close to the next entry" if top.score >= thresholds.answer else \
        f"below {thresholds.answer:.2f}"
    reading = "says out of scope" if not intent.in_scope else \
        f"reads {intent.label} ({intent.confidence:.2f}), not a question for the FAQ"
    return Decision(Action.FALLBACK, f"top FAQ score {top.score:.2f} is {unclear}, and no choices are offered: "
                    f"the intent model {reading}")


def is_confident(intent: IntentGuess, thresholds: Thresholds) -> bool:
    """Is the intent reading one a handler runs on (in scope, at least ``handler``)?"""
    return intent.in_scope and intent.confidence >= thresholds.handler


def _overrule(intent: IntentGuess, hits: Sequence[Hit], route: Route, thresholds: Thresholds,
              sure: float) -> tuple[str, str]:
    """Rule 1 for a confident handler intent and a clear FAQ answer: (why the answer wins, "")
    or ("", why the handler runs anyway), each a clause for the decision's reason."""
    score, handler = hits[0].score, f"intent {intent.label} ({intent.confidence:.2f})"
    if route.target == HANDOFF:
        return "", f"; a request for a person is never answered from the FAQ (top FAQ score {score:.2f})"
    if score >= thresholds.faq_sure:
        return (f"; the message is the entry's own phrasing ({score:.2f} >= {thresholds.faq_sure:.2f}), so "
                f"{handler} does not run handler {route.target}"), ""
    if intent.confidence >= sure:
        return "", (f"; it is sure ({intent.confidence:.2f} >= {sure:.2f}), so the top FAQ score {score:.2f} "
                    f"(< {thresholds.faq_sure:.2f}) does not answer")
    needed = thresholds.answer + thresholds.overrule_extra
    if score >= needed:
        return (f"; intent {intent.label} ({intent.confidence:.2f} < {sure:.2f}) does not run handler "
                f"{route.target}"), ""
    return "", f"; the top FAQ score {score:.2f} < {needed:.2f} does not overrule a handler"


def _by_wording(hits: Sequence[Hit], thresholds: Thresholds) -> Decision | None:
    """Rule 3's near tie broken by the customer's words, or None: the entries within ``margin``
    of the top are all alike in meaning, and one of them that clears ``answer`` itself shares
    ``tie_lead`` more of the message's wording than each of the others ("engraved" is in the
    answer about personalised items)."""
    tied = [hit for hit in hits[:MAX_CHOICES] if hit.score >= hits[0].score - thresholds.margin]
    if len(tied) < 2 or any(hit.words is None for hit in tied):
        return None
    first, second = sorted(tied, key=lambda hit: -(hit.words or 0.0))[:2]
    lead = (first.words or 0.0) - (second.words or 0.0)
    if lead <= 0 or lead < thresholds.tie_lead or first.score < thresholds.answer:
        return None
    return Decision(Action.ANSWER, f"the top FAQ entries are too close to tell apart by meaning ({hits[0].score:.2f} "
                    f"and {hits[1].score:.2f}), and {first.faq_id} shares more of the message's words "
                    f"({first.words:.2f}, the next {second.words:.2f})", faq_id=first.faq_id, by_wording=True)


def _lead(hits: Sequence[Hit]) -> float:
    """How far the top hit is ahead of the second (of -1, the lowest cosine, when it stands alone)."""
    return hits[0].score - (hits[1].score if len(hits) > 1 else -1.0)
