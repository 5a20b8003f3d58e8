"""The responder: one user message in, one logged reply out, for every channel.

normalise -> rate limit -> (button pick | pending handler | micro-batched inference and
FAQ search) -> policy -> handler or FAQ reply (``replies``, pure) -> the conversation's
memory updated from the reply (``sessions.remember``) -> turn stored -> reply. A reply is
returned only after its turn is in the database.

Example::

    reply = await responder.respond("web:abc", "web", "where is my parcel?")
    reply.text, reply.buttons, reply.turn_id
"""
from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.core.actions import Action
from bot.core.batcher import Batcher
from bot.core.brain import Brain, BrainKeeper
from bot.core.elsewhere import OtherCompanies
from bot.core.followups import (
    adds_to,
    after_no,
    asked_again,
    asks_something,
    follows_up,
    holds_on,
    points_back,
    questions,
    swaps_subject,
)
from bot.core.glossary import Glossary
from bot.core.handlers import HOLD_ON, Handler, HandlerTurn
from bot.core.handoff import HandoffDesk
from bot.core.person_words import asks_for_person
from bot.core.phrases import GREETING, Phrases
from bot.core.policy import HANDOFF, MAX_CHOICES, Decision, IntentGuess, decide, is_confident
from bot.core.related import RelatedQuestions
from bot.core.replies import (
    HUMAN,
    HUMAN_LABEL,
    Basis,
    Button,
    Explanation,
    Reply,
    button_label,
    compose,
    handed_off,
    none_fitted,
    other_company,
    picked,
    rejected,
    relayed,
    with_related,
)
from bot.core.routing import RoutingTable
from bot.core.sessions import Context, OverLimit, Pending, Sessions, dump, remember
from bot.core.streak import ESCALATE_AFTER
from bot.core.text import clean_text, normalise_text, sentences, word_count
from bot.metrics import Metrics
from bot.settings import Settings
from knowledge.conversations.handoffs import Handoff, WaitingNote
from knowledge.conversations.log import AlreadyStored, LoggedTurn, TurnRecord
from knowledge.faq.index import Hit
from knowledge.limits import Bucket

REVIEW_MARGIN = 0.05  # answers this close above the threshold are "low confidence": queued
LOGGED_CHARS = 200  # of a refused message, a pressed button or a glossed reading, this much is stored
ACKNOWLEDGE_EVERY_S = 120  # while waiting for a person, "passed on" at most this often
DOUBT_WITHIN_S = 120  # a "no" or the same question again this soon after an answer doubts it
DOUBTING_HANDLERS = ("deny", "complaint")
SHORT_WORDS = 2  # a message this short is vague by nature (policy: ``short_window``)
MAX_SENTENCES = 8  # of a longer message, the first and last four sentences are read one by one
NEVER_OVERRIDDEN = ("human_handoff", "complaint")  # a named order does not outrank asking for a person
# Handlers that run from an out-of-scope reading besides those that act (a person, an order): their
# replies help even when the reading is wrong ("Hello! How can I help?"); a goodbye, a complaint or a
# yes read out of scope ("recommend me a good movie", "tell me a joke pls") would not
THANKS = "thanks"
WELCOMING = (GREETING, THANKS)
CLOSINGS = (THANKS, "goodbye")  # the handlers of a message's last words that end a conversation's topic
CLOSING_WORDS = 5  # last words this short may be read alone for thanks or a goodbye ("have a nice day")
IN_ADVANCE = re.compile(r"\bin\s+advance\b", re.IGNORECASE)  # "thanks in advance" thanks for an answer to come
DENY = "deny"
CLAUSE_END = re.compile(r"[,.!?;:]+")
ANSWERS_A_QUESTION = ("affirm", DENY)
REHEARSAL_PREFIX = "try:"  # the console's Try it conversations
EXPLAINED = f"{REHEARSAL_PREFIX}explain"  # the session of ``explain``: a rehearsal, never stored
REHEARSED_HANDOFF = "(Here the customer would be queued for a person from the support team.)"
REHEARSED_RELAY = ("(A person from the support team has this conversation now: this message would go to them, "
                   "and the bot answers nothing until they hand it back. Start a new conversation to try more.)")  # handlers whose intent, while a question waits, is its answer


@dataclass(frozen=True)
class Understood:
    """The models' reading of one message, with the brain that read it."""

    brain: Brain
    intent: IntentGuess
    hits: tuple[Hit, ...] = field(default_factory=tuple)
    read_as: str | None = None  # the message as the models read it, when the glossary changed it

    def basis(self, reason: str) -> Basis:
        """What a reply to this message rests on, with the rule that decided."""
        intent = self.intent
        return Basis(reason, self.brain.version, intent.label, intent.confidence, intent.in_scope, self.hits)


