"""What the bot says: the ``Reply`` every channel renders, and how one is composed.

Composing is pure: from a policy decision, the brain that made it and the conversation's
``Streak`` to a ``Reply``, changing nothing. What a reply changes in the conversation is
applied afterwards, in one place (``sessions.remember``).

Example::

    basis = Basis(reason="top FAQ score 0.91 >= 0.60", bundle_version=brain.version)
    compose(brain, decision, basis, Streak())   # -> Reply(text=..., action=Action.ANSWER, ...)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.actions import Action
from bot.core.brain import Brain
from bot.core.handlers import FALLBACK_TEXT, HANDOFF_TEXT
from bot.core.policy import Decision, IntentGuess
from bot.core.streak import Streak
from knowledge.conversations.handoffs import WAITING, Handoff, Opened
from knowledge.faq.entry import FAQ_ID_PATTERN
from knowledge.faq.index import Hit

HUMAN = "human"  # the payload of "Talk to a person"
FAQ_INTENT = "faq"  # the label of a reply that FAQ search decided
NONE_OF_THESE = "none"
HUMAN_LABEL, NONE_LABEL = "Talk to a person", "None of these"
PAYLOADS = '"human", "none" or "faq:<FAQ id>"'  # what the bot's buttons carry, for error messages
CLARIFY_TEXT = "I'm not completely sure what you mean. Did you mean one of these?"
NONE_FITTED_TEXT = "OK, none of those. Could you tell me a bit more about what you need? Or talk to a person."
OTHER_COMPANY_TEXT = ("That sounds like a question for {0}: I can only help with orders from us and questions "
                      "about our shop, so {0} can answer it best. If you'd rather talk to one of our team, just say so.")
STILL_NO_ANSWER = "Sorry, I still can't find an answer to that."
STILL_FALLBACK_TEXT = f"{STILL_NO_ANSWER} Would you like to talk to a person?"
ALREADY_WAITING = "You're already waiting for a person from our support team; they'll reply here."
WITH_STAFF_ALREADY = "{} from our support team has your conversation; just write your message here."
RELAYED_WAITING = "Thanks, that's passed on to our support team. You're number {} in the queue."
RELAYED_AWAY = "Thanks, that's saved for our support team; they'll reply here when they're back."
PROBLEM_REPLIES = {
    "empty": "I didn't catch a question there. What can I help you with?",
    "too_long": "That message is too long for me. Could you ask your question in a few sentences?",
    "rate": "You're sending messages faster than I can answer. Please wait a moment and try again.",
    "gone": "Sorry, that question is no longer in our help pages. Could you ask it in your own words? "
            "If you'd rather talk to a person, just say so.",
}


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # "faq:<id>", "human" or "none"
    kind: str = "choice"  # "related": a "People also ask" suggestion after an answer; "also": the answer
    # to another question the same message asked


NONE_BUTTON = Button(NONE_LABEL, NONE_OF_THESE)


@dataclass(frozen=True)
class Reply:
    text: str
    action: Action
    buttons: tuple[Button, ...] = ()
    intent: str | None = None
    confidence: float | None = None
    in_scope: bool | None = None
    faq_id: str | None = None
    faq_score: float | None = None
    hits: tuple[Hit, ...] = ()
    reason: str = ""
    bundle_version: str | None = None
    turn_id: int | None = None
    feedback: bool = False  # offer thumbs up/down
    handoff: bool = False  # this message put the conversation in the queue for a person
    escalate: bool = False  # the bot has failed often enough that a person should be called in
    handoff_id: int | None = None  # the conversation's open handoff, if a person has it or is called
    handler: str | None = None  # the handler that wrote the reply, if one did
    handoff_state: str | None = None  # "waiting" or "with_staff" while a handoff is open
    asks_person: bool = False  # asks whether the customer wants a person: "yes" accepts (HandlerReply)

    @property
    def choices(self) -> tuple[str, ...]:
        """The FAQ ids offered as buttons, in order (a clarification's choices)."""
        return tuple(b.payload.removeprefix("faq:") for b in self.buttons if b.payload.startswith("faq:"))


@dataclass(frozen=True)
class Basis:
    """What a reply rests on: the models' reading of the message and the rule that decided.

    Only the reason is required: a button pick is answered without reading any text.
    """

    reason: str
    bundle_version: str | None = None
    intent: str | None = None
    confidence: float | None = None
    in_scope: bool | None = None
    hits: tuple[Hit, ...] = ()

    @property
    def faq_score(self) -> float | None:
        return self.hits[0].score if self.hits else None


@dataclass(frozen=True)
class Explanation:
    """How the bot would answer a message, and the policy decision behind it.

    ``decision`` is None when the text was refused before any model saw it (empty, too long).
    """

    reply: Reply
    decision: Decision | None
    intent: IntentGuess | None = None  # the intent model's reading, whatever decided the reply


def open_buttons(brain: Brain, choices: tuple[str, ...], offered_person: bool) -> tuple[Button, ...]:
    """The buttons of a conversation's last reply that still work (its memory keeps the FAQ ids a
    clarification offered, and whether it offered a person), for a page shown again: the
    choices by the current FAQ's questions, with "None of these", and "Talk to a person".
    After a fallback: ``open_buttons(brain, (), True) == (Button("Talk to a person", "human"),)``.
    """
    offered = _entry_buttons(brain, choices)
    if offered:
        offered += (NONE_BUTTON,)
    return offered + ((Button(HUMAN_LABEL, HUMAN),) if offered_person else ())


def is_payload(choice: str) -> bool:
    """Could a button of the bot's carry ``choice``? That is ``"human"``, ``"none"`` or
    ``"faq:<id>"`` with an id as FAQ ids are written; the entry may have been removed since
    the button was shown (``button_label`` is None then).

    >>> is_payload("faq:returns"), is_payload("none"), is_payload("nonsense")
    (True, True, False)
    """
    faq_id = choice.removeprefix("faq:")
    return choice in (HUMAN, NONE_OF_THESE) or (faq_id != choice and FAQ_ID_PATTERN.fullmatch(faq_id) is not None)


def button_label(brain: Brain, choice: str) -> str | None:
    """The label of the bot's button that carries ``choice`` (an FAQ entry's question), or None
    when no button does (an entry since removed, or not a payload)."""
    if choice.startswith("faq:"):
        entry = brain.entries.get(choice.removeprefix("faq:"))
        return entry.question if entry else None
    return {HUMAN: HUMAN_LABEL, NONE_OF_THESE: NONE_LABEL}.get(choice)


def check_choice(choice: object) -> str:
    """``choice``, the payload of a pressed button, once checked; ``ValueError`` saying why not.

    Text sent beside a choice is not the customer's: chat pages loaded before they sent the
    choice alone send the button's label with it, which may have changed or gone since (an
    edited or removed entry). It is ignored; the log records the button's label as the bot has it.

    Example::

        check_choice("faq:returns")          # "faq:returns"
        check_choice("nonsense")             # ValueError: choice must be the payload of ...
    """
    if not isinstance(choice, str) or not is_payload(choice):
        raise ValueError(f"choice must be the payload of a button the bot offered: {PAYLOADS}")
    return choice


def compose(brain: Brain, decision: Decision, basis: Basis, streak: Streak) -> Reply:
    """The reply to an FAQ-side decision (answer, clarify or fall back); handlers answer for themselves.

    An answer or a choice found by FAQ search is labelled with the intent ``faq``, whatever the
    intent model guessed: the label says what decided the reply (staff read it in the review
    queue). A fallback keeps the model's guess, the best hint of what was asked.
    """
    if decision.action in (Action.ANSWER, Action.CLARIFY) and not decision.by_intent:
        basis = replace(basis, intent=FAQ_INTENT, confidence=None)
    if decision.action == Action.ANSWER and decision.faq_id is not None and decision.faq_id in brain.entries:
        return answer(brain, decision.faq_id, basis)
    if decision.action == Action.CLARIFY:
        buttons = _entry_buttons(brain, [h.faq_id for h in decision.choices]) + (NONE_BUTTON,)
        return _reply(basis, CLARIFY_TEXT, Action.CLARIFY, buttons)
    return fallback(basis, streak)


def answer(brain: Brain, faq_id: str, basis: Basis) -> Reply:
    """FAQ entry ``faq_id``'s answer, inviting feedback."""
    return _reply(basis, brain.entries[faq_id].answer, Action.ANSWER, faq_id=faq_id, feedback=True,
                  bundle_version=brain.version)


def picked(brain: Brain, faq_id: str, basis: Basis) -> Reply:
    """The answer of an FAQ entry the customer chose from those offered (a button, or its number).

    One removed since it was offered (a page left open while staff edited the FAQ) is a polite
    refusal, not a fallback: the bot did not fail, and there is nothing for staff to review.
    """
    if faq_id in brain.entries:
        return answer(brain, faq_id, basis)
    return rejected("gone", f"FAQ entry {faq_id!r} is no longer in the FAQ")


def with_related(reply: Reply, brain: Brain, faq_ids: list[str], kind: str = "related") -> Reply:
    """An answer with related questions ("People also ask") as buttons, or with ``kind`` "also"
    the answers to the message's other questions."""
    return replace(reply, buttons=reply.buttons + _entry_buttons(brain, faq_ids, kind))


def _entry_buttons(brain: Brain, faq_ids: Sequence[str], kind: str = "choice") -> tuple[Button, ...]:
    """A button per FAQ entry still in the FAQ, labelled with its question."""
    return tuple(Button(brain.entries[f].question, f"faq:{f}", kind) for f in faq_ids if f in brain.entries)


def fallback(basis: Basis, streak: Streak) -> Reply:
    """Say the bot has no answer and offer a person; ``streak`` says how often it failed already."""
    text = STILL_FALLBACK_TEXT if streak.unanswered else FALLBACK_TEXT
    reply = _reply(basis, text, Action.FALLBACK, (Button(HUMAN_LABEL, HUMAN),), escalate=streak.escalates)
    return replace(reply, asks_person=True)  # no answer: a person is what the bot has to offer


def none_fitted(basis: Basis, streak: Streak) -> Reply:
    """The reply to "None of these": the customer understood the choices and none fitted, so
    they are asked for more, not to rephrase. Otherwise a fallback: queued for review, offering
    a person, and counted towards calling one in."""
    return replace(fallback(basis, streak), text=NONE_FITTED_TEXT)


def other_company(basis: Basis, name: str) -> Reply:
    """The reply to a message about another company (``bot.core.elsewhere``): said honestly, with
    a person offered; a fallback otherwise (queued for review: staff see what customers ask), but
    never the one that calls a person in: the bot did not fail to understand."""
    return replace(fallback(basis, Streak()), text=OTHER_COMPANY_TEXT.format(name))


def handed_off(reply: Reply, opened: Opened, away: str | None) -> Reply:
    """``reply`` (a request for a person, or a fallback that escalates) once the conversation is
    queued for a person: says so honestly, with the queue position or when staff are back."""
    handoff = opened.handoff
    if not opened.created:
        text = ALREADY_WAITING if handoff.state == WAITING else WITH_STAFF_ALREADY.format(handoff.claimed_by)
    elif away is not None:
        text = away
    else:
        text = f"{HANDOFF_TEXT.rstrip('.')}; you're number {opened.position} in the queue."
    if reply.escalate and opened.created:
        text = f"{STILL_NO_ANSWER} {text}"
    return replace(reply, text=text, action=Action.HANDOFF, buttons=(), feedback=False, asks_person=False,
                   handoff=opened.created,
                   handoff_id=handoff.id, handoff_state=handoff.state)


def relayed(handoff: Handoff, position: int, acknowledge: bool, away: str | None) -> Reply:
    """The reply to a message written while a person has the conversation: the bot stays
    silent, except for a short acknowledgement while the customer waits (``acknowledge``)."""
    text = ""
    if acknowledge and handoff.state == WAITING:
        text = RELAYED_AWAY if away is not None else RELAYED_WAITING.format(position)
    return Reply(text, Action.RELAYED, reason=f"handoff {handoff.id} is {handoff.state}",
                 handoff_id=handoff.id, handoff_state=handoff.state)


def rejected(problem: str, reason: str | None = None) -> Reply:
    """The clear reply to text the bot refuses to read (a key of ``PROBLEM_REPLIES``)."""
    return Reply(PROBLEM_REPLIES[problem], Action.REJECTED, reason=reason or problem)


def _reply(basis: Basis, text: str, action: Action, buttons: tuple[Button, ...] = (), *,
           faq_id: str | None = None, feedback: bool = False, escalate: bool = False,
           bundle_version: str | None = None) -> Reply:
    return Reply(text, action, buttons, intent=basis.intent, confidence=basis.confidence,
                 in_scope=basis.in_scope, faq_id=faq_id, faq_score=basis.faq_score, hits=basis.hits,
                 reason=basis.reason, bundle_version=bundle_version or basis.bundle_version,
                 feedback=feedback, escalate=escalate)
