"""Similar questions: group queued texts by meaning, and suggest the FAQ entry each is closest to.

Both use the model the bot serves right now (``keeper.current``), so "similar" means what the
bot itself would consider similar. Grouping is greedy: each text, newest first, joins the
group whose mean vector is most similar to it when that cosine clears the threshold, else it
starts a new group. One pass, O(texts x groups): fine for the few hundred queued questions.

Example::

    groups = group_similar(model.encode(texts), threshold=0.7)    # [[0, 3, 4], [1], [2]]
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.brain import Brain
from knowledge.conversations.reviews import QueuedTurn
from knowledge.faq.index import Hit

DEFAULT_THRESHOLD = 0.7


def group_similar(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Row indices of ``vectors`` ([n, dim], unit rows) in groups, biggest group first."""
    groups: list[list[int]] = []
    sums = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)  # [groups, dim]
    for row, vector in enumerate(vectors):
        if groups:
            norms = np.linalg.norm(sums, axis=1)
            similarity = (sums @ vector) / np.where(norms == 0, 1.0, norms)  # [groups]
            best = int(similarity.argmax())
            if similarity[best] >= threshold:
                groups[best].append(row)
                sums[best] += vector
                continue
        groups.append([row])
        sums = np.vstack([sums, vector[None, :]])
    return sorted(groups, key=lambda group: (-len(group), group[0]))


@dataclass(frozen=True)
class Cluster:
    """Queued turns that ask much the same thing, with the FAQ entry closest to them."""

    turns: tuple[QueuedTurn, ...]
    suggestion: Hit | None

    @property
    def ids(self) -> list[int]:
        return [turn.id for turn in self.turns]


async def cluster_turns(brain: Brain, turns: Sequence[QueuedTurn], threshold: float) -> list[Cluster]:
    """Group ``turns`` by the meaning of their text; each group gets a suggested FAQ entry."""
    return await asyncio.to_thread(_cluster, brain, list(turns), threshold) if turns else []


async def suggest_entries(brain: Brain, turns: Sequence[QueuedTurn]) -> dict[int, Hit]:
    """For each turn, the FAQ entry it is most like (what staff will most often attach it to)."""
    return await asyncio.to_thread(_suggest, brain, list(turns)) if turns else {}


def _cluster(brain: Brain, turns: list[QueuedTurn], threshold: float) -> list[Cluster]:
    vectors = brain.model.encode([t.text for t in turns])  # [n, dim]
    clusters = []
    for group in group_similar(vectors, threshold):
        mean = vectors[group].mean(axis=0)  # [dim]
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        hits = brain.index.search(mean, k=1)
        clusters.append(Cluster(tuple(turns[i] for i in group), hits[0] if hits else None))
    return clusters


def _suggest(brain: Brain, turns: list[QueuedTurn]) -> dict[int, Hit]:
    """Only entries the bot itself would answer with (at least its calibrated answer threshold):
    a weaker match filled in is one careless click from teaching the bot something wrong. A
    request for a person is not an FAQ question at all."""
    asked = [t for t in turns if t.action != "handoff"]
    if not asked:
        return {}
    vectors = brain.model.encode([t.text for t in asked])  # [n, dim]
    suggestions = {}
    for turn, vector in zip(asked, vectors):
        hits = brain.index.search(vector, k=1, text=turn.text)  # as the bot itself would search
        if hits and hits[0].score >= brain.thresholds.answer:
            suggestions[turn.id] = hits[0]
    return suggestions
