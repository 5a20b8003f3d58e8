"""Related questions after an answer ("People also ask"): up to three FAQ entries as buttons.

Chosen per answered entry, in this order: the entries staff pinned to it; the entries customers
most often asked next after it (at least twice, from the conversation log); the entries nearest
to it in meaning (the served model's embeddings of each entry's question with its answer: what
an entry answers tells more than how its question is worded, so "When will I get my refund?"
is near the return policy, not near "I haven't received my order confirmation email"). Staff can turn it off per
entry (or everywhere with ``SUPPORTBOT_RELATED_QUESTIONS=0``). Staff choices and the log counts
are re-read every ``REFRESH_S`` seconds, so every replica follows within that time. The nearest
entries are computed at start, and for each new FAQ (an edit, a new bundle) on the first answer
after it, in the background; until then the ones before are offered.

Example::

    related = RelatedQuestions(RelatedLinks(database), count=3)
    await related.start(keeper.current)
    related.for_answer(brain, "return-policy")    # ["how-to-return", "return-label", "refund-timing"]
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bot.core.brain import Brain, Model, background_executor
from knowledge.faq.documents import document_text
from knowledge.faq.related import Related, RelatedLinks

log = logging.getLogger(__name__)
REFRESH_S = 30.0
START_WAIT_S = 3.0  # the demo's 52 entries take about 0.6 s of CPU
MIN_ASKED_NEXT = 2  # a pair seen once is chance


@dataclass
class _Neighbours:
    brain: Brain
    nearest: dict[str, list[str]]


@dataclass
class _Vectors:
    """The entries' unit vectors by text, for one model: a FAQ edit re-encodes only the entries it
    changed (every entry again cost more CPU than the customers' own messages under load)."""
    model: Model
    by_text: dict[str, np.ndarray] = field(default_factory=dict)


class RelatedQuestions:
    def __init__(self, links: RelatedLinks, count: int = 3) -> None:
        self.links = links
        self.count = count
        # The nearest entries are computed in a thread of their own at a lower CPU priority: not
        # in the FAQ's rebuild thread, where a staff member's edit would wait behind them.
        self._thread = background_executor("related")
        self._vectors: _Vectors | None = None
        self.choices: dict[str, Related] = {}
        self.asked_next: dict[str, Counter[str]] = {}
        self._neighbours: _Neighbours | None = None
        self._computing: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, brain: Brain | None = None) -> None:
        """Read the staff choices and start re-reading them; with ``brain``, also start computing
        its nearest entries, so that the first answer after a start offers them too. The start
        waits for that at most ``START_WAIT_S`` (a large FAQ takes longer: it goes on meanwhile)."""
        if self.count:
            await self.refresh()
            self._task = asyncio.create_task(self._refresh_loop(), name="related-questions")
            if brain is not None:
                self._computing = asyncio.create_task(self._compute(brain), name="related-nearest")
                await asyncio.wait([self._computing], timeout=START_WAIT_S)

    async def close(self) -> None:
        for task in (self._task, self._computing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def refresh(self) -> None:
        """Read staff choices and the "asked next" counts again (after a console change, at once)."""
        self.choices = await asyncio.to_thread(self.links.all)
        self.asked_next = await asyncio.to_thread(self.links.asked_next)

    def for_answer(self, brain: Brain, faq_id: str) -> list[str]:
        """Up to ``count`` entries to offer after answering ``faq_id`` (see the module docstring)."""
        choice = self.choices.get(faq_id, Related())
        if not self.count or choice.mode == "off":
            return []
        picked = [p for p in choice.pinned if p in brain.entries]
        asked = [f for f, n in self.asked_next.get(faq_id, Counter()).most_common() if n >= MIN_ASKED_NEXT]
        picked += [f for f in asked if f in brain.entries]
        picked += [f for f in self._nearest(brain).get(faq_id, []) if f in brain.entries]
        return [f for f in dict.fromkeys(picked) if f != faq_id][:self.count]

    def _nearest(self, brain: Brain) -> dict[str, list[str]]:
        """Nearest entries by meaning for the current brain; computed once per brain, off the
        event loop. Until then, those of the brain before (an FAQ edit changes few of them; the
        caller drops entries that are gone), or none at all before the first computation."""
        if self._neighbours is not None and self._neighbours.brain is brain:
            return self._neighbours.nearest
        if self._computing is None or self._computing.done():
            self._computing = asyncio.get_running_loop().create_task(self._compute(brain))
        return self._neighbours.nearest if self._neighbours is not None else {}

    async def _compute(self, brain: Brain) -> None:
        if self._vectors is None or self._vectors.model is not brain.model:
            self._vectors = _Vectors(brain.model)
        try:
            nearest = await asyncio.get_running_loop().run_in_executor(
                self._thread, _nearest_entries, brain, self.count, self._vectors.by_text)
        except Exception:  # a failed computation only means fewer suggestions
            log.exception("could not compute related questions")
            return
        self._neighbours = _Neighbours(brain, nearest)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception:  # keep the last good choices
                log.exception("could not refresh related questions")


def _nearest_entries(brain: Brain, count: int, known: dict[str, np.ndarray] | None = None) -> dict[str, list[str]]:
    """Each entry's ``count`` nearest entries. ``known`` holds unit vectors by text from earlier
    calls with the same model: only texts not in it are encoded, and it keeps the current ones."""
    ids = list(brain.entries)
    if len(ids) < 2:
        return {}
    texts = [document_text(brain.entries[i].question, brain.entries[i].answer, "question_answer") for i in ids]
    known = {} if known is None else known
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        encoded = np.asarray(brain.model.encode(missing), dtype=np.float32)
        encoded /= np.maximum(np.linalg.norm(encoded, axis=1, keepdims=True), 1e-12)
        known.update(zip(missing, encoded))
    for gone in set(known).difference(texts):  # deleted or edited entries
        del known[gone]
    vectors = np.stack([known[t] for t in texts])
    similarity = vectors @ vectors.T  # [n, n]
    np.fill_diagonal(similarity, -np.inf)
    order = np.argsort(-similarity, axis=1)[:, :count]
    return {ids[row]: [ids[int(j)] for j in order[row]] for row in range(len(ids))}
