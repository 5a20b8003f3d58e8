"""The dialogue suite: multi-turn conversations with what must happen at each turn, played
against a running bot over its chat API.

The suite lives in ``benchmarks/dialogues/`` as YAML (``tuning.yaml``: the part thresholds and
policy may be tuned on; ``heldout.yaml``: never used for tuning, only for the result;
``fresh.yaml``: written later, once the held-out part had been read for failures, never read
so; ``fresh2.yaml`` to ``fresh7.yaml``: written by someone who had seen no result, committed
before any run on them). Each
dialogue has an id, a category and turns; a turn says or presses something and may expect:

- ``action``: what the bot did (``answer``, ``handler``, ``clarify``, ``fallback``, ``handoff``,
  ``relayed``, ``rejected``), or a list of acceptable ones;
- ``faq``: the entry answered (or, for ``clarify``, one that must be among the choices), or a
  list of acceptable ones; ``handler``: which handler replied;
- ``not_faq``: entries the bot must not answer with; ``says``: text the reply must contain.

A dialogue passes when every checked turn passes. A "confidently wrong" turn is an FAQ answer
where no answer (or another entry) was expected.

Example::

    suite = load_suite(SUITE_DIR / "heldout.yaml")
    async with aiohttp.ClientSession() as http:
        outcomes = [await play(http, "http://127.0.0.1:8080", dialogue) for dialogue in suite]
    summary(outcomes)
"""
from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

