"""The promotion gate: may the retrained bundle replace the one in service?

Both bundles answer the same items (``training.gateset``, ``training.outcomes``), so the gate
compares them item by item. For a part of the items (new themes, fresh phrasings, the fixed
evaluation sets, the turns staff confirmed), ``lost`` counts items the old bundle got right and the
new one wrong, ``gained`` the reverse; the items both get right or both wrong say nothing about
which is better. A fixed tolerance in points cannot work for a small team: on 66 rows one
changed answer is 1.5 points. So a part fails when

1. it loses more items than it gains by more than ``max_net_loss`` items (or
   ``max_net_loss_share`` of its items, when that is more): a bound in items, whatever the size;
2. or its losses are unlikely to be chance: the exact one-sided McNemar test (a binomial test on
   the ``lost + gained`` changed items, each one as likely to go either way if nothing changed)
   gives ``p < alpha``. On thousands of rows this catches a real loss that rule 1 still allows.

The same holds for each intent and FAQ entry of the old data with at least ``min_support`` items,
and for the whole bot (all items together). The bundle is published when none of them fails.
The decision says it in words: "new themes: 2/8 -> 7/8; old data:
intents: 64/66 -> 64/66 (lost 1, gained 1)".

Example::

    decision = judge(items, old.right, new.right, GateRules())
    decision.publish, decision.rule
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from training.gateset import PARTS, GateItem


@dataclass(frozen=True)
class GateRules:
    max_net_loss: int = 2  # items a part may lose net (lost - gained) ...
    max_net_loss_share: float = 0.01  # ... or this share of its items, whichever is larger
    alpha: float = 0.05  # a part whose losses a one-sided exact McNemar test finds this unlikely fails
    min_support: int = 20  # items an intent or FAQ entry of the old data needs to be judged on its own

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise ValueError(f"gate rule {name} must be >= 0, got {value}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"gate rule alpha must lie in (0, 1), got {self.alpha}")

    def allowed(self, items: int) -> int:
        """The net loss a part of ``items`` items may have."""
        return max(self.max_net_loss, math.floor(self.max_net_loss_share * items))


@dataclass(frozen=True)
class PartResult:
    """One part (or theme) of the items: how many each bundle got right, what changed, the verdict."""

    name: str
    items: int
    old_right: int
    new_right: int
    lost: int
    gained: int
    p_value: float  # one-sided exact McNemar: chance of losing at least ``lost`` of the changed items
    failed: str = ""  # why it fails, empty when it passes

    def view(self) -> str:
        """e.g. 'new themes: 2/8 -> 7/8' or 'old data: intents: 64/66 -> 64/66 (lost 1, gained 1)'."""
        changed = f" (lost {self.lost}, gained {self.gained})" if self.lost and self.gained else ""
        return f"{self.name}: {self.old_right}/{self.items} -> {self.new_right}/{self.items}{changed}"


@dataclass(frozen=True)
class GateDecision:
    publish: bool
    rule: str  # the decision in words, with the per-part view
    parts: tuple[PartResult, ...]
    failures: tuple[PartResult, ...] = ()  # the parts and themes that failed

    def report(self) -> dict[str, object]:
        return {"publish": self.publish, "rule": self.rule, "groups": [asdict(part) for part in self.parts],
                "failures": [asdict(part) for part in self.failures]}


def mcnemar_p(lost: int, gained: int) -> float:
    """P(X >= lost) for X ~ Binomial(lost + gained, 1/2): how likely so many losses are by chance.

    >>> round(mcnemar_p(5, 0), 4), mcnemar_p(0, 3), round(mcnemar_p(2, 2), 4)
    (0.0312, 1.0, 0.6875)
    """
    n = lost + gained
    if lost == 0:
        return 1.0
    return float(sum(math.comb(n, k) for k in range(lost, n + 1)) / 2**n)


def compare(name: str, old: Sequence[bool], new: Sequence[bool], rules: GateRules) -> PartResult:
    """Compare two bundles on one part's items (``old[i]``, ``new[i]``: item i answered right)."""
    lost = sum(o and not n for o, n in zip(old, new))
    gained = sum(n and not o for o, n in zip(old, new))
    p_value = mcnemar_p(lost, gained)
    failed = ""
    if lost - gained > rules.allowed(len(old)):
        failed = f"lost {lost - gained} more than it gained (at most {rules.allowed(len(old))} allowed)"
    elif lost > gained and p_value < rules.alpha:
        failed = f"lost {lost}, gained {gained}: p = {p_value:.3f} < {rules.alpha} that it is chance"
    return PartResult(name, len(old), sum(old), sum(new), lost, gained, round(p_value, 6), failed)


def judge(items: Sequence[GateItem], old: Sequence[bool], new: Sequence[bool], rules: GateRules) -> GateDecision:
    """Apply the rules of the module docstring; see ``GateDecision``."""
    if not (len(items) == len(old) == len(new)) or not items:
        raise ValueError(f"need one answer per item from each bundle (items {len(items)}, old {len(old)}, "
                         f"new {len(new)})")
    parts = [_part(name, [i for i, item in enumerate(items) if item.part == name], old, new, rules)
             for name in PARTS if any(item.part == name for item in items)]
    themes = [_part(name, rows, old, new, rules) for name, rows in _old_themes(items).items()
              if len(rows) >= rules.min_support]
    whole = compare("the whole bot", old, new, rules)
    failures = [part for part in (*parts, *themes, whole) if part.failed]
    view = "; ".join(part.view() for part in parts)
    if failures:
        reasons = "; ".join(f"{part.name} {part.failed}" for part in failures)
        return GateDecision(False, f"{reasons} ({view})", tuple(parts), tuple(failures))
    return GateDecision(True, f"{view}: no part worse", tuple(parts))


def _part(name: str, rows: list[int], old: Sequence[bool], new: Sequence[bool], rules: GateRules) -> PartResult:
    return compare(name, [old[i] for i in rows], [new[i] for i in rows], rules)


def _old_themes(items: Sequence[GateItem]) -> dict[str, list[int]]:
    """The old data's items by theme, e.g. {"intent refund": [...], "FAQ returns": [...]}."""
    themes: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        if item.part.startswith("old data"):
            themes.setdefault(f"{'intent' if item.kind == 'intent' else 'FAQ'} {item.gold}", []).append(i)
    return themes
