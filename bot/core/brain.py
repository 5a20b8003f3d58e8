"""What the bot knows right now: models, FAQ index and answers, swapped as one unit.

A ``Brain`` is immutable; a change (a FAQ edit, a new bundle) builds a new one beside the
running one and swaps a single reference, so a message is always answered by one consistent
model + index pair and no request is dropped during a swap.

Example::

    keeper = await BrainKeeper.open(settings, store, BundleModel(load_bundle(path)))
    keeper.current.index.search(...)
    await keeper.faq_changed()        # after an edit: re-encode only what changed, swap
"""
from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from bot.core.policy import Thresholds
from bot.models.bundle import Bundle, Inference
from bot.settings import Settings
from knowledge.faq.entry import FaqEntry
from knowledge.faq.index import FaqIndex, open_index
from knowledge.faq.store import FaqStore
from knowledge.faq.wording import EntryWording

T = TypeVar("T")
BACKGROUND_NICENESS = 10  # rebuilds yield the CPU to live messages


class Model(Protocol):
    """The two models behind the bot (a bundle, or a fake in tests)."""

    @property
    def version(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...  # of the retrieval encoder: the index is tied to it

    @property
    def document(self) -> str: ...  # "question" | "question_answer"

    @property
    def answer_threshold(self) -> float: ...

    @property
    def margin(self) -> float: ...

    @property
    def lexical_weight(self) -> float: ...  # of the lexical score in FAQ search: 0 = dense alone

    def infer(self, texts: list[str]) -> Inference: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class BundleModel:
    """A loaded bundle seen as a ``Model``."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        retriever = bundle.manifest.retriever
        self.version = bundle.version
        self.fingerprint = bundle.manifest.files[retriever.encoder.model].sha256
        self.document = retriever.document
        self.answer_threshold = retriever.thresholds.answer
        self.margin = retriever.thresholds.margin
        self.lexical_weight = retriever.lexical_weight

    def infer(self, texts: list[str]) -> Inference:
        return self.bundle.infer(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.bundle.encode(list(texts))


@dataclass(frozen=True)
class Brain:
    model: Model
    index: FaqIndex
    entries: Mapping[str, FaqEntry]  # enabled entries by id: the answers
    thresholds: Thresholds
    wording: EntryWording | None = None  # the entries' words, to break near ties (None: not broken)

    @property
    def version(self) -> str:
        return self.model.version


def thresholds_for(model: Model, settings: Settings) -> Thresholds:
    """The bundle's calibrated thresholds, unless the settings override them."""
    return Thresholds(
        answer=settings.answer_threshold if settings.answer_threshold is not None else model.answer_threshold,
        margin=settings.margin if settings.margin is not None else model.margin,
        clarify_window=settings.clarify_window,
        handler=settings.handler_threshold,
        handler_sure=settings.handler_sure_threshold,
        oos_extra=settings.oos_extra,
        overrule_extra=settings.overrule_extra,
        short_window=settings.short_window,
        faq_sure=settings.faq_sure_threshold,
        tie_lead=settings.tie_lead,
        oos_handler=settings.oos_handler_threshold,
    )


class BrainKeeper:
    """Holds the current ``Brain`` and replaces it on FAQ edits and bundle reloads."""

    def __init__(self, settings: Settings, store: FaqStore, brain: Brain, background: ThreadPoolExecutor) -> None:
        self.settings = settings
        self.store = store
        self.current = brain
        self._lock = asyncio.Lock()  # one swap at a time; readers never wait
        self._background = background  # the rebuild thread: see ``in_background``

    @classmethod
    async def open(cls, settings: Settings, store: FaqStore, model: Model) -> BrainKeeper:
        background = background_executor()
        brain = await asyncio.get_running_loop().run_in_executor(background, _build, settings, store, model)
        return cls(settings, store, brain, background)

    async def in_background(self, work: Callable[..., T], *args: object) -> T:
        """Run ``work(*args)`` in the rebuild thread, which runs at a lower CPU priority: loading a
        bundle and re-encoding the FAQ must not slow down the messages answered meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._background, work, *args)

    def close(self) -> None:
        self._background.shutdown(wait=True)

    async def faq_changed(self) -> int:
        """Bring the index up to date with the store; returns the FAQ revision now served."""
        async with self._lock:
            brain = self.current
            updated = await self.in_background(_refresh, self.settings, self.store, brain)
            self.current = updated
            return updated.index.header.faq_revision

    async def replace_model(self, model: Model) -> Brain:
        """Build a brain for ``model`` (re-encoding the FAQ) beside the running one, then swap."""
        async with self._lock:
            brain = await self.in_background(_build, self.settings, self.store, model)
            self.current = brain
            return brain


def background_executor(name: str = "rebuild") -> ThreadPoolExecutor:
    """One thread at a lower CPU priority, for work that must not slow down live messages."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=_lower_priority)


def _lower_priority() -> None:
    """Raise this thread's niceness (Linux: a thread is a schedulable task of its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # no per-thread priorities here: run at normal priority
        pass


def _build(settings: Settings, store: FaqStore, model: Model) -> Brain:
    index, _ = open_index(settings.index_path, store, _ModelEncoder(model), model.document, model.lexical_weight)
    entries = _enabled(store)
    return Brain(model, index, entries, thresholds_for(model, settings), EntryWording(entries.values()))


def _refresh(settings: Settings, store: FaqStore, brain: Brain) -> Brain:
    revision = store.kb_revision()
    if revision == brain.index.header.faq_revision:
        return brain
    changed = store.changed_since(brain.index.header.faq_revision)
    entries = _enabled(store)
    index = brain.index.copy()  # searches go on in the old index meanwhile
    index.update(changed, [entries[i] for i in changed if i in entries], _ModelEncoder(brain.model), revision)
    index.save(settings.index_path)
    return Brain(brain.model, index, entries, brain.thresholds, EntryWording(entries.values()))


def _enabled(store: FaqStore) -> dict[str, FaqEntry]:
    return {entry.faq_id: entry for entry in store.list() if entry.enabled}


class _ModelEncoder:
    """The model's retrieval encoder as the index's ``Encoder``."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.fingerprint = model.fingerprint

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(texts)