SUITE_DIR = Path(__file__).resolve().parent / "dialogues"
PARTS = ("tuning", "heldout", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6", "fresh7", "fresh8")
BLIND_PARTS = ("fresh4", "fresh5", "fresh6", "fresh7", "fresh8")  # not read for failures since it was written: results count them, never list them
CATEGORIES = ("faq", "small_talk", "frustration", "out_of_scope", "vague", "order_status", "handoff",
              "mixed_language")
ACTIONS = ("answer", "handler", "clarify", "fallback", "handoff", "relayed", "rejected")
EXPECT_KEYS = {"action", "faq", "handler", "not_faq", "says"}


@dataclass(frozen=True)
class Expect:
    actions: tuple[str, ...] = ()
    faq: tuple[str, ...] = ()
    handler: str | None = None
    not_faq: tuple[str, ...] = ()
    says: str | None = None


@dataclass(frozen=True)
class Turn:
    say: str | None = None
    press: str | None = None
    expect: Expect | None = None


@dataclass(frozen=True)
class Dialogue:
    id: str
    category: str
    turns: tuple[Turn, ...]
    part: str


@dataclass
class TurnResult:
    sent: str
    action: str
    faq_id: str | None
    handler: str | None
    reply: str
    problems: list[str] = field(default_factory=list)
    confidently_wrong: bool = False


@dataclass
class Outcome:
    dialogue: Dialogue
    turns: list[TurnResult]

    @property
    def passed(self) -> bool:
        return all(not t.problems for t in self.turns)


class SuiteError(ValueError):
    """A dialogue file is malformed; the message names the file and the dialogue."""


def _tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def load_suite(path: Path, faq_ids: set[str] | None = None) -> list[Dialogue]:
    """The dialogues of one file, checked: unique ids, known categories, actions and keys, and
    (given ``faq_ids``) known FAQ entries."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format") != "supportbot-dialogues":
        raise SuiteError(f"{path}: not a supportbot-dialogues file")
    part = document.get("part")
    if part not in PARTS:
        raise SuiteError(f"{path}: part must be one of {PARTS}")
    dialogues, seen = [], set()
    for raw in document.get("dialogues") or []:
        where = f"{path.name}: dialogue {raw.get('id')!r}"
        if raw.get("id") in seen or not raw.get("id"):
            raise SuiteError(f"{where}: missing or repeated id")
        seen.add(raw["id"])
        if raw.get("category") not in CATEGORIES:
            raise SuiteError(f"{where}: category must be one of {CATEGORIES}")
        turns = tuple(_turn(where, number, spec, faq_ids) for number, spec in enumerate(raw.get("turns") or [], 1))
        if not any(t.expect for t in turns):
            raise SuiteError(f"{where}: no turn expects anything")
        dialogues.append(Dialogue(raw["id"], raw["category"], turns, part))
    return dialogues


def _turn(where: str, number: int, spec: dict[str, Any], faq_ids: set[str] | None) -> Turn:
    if (spec.get("say") is None) == (spec.get("press") is None):
        raise SuiteError(f"{where}, turn {number}: give exactly one of say or press")
    raw = spec.get("expect")
    if raw is None:
        return Turn(spec.get("say"), spec.get("press"))
    unknown = set(raw) - EXPECT_KEYS
    if unknown:
        raise SuiteError(f"{where}, turn {number}: unknown expectation {sorted(unknown)}")
    expect = Expect(_tuple(raw.get("action")), _tuple(raw.get("faq")), raw.get("handler"),
                    _tuple(raw.get("not_faq")), raw.get("says"))
    bad = [a for a in expect.actions if a not in ACTIONS]
    if bad:
        raise SuiteError(f"{where}, turn {number}: unknown action {bad}")
    unknown_faq = [f for f in (*expect.faq, *expect.not_faq) if faq_ids is not None and f not in faq_ids]
    if unknown_faq:
        raise SuiteError(f"{where}, turn {number}: unknown FAQ id {unknown_faq}")
    return Turn(spec.get("say"), spec.get("press"), expect)


def check(expect: Expect, action: str, faq_id: str | None, handler: str | None, choices: Sequence[str],
          reply: str) -> list[str]:
    """What is wrong with the bot's reply, given what was expected (empty: right)."""
    problems = []
    if expect.actions and action not in expect.actions:
        problems.append(f"action {action}, expected {'/'.join(expect.actions)}")
    if expect.faq and action == "answer" and faq_id not in expect.faq:
        problems.append(f"answered {faq_id}, expected {'/'.join(expect.faq)}")
    if expect.faq and action == "clarify" and not set(choices) & set(expect.faq):
        problems.append(f"offered {list(choices)}, none of {'/'.join(expect.faq)}")
    if expect.handler and action == "handler" and handler != expect.handler:
        problems.append(f"handler {handler}, expected {expect.handler}")
    if expect.not_faq and action == "answer" and faq_id in expect.not_faq:
        problems.append(f"answered {faq_id}, which it must not")
    if expect.says and expect.says.lower() not in reply.lower():
        problems.append(f"reply lacks {expect.says!r}")
    return problems


def confidently_wrong(expect: Expect, action: str, faq_id: str | None) -> bool:
    """An FAQ answer where none (or another entry) was expected."""
    if action != "answer":
        return False
    if expect.actions and "answer" not in expect.actions:
        return True
    return bool(expect.faq) and faq_id not in expect.faq


async def play(http: aiohttp.ClientSession, url: str, dialogue: Dialogue) -> Outcome:
    """Play one dialogue as a new web-chat customer and check every expecting turn."""
    session_id = f"dlg-{uuid.uuid4().hex[:16]}"
    results = []
    for turn in dialogue.turns:
        body: dict[str, object] = {"session_id": session_id}
        body.update({"text": turn.say} if turn.say is not None else {"choice": turn.press})
        async with http.post(f"{url}/api/chat", json=body) as response:
            data = await response.json()
            if response.status != 200:
                data = {"action": f"http {response.status}", "reply": str(data)}
        action, faq_id = str(data.get("action")), data.get("faq_id")
        handler = data.get("handler")
        choices = [b["payload"].removeprefix("faq:") for b in data.get("buttons") or []
                   if b["payload"].startswith("faq:")]
        result = TurnResult(turn.say if turn.say is not None else f"[{turn.press}]", action, faq_id, handler,
                            str(data.get("reply", "")))
        if turn.expect is not None:
            result.problems = check(turn.expect, action, faq_id, handler, choices, result.reply)
            result.confidently_wrong = confidently_wrong(turn.expect, action, faq_id)
        results.append(result)
    return Outcome(dialogue, results)


def summary(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Pass rates per category and overall, dialogues and checked turns; confidently wrong counts."""
    by_category: dict[str, Counter[str]] = {}
    for outcome in outcomes:
        counts = by_category.setdefault(outcome.dialogue.category, Counter())
        counts["dialogues"] += 1
        counts["passed"] += outcome.passed
        checked = [t for t, spec in zip(outcome.turns, outcome.dialogue.turns, strict=True) if spec.expect]
        counts["turns"] += len(checked)
        counts["turns_passed"] += sum(not t.problems for t in checked)
        counts["confidently_wrong"] += sum(t.confidently_wrong for t in checked)
    total: Counter[str] = Counter()
    for counts in by_category.values():
        total.update(counts)  # unlike sum(), update keeps the counts that are 0 (no confidently wrong)
    rate = lambda c: round(c["passed"] / c["dialogues"], 4) if c["dialogues"] else None  # noqa: E731
    return {
        "overall": {**total, "pass_rate": rate(total)},
        "categories": {name: {**c, "pass_rate": rate(c)} for name, c in sorted(by_category.items())},
        "failures": [{"id": o.dialogue.id, "category": o.dialogue.category, "turns": [
            {"sent": t.sent, "action": t.action, "faq_id": t.faq_id, "handler": t.handler,
             "reply": t.reply[:160], "problems": t.problems} for t in o.turns]} for o in outcomes if not o.passed],
    }
