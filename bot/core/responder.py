"""The responder: one user message in, one logged reply out, for every channel.

normalise -> rate limit -> (button pick | pending handler | micro-batched inference and
FAQ search) -> policy -> handler or FAQ answer -> turn stored -> reply. A reply is returned
only after its turn is in the database.

Example::

    reply = await responder.respond("web:abc", "web", "where is my parcel?")
    reply.text, reply.buttons, reply.turn_id
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from bot.core.batcher import Batcher
from bot.core.brain import Brain, BrainKeeper
from bot.core.handlers import FALLBACK_TEXT, Handler, HandlerTurn
from bot.core.policy import Decision, IntentGuess, decide
from bot.core.routing import RoutingTable
from bot.core.sessions import Context, Sessions
from bot.core.text import normalise_text
from bot.metrics import Metrics
from bot.settings import Settings
from knowledge.conversations.log import TurnRecord
from knowledge.faq.index import Hit

HUMAN = "human"
NONE_OF_THESE = "none"
PROBLEM_REPLIES = {
    "empty": "I didn't catch a question there. What can I help you with?",
    "too_long": "That message is too long for me. Could you ask your question in a few sentences?",
    "rate": "You're sending messages faster than I can answer. Please wait a moment and try again.",
}
REVIEW_MARGIN = 0.05  # answers this close above the threshold are "low confidence": queued


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # "faq:<id>", "human" or "none"


@dataclass(frozen=True)
class Reply:
    text: str
    action: str  # answer | clarify | fallback | handler | handoff | rejected
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
    handoff: bool = False


@dataclass(frozen=True)
class Understood:
    """The models' reading of one message, with the brain that read it."""

    brain: Brain
    intent: IntentGuess
    hits: tuple[Hit, ...] = field(default_factory=tuple)