class Responder:
    def __init__(self, settings: Settings, keeper: BrainKeeper, routing: RoutingTable,
                 handlers: dict[str, Handler], sessions: Sessions,
                 log: Batcher[TurnRecord, int], metrics: Metrics, desk: HandoffDesk,
                 related: RelatedQuestions | None = None,
                 history: Callable[[str], list[str]] = lambda session_id: [],
                 entities: Sequence[tuple[Callable[[str], object], str]] = (),
                 phrases: Phrases | None = None, others: OtherCompanies | None = None,
                 replies: Sequence[tuple[Callable[[str], bool], str]] = (),
                 glossary: Glossary | None = None) -> None:
        self.settings = settings
        self.desk = desk
        self.related = related  # "People also ask" after an answer
        self.history = history  # a conversation's earlier customer messages (for handlers that remember)
        self.entities = entities  # (finds it in a text, handler): a message naming it goes to that handler
        owners = frozenset(handler for _, handler in entities)
        self.owners = owners  # the handlers of what a message names (the order handler)
        self.deciding = frozenset({*NEVER_OVERRIDDEN, *owners})  # the handlers one sentence may choose
        self.oos_runs = frozenset({HANDOFF, *WELCOMING, *owners})  # handlers an out-of-scope reading may run
        # (tells it, handler): a message that answers the handler's question goes back to it, whatever
        # else it resembles ("i dont have the number on me", asked for an order number)
        self.replies = replies
        self.phrases = phrases or Phrases()  # messages that are an intent word for word, whatever the model reads
        self.others = others or OtherCompanies()  # names of other companies: a message about one is not for the FAQ
        self.glossary = glossary or Glossary()  # the customers' other languages, read word by word into English
        self.keeper = keeper
        self.routing = routing
        self.handlers = handlers
        self.sessions = sessions
        self.log = log
        self.metrics = metrics
        self.inference: Batcher[str, Understood] = Batcher(
            self._understand, settings.max_batch, settings.max_wait_ms, "inference")

    async def start(self) -> None:
        await self.inference.start()

    async def close(self) -> None:
        await self.inference.close()

    async def respond(self, session_id: str, channel: str, text: str, choice: str | None = None,
                      rehearsal: bool = False, message_id: str | None = None, client: Bucket | None = None) -> Reply:
        """The reply to one message, stored before it is returned. A ``rehearsal`` (the console's
        Try it) runs the same conversation rules but stores nothing and calls in nobody.

        ``message_id`` is the client's key for the message: sent again (a retry after a reply was
        lost), the message is answered with the turn stored the first time, not stored twice.
        ``client`` is the sender's own rate limit (a web chat's address): over it, ``OverLimit``
        is raised and nothing is stored."""
        if rehearsal:
            return await self._rehearse(session_id, text, choice)
        started, arrived = time.perf_counter(), _now()
        # One batch with the concurrent messages': the rate limits, the memory, the open handoff
        # and what a message relayed in it is told.
        arrival = await self.sessions.admit(session_id, client)
        if client is not None and arrival.client is not None and not arrival.client.allowed:
            raise OverLimit(arrival.client, client)
        handoff, note, allowed, context = arrival.handoff, arrival.note, arrival.allowed, arrival.context
        if handoff is not None and note is not None:  # a person has it: store it for them, answer nothing
            turn = self._relay(handoff, note, allowed, text, choice)
            reply = await self._store(session_id, channel, turn.text, turn.reply, started, arrived,
                                      message_id=message_id)
            self.desk.customer_wrote(session_id)  # the inbox and the staff member see it now
            return reply
        turn = await self._reply(session_id, context, allowed, text, choice)
        if turn.reply.handoff or turn.reply.escalate:
            turn = await self._hand_off(session_id, channel, turn)
        turn = await self._offer_more(turn)
        previous = _remember(context, turn)
        reply = await self._store(session_id, channel, turn.text, turn.reply, started, arrived, dump(context),
                                  message_id, doubts=_doubted(previous, turn.text, turn.reply), doubtful=turn.doubtful)
        if reply.handoff_id is not None:
            self.desk.customer_wrote(session_id)
        return reply

    async def _rehearse(self, session_id: str, text: str, choice: str | None) -> Reply:
        arrival = await self.sessions.admit(session_id)
        context = arrival.context
        if context.rehearsed_handoff:  # as in a real conversation a person has now: the bot stays quiet
            return Reply(REHEARSED_RELAY, Action.RELAYED, reason="a person has this conversation: relayed to them")
        turn = await self._reply(session_id, context, arrival.allowed, text, choice)
        if turn.reply.handoff or turn.reply.escalate:
            turn = replace(turn, reply=replace(turn.reply, text=REHEARSED_HANDOFF, action=Action.HANDOFF, buttons=()))
            context.rehearsed_handoff = True
        else:
            turn = await self._offer_more(turn)
        _remember(context, turn)  # as a real conversation does: a follow-up is read the same way
        await self.sessions.save(session_id, context)
        return turn.reply

    async def explain(self, text: str) -> Explanation:
        """How the bot would answer ``text`` as the first message of a conversation, and why:
        the same rules as a customer's message (``_reply``), with nothing stored and any handler
        rehearsed (``HandlerTurn.rehearsal``): described, not run.

        Example::

            explanation = await responder.explain("hello")
            explanation.decision.handler      # "greeting"
        """
        turn = await self._reply(EXPLAINED, Context(), True, text, None)
        return Explanation(turn.reply, turn.decision, turn.intent)

    async def _reply(self, session_id: str, context: Context, allowed: bool, text: str,
                     choice: str | None) -> _Turn:
        """The reply to one message (refused when not ``allowed`` by the rate limit), and the
        handler now waiting for the next, if any.

        Reads ``context`` but changes nothing: ``respond`` applies the outcome.
        """
        if not allowed:
            return _Turn(rejected("rate", "rate limit"), _loggable(text) or (self._label(choice) if choice else ""))
        if choice is not None:
            return await self._pick(context, session_id, choice, _loggable(text) or self._label(choice))
        message = normalise_text(text, self.settings.max_text_chars)
        if message.problem:
            return _Turn(rejected(message.problem), _loggable(text))
        brain = self.keeper.current
        if context.choices and message.text.strip(" .") in {"1", "2", "3"}:
            number = int(message.text.strip(" .")) - 1
            if number < len(context.choices):
                chosen = context.choices[number]
                return _Turn(picked(brain, chosen, Basis("picked by number")), message.text,
                             asked=brain.entries[chosen].question if chosen in brain.entries else None)
        return await self._read(context, session_id, message.text)

    async def _read(self, context: Context, session_id: str, text: str) -> _Turn:
        """The reply to a message the models read (``_reply``'s last step), with the reading and
        the decision it rests on."""
        understood = await self.inference.submit(text)
        seen: dict[str, Understood] = {}  # the readings of its sentences, once read
        # (a handler of what a message names that answered, not asked: "that one says delivered but ...")
        answered_by = context.last_handler if context.handler is None and context.last_handler in self.owners else None
        decision = self._decide(understood, text, answered_by)
        # (the glossed reading: "witam, gdzie jest moje zamówienie?" opens with "hello")
        rest = self.phrases.after_greeting(understood.read_as or text) if decision.handler == GREETING else None
        if rest is not None:
            # "hello where's my order": a greeting that goes on is read again without it, and that
            # reading kept when it finds more than a greeting (a fallback is no better)
            again = await self.inference.submit(rest)
            redecided = self._decide(again, rest)
            if redecided.handler != GREETING and redecided.action != Action.FALLBACK:
                understood, decision = again, redecided
        declined = after_no(text) if context.offered_person and (decision.action in (Action.FALLBACK, Action.CLARIFY)
                                                                 or decision.handler == DENY) else None
        if declined is not None:
            # Offered a person: "no i don't want a person, just tell me how to fix the street name
            # on my delivery". The "no" answers the offer and the rest is the question: read alone,
            # its answer is kept (the whole, read as a refusal, would fall back or give choices).
            again = await self.inference.submit(declined)
            redecided = self._decide(again, declined)
            if redecided.action == Action.ANSWER:
                understood, decision = again, replace(redecided, reason=f"{redecided.reason}, in what follows the "
                                                      f"'no' to a person: {_loggable(declined)!r}")
        if decision.handler != HANDOFF and HANDOFF in self.handlers and asks_for_person(text):
            # "I'd like to speak to someone about my refund" read as the refund question: a person
            # asked for in so many words is never refused. Labelled so for the review queue, with
            # the whole message's FAQ matches (about the refund) for the inbox's suggestions.
            decision = Decision(Action.HANDLER, f"the message asks for a person in so many words (it would have "
                                f"been: {decision.reason})", handler=HANDOFF)
            understood = replace(understood, intent=IntentGuess(HANDOFF, 1.0, True, phrase=True))
        whole = decision
        if decision.handler != HANDOFF:
            # "hi so my kettle arrived broken. can i get a new one?": a message read whole as out of
            # scope may say what it wants in one of its sentences, and "... i want to discuss
            # compensation with someone from your team" asks for a person, whatever the whole reads.
            # While a handler waits for its answer, only a request for a person is read out of one.
            understood, decision = await self._by_sentence(text, understood, decision,
                                                           waiting=context.handler is not None, seen=seen)
        from_sentence = decision if decision is not whole else None  # what one sentence decided, if it did
        closing = await self._closing(text, understood) \
            if decision.action == Action.FALLBACK and context.handler is None else None  # (a question waits: its answer)
        if closing is not None:
            # "just wanted to say the candles i got last week smell amazing, thank u!!", "ok thats
            # all i needed, have a nice day": nothing the FAQ answers, no question, and the
            # customer's last words are thanks or a goodbye
            handler, understood, why = closing
            decision = Decision(Action.HANDLER, f"the message asks nothing and closes with {handler}: {why} (it "
                                f"would have been: {decision.reason})", handler=handler)
        named = self._named_entity(text)
        if named and (decision.handler == HANDOFF or (decision.handler in NEVER_OVERRIDDEN and from_sentence is None)):
            named = None  # a complaint read out of one sentence does not outrank the order the message names
        if named:
            # "sorry, I meant NW-100003": a message that names an order is about that order (and
            # the answer to the order handler's question, if it asked one)
            owns = Decision(Action.HANDLER, f"the message names what handler {named} looks after "
                            f"(it would have been: {decision.reason})", handler=named)
            offered = decision.faq_id if decision.action == Action.ANSWER and asks_something(text) else None
            if offered is not None:
                owns = replace(owns, reason=f"{owns.reason}; the answer to its question is offered as a button")
            status = await self._run_handler(context, session_id, named, text, named == context.handler,
                                             understood, decided=owns)
            if offered is None or status.pending is not None or status.reply.handoff:
                return status
            # "can I still cancel NW-100001?": the order's status, and the clear answer to what the
            # message asks one tap away. The answer in the reply itself did worse on the dialogue
            # suite's blind parts (551 -> 540 of 720 plays; dialogues_policy.md). A message that
            # asks nothing ("sorry typo!! its NW-100001") gets no button: the entry it resembles
            # answers nothing.
            return replace(status, reply=with_related(status.reply, understood.brain, [offered]))
        if context.handler and decision.handler != HANDOFF and \
                any(handler == context.handler and tells(text) for tells, handler in self.replies):
            told = Decision(Action.HANDLER, f"the message answers handler {context.handler}'s question",
                            handler=context.handler)
            return await self._run_handler(context, session_id, context.handler, text, True, understood,
                                           decided=told)
        if context.handler is None and decision.handler != HANDOFF and HOLD_ON in self.handlers and holds_on(text):
            # "hang on let me find it" (read by the intent model as a goodbye, 0.57): the customer
            # is coming back. A handler waiting for its answer reads it itself (``replies``).
            held = Decision(Action.HANDLER, f"the message asks the bot to wait (it would have been: "
                            f"{decision.reason})", handler=HOLD_ON)
            return replace(await self._run_handler(context, session_id, HOLD_ON, text, False, understood, decided=held),
                           holds=True)
        elsewhere = self._elsewhere(text, decision, understood)
        if elsewhere is not None:  # a fallback: a pending question stays pending
            return _Turn(elsewhere, text, decision=Decision(Action.FALLBACK, elsewhere.reason),
                         intent=understood.intent)
        # The word rules (follow-ups, "I don't have the number", doubts) read the message as
        # written: English rules, which the glossary's readings are not run through.
        if context.last_answer and decision.action != Action.HANDLER and follows_up(text) \
                and (self.routing.route_for(understood.intent.label).kind == "search"
                     or not is_confident(understood.intent, understood.brain.thresholds)) \
                and (decision.action != Action.ANSWER or points_back(text)):
            # A follow-up of an answer ("and do I pay the postage for that?") is read with the
            # question answered. It asks something further, so the entry just answered is not its
            # answer; and one that points back ("that", "it") means nothing alone, so its own
            # reading ("postage": the shipping costs) gives way to a clear combined one.
            understood, decision = await self._with_previous(context.last_answer[1], text, understood,
                                                             decision, answered=context.last_faq,
                                                             prefer=points_back(text),
                                                             swap=swaps_subject(text))
        elif vague := self._narrowed(context, text, understood, decision):
            # "refund??" was answered (refund timing), then "for a toaster i sent back last week":
            # a word or two is vague by nature, and a part of a sentence that resembles the FAQ
            # without singling out an entry says which question the customer meant. Read together,
            # it may get the same answer or another ("discount code", then "the student one").
            understood, decision = await self._with_previous(vague, text, understood, decision,
                                                             how=f"read together with the vague message before it, "
                                                                 f"{_loggable(vague)!r}")
        elif context.clarified and decision.action != Action.HANDLER and decision.faq_id not in context.choices:
            # The message after choices were offered narrows the vague one that got them ("returns",
            # then "like how long do i have after it arrives"): read together, kept only when that
            # answers one of the choices, and better than the message's own answer if it has one,
            # so a new topic is read on its own.
            understood, decision = await self._with_previous(context.clarified, text, understood,
                                                             decision, within=context.choices)
        if context.handler and not _takes_over(decision, context.handler):
            waiting = Decision(Action.HANDLER, f"handler {context.handler} asked a question and the message does "
                               f"not change the subject (it would have been: {decision.reason})",
                               handler=context.handler)
            return await self._run_handler(context, session_id, context.handler, text, True, understood,
                                           decided=waiting)
        if decision.action == Action.HANDLER and decision.handler:
            return await self._run_handler(context, session_id, decision.handler, text, False, understood,
                                           decided=decision)
        return _Turn(compose(understood.brain, decision, understood.basis(decision.reason), context.streak),
                     text, decision=decision, intent=understood.intent,
                     doubtful=decision is from_sentence and decision.action == Action.ANSWER, readings=seen)

    async def _also_asked(self, text: str, answered: str, known: Mapping[str, Understood]) -> list[str]:
        """The entries that answer the message's other questions ("do you ship to canada and how
        much does it cost": the shipping costs, beside the answer about countries), each clear
        on its own; [] for a message that asks one thing. Only its parts that ask something and
        can be read alone are read (``asks_something``, not ``points_back``: "... and how much
        does it cost" means nothing alone), each once: ``known`` readings (its sentences') are not
        read again."""
        parts = [part for part in dict.fromkeys(questions(text)) if asks_something(part) and not points_back(part)]
        parts = parts[:MAX_SENTENCES]
        readings = await asyncio.gather(*(_ready(known[part]) if part in known else self.inference.submit(part)
                                          for part in parts))
        found = (self._decide(reading, part) for part, reading in zip(parts, readings, strict=True))
        return list(dict.fromkeys(said.faq_id for said in found
                                  if said.action == Action.ANSWER and said.faq_id and said.faq_id != answered))

    async def _offer_more(self, turn: _Turn) -> _Turn:
        """An answer with buttons: the answers to the message's other questions (``_also_asked``;
        not for an answer found in one sentence: the sentences were read, and one chosen), then
        the related questions ("People also ask"): as many as those alone would be, and up to
        ``MAX_CHOICES`` for the other questions. Only for a reply that is sent: Try it's
        explanation of a message does not pay for them."""
        answered = turn.reply.faq_id
        if turn.reply.action != Action.ANSWER or not answered:
            return turn
        brain = self.keeper.current
        read = turn.decision is not None and turn.decision.action == Action.ANSWER and not turn.doubtful
        also = [f for f in await self._also_asked(turn.text, answered, turn.readings) if f in brain.entries] \
            if read else []
        related = self.related.for_answer(brain, answered) if self.related is not None else []
        offered = list(dict.fromkeys([*also[:MAX_CHOICES], *related]))[:max(len(related), min(len(also), MAX_CHOICES))]
        asked = [f for f in offered if f in also]  # shown as "You also asked", before "People also ask"
        reply = with_related(turn.reply, brain, asked, "also")
        return replace(turn, reply=with_related(reply, brain, [f for f in offered if f not in asked]))

    def _relay(self, handoff: Handoff, note: WaitingNote, allowed: bool, text: str, choice: str | None) -> _Turn:
        """A message for the person who has (or will take) the conversation; see ``replies.relayed``."""
        if not allowed:
            return _Turn(rejected("rate", "rate limit"), _loggable(text))
        if choice is not None:
            logged = _loggable(text) or self._label(choice)
        else:
            message = normalise_text(text, self.settings.max_text_chars)
            if message.problem:
                return _Turn(rejected(message.problem), _loggable(text))
            logged = message.text
        acknowledge = note.last_told is None or \
            (datetime.now(UTC) - datetime.fromisoformat(note.last_told)).total_seconds() >= ACKNOWLEDGE_EVERY_S
        return _Turn(relayed(handoff, note.position, acknowledge, self.desk.away()), logged)

    async def _hand_off(self, session_id: str, channel: str, turn: _Turn) -> _Turn:
        """Queue the conversation for a person: asked for, or the bot failed too often."""
        reason = ("asked for a person" if turn.reply.handoff
                  else f"the bot could not answer {ESCALATE_AFTER} messages in a row")
        opened = await self.desk.open(session_id, channel, reason)
        return replace(turn, reply=handed_off(turn.reply, opened, self.desk.away()))

    async def _by_sentence(self, text: str, understood: Understood, decision: Decision,
                           waiting: bool = False, seen: dict[str, Understood] | None = None
                           ) -> tuple[Understood, Decision]:
        """A message of several sentences read sentence by sentence. One that would fall back or
        only greets ("Hi there! Good morning! My kettle is broken."): the sentence read most
        surely that the FAQ answers, or that asks for a person, about an order or with a
        complaint (``self.deciding``), decides. Any other, or one sent while a handler
        waits for its answer (``waiting``): a sentence that asks for a person decides (a person
        is never refused). A reading counts as ``decide`` makes it, but a handler only from an
        in-scope reading: "do you know a good plumber in leeds?" alone is a request for a person
        at 0.55 that the model calls out of scope. Small talk in a story ("thanks.") decides
        nothing. Else the decision stands.

        Returns the reading to reply with and the decision (``decision`` itself when no sentence
        decided). An answer rests on its sentence's reading (its score is that
        sentence's); anything else has the sentence's intent (what staff are offered as the
        label: human_handoff) with the whole message's FAQ matches, which the inbox suggests
        entries from ("The refund for my blender never came. Let me talk to a human." is about a
        refund)."""
        parts = sentences(text, said=lambda sentence: self.routing.route_for(  # "a human."
            self._phrase_of(sentence, self.glossary.english(sentence))).target in self.deciding)
        if len(parts) > MAX_SENTENCES:  # a story opens with what happened and ends with what is wanted
            parts = parts[:MAX_SENTENCES // 2] + parts[-(MAX_SENTENCES // 2):]
        if not parts:
            return understood, decision
        readings = await asyncio.gather(*(self.inference.submit(part) for part in parts))
        if seen is not None:
            seen.update(zip(parts, readings, strict=True))
        open_to_any = not waiting and (decision.action == Action.FALLBACK or decision.handler == GREETING)
        found = []
        for part, reading in zip(parts, readings, strict=True):
            said = self._decide(reading, part)
            if not open_to_any and said.handler != HANDOFF:
                continue  # only a request for a person overrules an answer, a choice or a handler
            if said.action == Action.ANSWER or (said.action == Action.HANDLER and said.handler in self.deciding
                                                and reading.intent.in_scope):
                sure = reading.hits[0].score if said.action == Action.ANSWER and reading.hits \
                    else reading.intent.confidence
                found.append((said.handler == HANDOFF, sure, part, reading, said))
        if not found:
            return understood, decision
        _, _, part, reading, said = max(found, key=lambda item: item[:2])  # a request for a person first
        whole = {Action.FALLBACK: "would fall back", Action.ANSWER: "would be answered",
                 Action.CLARIFY: "would get choices"}.get(decision.action, f"would go to handler {decision.handler}")
        chosen = replace(said, reason=f"{said.reason}, in the sentence {part!r} (the whole message "
                         f"{whole}: {decision.reason})")
        if said.action == Action.ANSWER:
            return reading, chosen
        return replace(understood, intent=reading.intent), chosen  # labelled by what decided

    def _elsewhere(self, text: str, decision: Decision, understood: Understood) -> Reply | None:
        """The reply to a message about another company, or None: "how do i cancel my netflix
        subscription" is close to cancelling an order by meaning, but names another company, and
        so does "my amazon parcel is late". A request for a person still reaches one, and an entry
        about other companies (price matching) still answers."""
        name = self.others.named(text)
        if name is None or (decision.action == Action.HANDLER and decision.handler not in self.owners) or (
                decision.action == Action.ANSWER and decision.faq_id in self.others.answered_by):
            return None  # small talk, a complaint or a request for a person is answered as ever
        reason = f"the message names {name}, another company ({Path(self.others.source).name})"
        return other_company(understood.basis(reason), name)

    async def _closing(self, text: str, understood: Understood) -> tuple[str, Understood, str] | None:
        """(the thanks or goodbye handler, the reading it rests on, why) when the message asks
        nothing, resembles no FAQ entry (its top score is below the answer bar: "my kettle is
        broken, thank you" tells a problem), and its last words (after its last , . ! ? ; or :)
        are thanks or a goodbye, not thanks in advance: one of the intent's phrases ("...,
        thank u!!"), or a few words the intent model reads so, in scope and confidently ("...,
        have a nice day"). None otherwise; a message of one clause is read whole."""
        hits = understood.hits
        if asks_something(text) or (hits and hits[0].score >= understood.brain.thresholds.answer):
            return None
        pieces = [piece.strip() for piece in CLAUSE_END.split(text) if piece.strip()]
        if not pieces or IN_ADVANCE.search(pieces[-1]):
            return None
        last, quoted = pieces[-1], _loggable(pieces[-1])
        said = self.phrases.intent_of(last)
        if said is not None:
            reading, why = replace(understood, intent=IntentGuess(said, 1.0, True, phrase=True)), \
                f"its last words, {quoted!r}, are one of {said}'s phrases"
        elif len(pieces) > 1 and word_count(last) <= CLOSING_WORDS:
            reading = await self.inference.submit(last)
            why = f"its last words, {quoted!r}, read as {reading.intent.label} ({reading.intent.confidence:.2f})"
            if not is_confident(reading.intent, reading.brain.thresholds):
                return None
        else:
            return None
        route = self.routing.route_for(reading.intent.label)
        handler = route.target if route.kind == "handler" else None
        return (handler, reading, why) if handler in CLOSINGS and handler in self.handlers else None

    def _named_entity(self, text: str) -> str | None:
        """The handler that owns something the message names (the demo: an order number)."""
        return next((handler for finds, handler in self.entities if finds(text) and handler in self.handlers), None)

    def _narrowed(self, context: Context, text: str, understood: Understood, decision: Decision) -> str | None:
        """The vague message (a word or two) just answered that this one says more about, if any.
        It gets no answer alone, is a part of a sentence that adds to the one before (``adds_to``:
        a sentence of its own stands on its own, "the weather in dublin is awful" or "can i send
        back a toaster"), and resembles the FAQ (its top entry clears the answer bar: "lol",
        "asdfgh" or "the blue one" do not)."""
        answered = context.last_answer
        if answered is None or word_count(answered[1]) > SHORT_WORDS or decision.action not in \
                (Action.FALLBACK, Action.CLARIFY) or not adds_to(text):
            return None
        hits = understood.hits  # (no small talk the models are sure of: that runs its handler, not a fallback)
        return answered[1] if hits and hits[0].score >= understood.brain.thresholds.answer else None

    async def _with_previous(self, previous: str, text: str, understood: Understood, decision: Decision,
                             within: tuple[str, ...] | None = None, answered: str | None = None,
                             prefer: bool = False, swap: bool = False,
                             how: str = "read as a follow-up of the previous question") -> tuple[Understood, Decision]:
        """A message read together with the one before; kept only if that gives a clear answer.

        After choices (``within``): one of them, and over the message's own answer only when it
        matches better. After an answer (``answered``, the entry given): a follow-up asks
        something further, so the reading together never gives that answer again (the customer
        has it; repeated, it reads as a bot that did not listen); and a message with an answer
        of its own keeps it, unless it cannot be read alone (``prefer``: "and do I pay the
        postage for that?") and the reading together picks another of the entries it resembles
        most ("return shipping" among "shipping costs", "customs", ...). Asked again in other
        words (its own answer is the one given), it keeps that answer. One that asks the same
        about something else (``swap``: "what about the UK?" after "do you deliver to
        Switzerland?") may get the answer just given again: it is the same question. ``how``
        ends the reason staff read ("read as a follow-up of the previous question").
        """
        together = f"{previous} {text}"
        combined = await self.inference.submit(together)
        if answered is not None and not swap:
            combined = replace(combined, hits=tuple(hit for hit in combined.hits if hit.faq_id != answered))
        followed = self._decide(combined, together)
        if followed.action != Action.ANSWER or (followed.faq_id == answered and not swap) or \
                (within is not None and followed.faq_id not in within):
            return understood, decision  # (an intent routed to the answered entry decides so, whatever the hits)
        if decision.action == Action.ANSWER:
            if answered is None:
                keep = combined.hits[0].score <= understood.hits[0].score  # its own answer matches it better
            else:
                resembled = {hit.faq_id for hit in understood.hits[:MAX_CHOICES]}
                keep = not (prefer and decision.faq_id != answered and followed.faq_id in resembled)
            if keep:
                return understood, decision
        return combined, replace(followed, reason=f"{followed.reason}, {how}")

    def _understand(self, originals: list[str]) -> list[Understood]:
        """Runs in the inference thread: one model call for the whole micro-batch. The models
        read each message through the glossary (in English as far as it knows the words)."""
        brain = self.keeper.current
        glossed = [self.glossary.english(text) for text in originals]  # None: nothing glossed
        texts = [english or text for english, text in zip(glossed, originals, strict=True)]  # what the models read
        inference = brain.model.infer(texts)
        scores = inference.intents
        best = scores.probabilities.argmax(axis=1)
        self.metrics.batch_size.observe(len(texts))
        results = []
        for row, label_index in enumerate(best):
            said = self._phrase_of(originals[row], glossed[row])
            guess = IntentGuess(said, 1.0, True, phrase=True) if said is not None else \
                IntentGuess(scores.labels[int(label_index)], float(scores.probabilities[row, label_index]),
                            bool(scores.in_scope[row]))
            hits = tuple(brain.index.search(inference.embeddings[row], k=3, text=texts[row]))
            if brain.wording is not None:
                words = brain.wording.scores(texts[row], [hit.faq_id for hit in hits])
                hits = tuple(replace(hit, words=score) for hit, score in zip(hits, words))
            results.append(Understood(brain, guess, hits, glossed[row]))
        return results

    def _phrase_of(self, text: str, glossed: str | None) -> str | None:
        """The intent ``text`` is a phrase of, as written or as ``glossed`` (its reading through
        the glossary, None if it has none: "humano." is "human.")."""
        return self.phrases.intent_of(text) or (self.phrases.intent_of(glossed) if glossed else None)

    def _decide(self, understood: Understood, text: str = "", last_handler: str | None = None) -> Decision:
        """``decide`` for one reading; ``last_handler``: the handler that wrote the reply before."""
        route = self.routing.route_for(understood.intent.label)
        short = 0 < len(re.findall(r"\w+", text)) <= SHORT_WORDS
        decision = decide(understood.intent, understood.hits, route, understood.brain.thresholds, short,
                          route.target in self.oos_runs, again=last_handler is not None and route.target == last_handler)
        if understood.read_as is None:
            return decision
        return replace(decision, reason=f"{decision.reason} (read through the glossary as "
                       f"{_loggable(understood.read_as)!r})")

    def _label(self, choice: str) -> str:
        """What a pressed button said, for the log and the review queue (not its payload, unless
        its FAQ entry is gone)."""
        return _loggable(button_label(self.keeper.current, choice) or choice)

    async def _pick(self, context: Context, session_id: str, choice: str, logged: str) -> _Turn:
        if choice == HUMAN:
            return await self._run_handler(context, session_id, "human_handoff", choice, False, None, logged)
        if choice.startswith("faq:"):
            basis = Basis("picked from the offered choices")
            return _Turn(picked(self.keeper.current, choice.removeprefix("faq:"), basis), logged)
        return _Turn(none_fitted(Basis("none of the offered choices fitted"), context.streak), logged)  # "none"

    async def _run_handler(self, context: Context, session_id: str, name: str, text: str, continuing: bool,
                           understood: Understood | None, logged: str | None = None,
                           decided: Decision | None = None) -> _Turn:
        handler = self.handlers[name]
        result = await handler(HandlerTurn(text, session_id, continuing, dict(context.handler_state),
                                           asked_person=context.asked_person,
                                           rehearsal=session_id.startswith(REHEARSAL_PREFIX),
                                           earlier=lambda: asyncio.to_thread(self.history, session_id)))
        intent = understood.intent if understood else None
        reply = Reply(result.text, Action.HANDOFF if result.handoff else Action.HANDLER, handler=name,
                      intent=intent.label if intent else None,
                      confidence=intent.confidence if intent else None,
                      in_scope=intent.in_scope if intent else None, hits=understood.hits if understood else (),
                      reason=decided.reason if decided is not None else f"handler {name}" + (" (continuing)" if continuing else ""),
                      bundle_version=self.keeper.current.version, handoff=result.handoff,
                      buttons=(Button(HUMAN_LABEL, HUMAN),) if result.offer_person or result.asks_person else (),
                      asks_person=result.asks_person)
        pending = Pending(name, result.state) if result.state is not None else None
        return _Turn(reply, text if logged is None else logged, pending, decision=decided, intent=intent)

    async def _store(self, session_id: str, channel: str, text: str, reply: Reply, started: float,
                     arrived: str, state: str | None = None, message_id: str | None = None,
                     doubts: int | None = None, doubtful: bool = False) -> Reply:
        latency_ms = (time.perf_counter() - started) * 1000
        low = reply.action == Action.ANSWER and reply.faq_score is not None and \
            reply.faq_score < self.keeper.current.thresholds.answer + REVIEW_MARGIN
        record = TurnRecord(
            session_id=session_id, channel=channel, text=text, action=reply.action, reply=reply.text,
            latency_ms=latency_ms, intent=reply.intent, confidence=reply.confidence,
            in_scope=reply.in_scope, faq_id=reply.faq_id, faq_score=reply.faq_score,
            choices=reply.choices, bundle_version=reply.bundle_version, created_at=arrived,
            needs_review=reply.action in (Action.FALLBACK, Action.CLARIFY, Action.HANDOFF) or low,
            possibly_wrong=reply.action == Action.ANSWER and not low
            and (doubtful or random.random() < self.settings.review_sample_rate),
            state=state, message_id=message_id, doubts=doubts,
        )
        try:
            turn_id = await self.log.submit(record)
        except AlreadyStored as stored:  # sent again: what was stored the first time stands
            self.metrics.replayed.inc()
            return stored_reply(stored.turn, self.keeper.current)
        self.metrics.messages.labels(channel=channel, action=reply.action).inc()
        if reply.intent:
            self.metrics.intents.labels(intent=reply.intent).inc()
        if reply.action == Action.FALLBACK:
            self.metrics.fallbacks.inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return replace(reply, turn_id=turn_id)


def _doubted(previous: tuple[int | None, str, float] | None, text: str, reply: Reply) -> int | None:
    """The previous answer's turn (from its id, question and time) when this message doubts it: a
    "no", a complaint, or the same question asked again, soon after it. It is queued as possibly
    wrong with this message's turn, in the same round trip."""
    if previous is None or previous[0] is None or time.time() - previous[2] > DOUBT_WITHIN_S:
        return None
    doubted = reply.handler in DOUBTING_HANDLERS or (
        reply.action != Action.REJECTED and asked_again(previous[1], text))
    return previous[0] if doubted else None


@dataclass(frozen=True)
class _Turn:
    """What ``_reply`` decided: the reply, the text to log, and the handler awaiting an answer."""

    reply: Reply
    text: str
    pending: Pending | None = None
    asked: str | None = None  # what an answer answers, when not ``text`` (a choice picked by its number)
    decision: Decision | None = None  # the rule that decided, for a message the models read
    intent: IntentGuess | None = None  # ... and the intent model's reading of it
    doubtful: bool = False  # an answer found in one sentence of a message: queued as possibly wrong
    holds: bool = False  # "one sec": the conversation stays as it was (choices offered, the answer before)
    readings: Mapping[str, Understood] = field(default_factory=dict)  # of the message's sentences, when read


async def _ready(understood: Understood) -> Understood:
    """A reading already made, where ``asyncio.gather`` takes one still to come."""
    return understood


def _remember(context: Context, turn: _Turn) -> tuple[int | None, str, float] | None:
    """Change ``context`` as sending the turn's reply does (``sessions.remember``) and remember
    what an answer answered, for a follow-up; returns the answer remembered before. A message that
    only asks the bot to wait changes nothing: "1" after "one sec" still picks a choice offered."""
    if turn.holds:
        return context.last_answer
    remember(context, turn.reply, turn.pending, turn.text)
    previous, context.last_answer = context.last_answer, \
        (None, turn.asked or turn.text, time.time()) if turn.reply.action == Action.ANSWER else None
    return previous


def stored_reply(turn: LoggedTurn, brain: Brain) -> Reply:
    """The reply a stored turn gave, for a message sent again: its text, what decided it, and the
    choices it offered (as buttons, by the current FAQ's questions)."""
    record = turn.record
    buttons = tuple(Button(brain.entries[f].question, f"faq:{f}") for f in record.choices if f in brain.entries)
    return Reply(record.reply, Action(record.action), buttons, intent=record.intent, confidence=record.confidence,
                 in_scope=record.in_scope, faq_id=record.faq_id, faq_score=record.faq_score,
                 bundle_version=record.bundle_version, turn_id=turn.id,
                 feedback=record.action == Action.ANSWER and turn.feedback is None)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _loggable(raw: str) -> str:
    """What of a message that was not normalised may be stored: cleaned text, at most LOGGED_CHARS.

    Only ever cleaned text reaches the turn log: a lone surrogate cannot even be encoded.
    """
    return clean_text(raw[:LOGGED_CHARS * 4])[:LOGGED_CHARS]


def _takes_over(decision: Decision, pending: str) -> bool:
    """A confident other intent or a clear FAQ answer interrupts a handler's follow-up question;
    a "yes" or "no" answers it, and so does a message whose FAQ entries were too close to tell
    apart by meaning (an answer chosen by its words is no clear change of topic)."""
    if decision.action == Action.HANDLER and decision.handler in ANSWERS_A_QUESTION:
        return False
    return (decision.action == Action.HANDLER and decision.handler != pending) or \
        (decision.action == Action.ANSWER and not decision.by_wording)