class Responder:
    def __init__(self, settings: Settings, keeper: BrainKeeper, routing: RoutingTable,
                 handlers: dict[str, Handler], sessions: Sessions,
                 log: Batcher[TurnRecord, int], metrics: Metrics) -> None:
        self.settings = settings
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

    async def respond(self, session_id: str, channel: str, text: str, choice: str | None = None) -> Reply:
        started = time.perf_counter()
        reply, logged_text = await self._reply(session_id, text, choice)
        return await self._store(session_id, channel, logged_text, reply, started)

    async def explain(self, text: str) -> Reply:
        """How the bot would answer ``text``, without a session, handlers or logging."""
        message = normalise_text(text, self.settings.max_text_chars)
        if message.problem:
            return Reply(PROBLEM_REPLIES[message.problem], "rejected", reason=message.problem)
        understood = await self.inference.submit(message.text)
        decision = self._decide(understood)
        if decision.action == "handler":  # handlers may have side effects: describe, don't run
            intent = understood.intent
            return Reply(f"(the {decision.handler} handler would answer)", "handler", intent=intent.label,
                         confidence=intent.confidence, in_scope=intent.in_scope, hits=understood.hits,
                         reason=decision.reason, bundle_version=understood.brain.version)
        return self._compose(understood, decision, Context())

    async def _reply(self, session_id: str, text: str, choice: str | None) -> tuple[Reply, str]:
        if not self.sessions.allow(session_id):
            return Reply(PROBLEM_REPLIES["rate"], "rejected", reason="rate limit"), text[:200]
        context = self.sessions.get(session_id)
        if choice is not None:
            return await self._pick(context, session_id, choice), text[:200] or choice
        message = normalise_text(text, self.settings.max_text_chars)
        if message.problem:
            return Reply(PROBLEM_REPLIES[message.problem], "rejected", reason=message.problem), text[:200]
        brain = self.keeper.current
        if context.choices and message.text.strip(" .") in {"1", "2", "3"}:
            number = int(message.text.strip(" .")) - 1
            if number < len(context.choices):
                return self._answer(brain, context, context.choices[number],
                                    reason="picked by number"), message.text
        understood = await self.inference.submit(message.text)
        decision = self._decide(understood)
        if context.handler and not _takes_over(decision, context.handler):
            return await self._run_handler(context, session_id, context.handler, message.text, True,
                                           understood), message.text
        if decision.action == "handler" and decision.handler:
            return await self._run_handler(context, session_id, decision.handler, message.text,
                                           False, understood), message.text
        return self._compose(understood, decision, context), message.text

    def _understand(self, texts: list[str]) -> list[Understood]:
        """Runs in the inference thread: one model call for the whole micro-batch."""
        brain = self.keeper.current
        inference = brain.model.infer(texts)
        scores = inference.intents
        best = scores.probabilities.argmax(axis=1)
        self.metrics.batch_size.observe(len(texts))
        results = []
        for row, label_index in enumerate(best):
            guess = IntentGuess(scores.labels[int(label_index)],
                                float(scores.probabilities[row, label_index]), bool(scores.in_scope[row]))
            hits = tuple(brain.index.search(inference.embeddings[row], k=3))
            results.append(Understood(brain, guess, hits))
        return results

    def _decide(self, understood: Understood) -> Decision:
        route = self.routing.route_for(understood.intent.label)
        return decide(understood.intent, understood.hits, route, understood.brain.thresholds)

    def _compose(self, understood: Understood, decision: Decision, context: Context) -> Reply:
        brain, intent = understood.brain, understood.intent
        base = dict(intent=intent.label, confidence=intent.confidence, in_scope=intent.in_scope,
                    hits=understood.hits,
                    reason=decision.reason, bundle_version=brain.version,
                    faq_score=understood.hits[0].score if understood.hits else None)
        if decision.action == "answer" and decision.faq_id in brain.entries:
            return self._answer(brain, context, decision.faq_id, **base)  # type: ignore[arg-type]
        if decision.action == "clarify":
            choices = [h for h in decision.choices if h.faq_id in brain.entries]
            context.choices = tuple(h.faq_id for h in choices)
            buttons = tuple(Button(brain.entries[h.faq_id].question, f"faq:{h.faq_id}") for h in choices)
            return Reply("I'm not completely sure what you mean. Did you mean one of these?",
                         "clarify", buttons + (Button("None of these", NONE_OF_THESE),), **base)
        return self._fallback(context, **base)

    def _answer(self, brain: Brain, context: Context, faq_id: str, **base: object) -> Reply:
        context.last_faq, context.choices, context.fallbacks_in_a_row = faq_id, (), 0
        base = {"bundle_version": brain.version, **base}
        return Reply(brain.entries[faq_id].answer, "answer", faq_id=faq_id, feedback=True, **base)  # type: ignore[arg-type]

    def _fallback(self, context: Context, **base: object) -> Reply:
        context.choices = ()
        context.fallbacks_in_a_row += 1
        text = FALLBACK_TEXT
        if context.fallbacks_in_a_row >= 2:
            text = "Sorry, I still can't find an answer to that. Would you like to talk to a person?"
        return Reply(text, "fallback", (Button("Talk to a person", HUMAN),), **base)  # type: ignore[arg-type]

    async def _pick(self, context: Context, session_id: str, choice: str) -> Reply:
        brain = self.keeper.current
        if choice == HUMAN:
            return await self._run_handler(context, session_id, "human_handoff", choice, False, None)
        faq_id = choice.removeprefix("faq:")
        if choice.startswith("faq:") and faq_id in brain.entries:
            return self._answer(brain, context, faq_id, reason="picked from the offered choices")
        return self._fallback(context, reason="none of the offered choices fitted")

    async def _run_handler(self, context: Context, session_id: str, name: str, text: str,
                           continuing: bool, understood: Understood | None) -> Reply:
        handler = self.handlers[name]
        result = await handler(HandlerTurn(text, session_id, continuing, dict(context.handler_state)))
        context.handler = name if result.state is not None else None
        context.handler_state = dict(result.state or {})
        context.choices, context.fallbacks_in_a_row = (), 0
        intent = understood.intent if understood else None
        return Reply(result.text, "handoff" if result.handoff else "handler",
                     intent=intent.label if intent else None,
                     confidence=intent.confidence if intent else None,
                     in_scope=intent.in_scope if intent else None,
                     reason=f"handler {name}" + (" (continuing)" if continuing else ""),
                     bundle_version=self.keeper.current.version, handoff=result.handoff)

    async def _store(self, session_id: str, channel: str, text: str, reply: Reply, started: float) -> Reply:
        latency_ms = (time.perf_counter() - started) * 1000
        low = reply.action == "answer" and reply.faq_score is not None and \
            reply.faq_score < self.keeper.current.thresholds.answer + REVIEW_MARGIN
        record = TurnRecord(
            session_id=session_id, channel=channel, text=text, action=reply.action, reply=reply.text,
            latency_ms=latency_ms, intent=reply.intent, confidence=reply.confidence,
            in_scope=reply.in_scope, faq_id=reply.faq_id, faq_score=reply.faq_score,
            choices=tuple(b.payload.removeprefix("faq:") for b in reply.buttons if b.payload.startswith("faq:")),
            bundle_version=reply.bundle_version,
            needs_review=reply.action in ("fallback", "clarify", "handoff") or low,
        )
        turn_id = await self.log.submit(record)
        self.metrics.messages.labels(channel=channel, action=reply.action).inc()
        if reply.intent:
            self.metrics.intents.labels(intent=reply.intent).inc()
        if reply.action == "fallback":
            self.metrics.fallbacks.inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return replace(reply, turn_id=turn_id)


def _takes_over(decision: Decision, pending: str) -> bool:
    """A confident other intent or a clear FAQ answer interrupts a handler's follow-up question."""
    return (decision.action == "handler" and decision.handler != pending) or decision.action == "answer"
