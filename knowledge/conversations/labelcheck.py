"""The label check: what is wrong with the staff labels before a retraining learns them.

Run by ``supportbot retrain --dry-run``, at the start of every real run (before any training),
and on the console's Retraining page. Each finding names what it is about and offers a fix:

- ``too_few`` (blocks the run): a new intent with fewer than ``MIN_EXAMPLES`` labelled examples.
  One example teaches nothing reliable and cannot be checked; label more, merge it into
  another intent, or keep it out of this run (``supportbot retrain --exclude-intent NAME``);
- ``no_route``: a new intent that no route names: customers who ask it get FAQ search;
- ``conflict``: one text labelled two ways (by two labels, or by a label and the training data);
  retraining keeps the first, and names the text;
- ``shared_phrasing``: one phrasing in two FAQ entries: the bot offers the two as a tie;
- ``unknown_faq``: a label attaches a text to a FAQ entry that no longer exists;
- ``excluded``: an intent kept out of this run, with its labels.

Example::

    findings = check_labels(labels, known_intents={"greeting", "faq"}, entries=store.list(),
                            routed={"greeting"})
    [f.kind for f in findings if f.blocking]       # ["too_few"] for a one-example intent
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass

from knowledge.conversations.reviews import ReviewLabel, repeat_key
from knowledge.faq.entry import FaqEntry

MIN_EXAMPLES = 3  # a new intent needs this many examples: to train on two and hold one out to check it
OOS = "oos"
FAQ_INTENT = "faq"
CLIP = 60


@dataclass(frozen=True)
class Finding:
    kind: str  # too_few | no_route | conflict | shared_phrasing | unknown_faq | excluded
    subject: str  # the intent, text or FAQ id it is about
    message: str
    fix: str = ""
    blocking: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        return self.message + (f" Fix: {self.fix}" if self.fix else "")


def check_labels(labels: Sequence[ReviewLabel], known_intents: Collection[str], entries: Sequence[FaqEntry],
                 routed: Collection[str], excluded: Collection[str] = (),
                 base_labels: Mapping[str, str] | None = None) -> list[Finding]:
    """Every finding about ``labels`` (dismissed ones are ignored); blocking ones first.

    ``known_intents``: the intents the bundle in service knows; ``routed``: intents with a route;
    ``base_labels``: ``repeat_key(text) -> label`` of the training data, to find conflicts with it.
    """
    useful = [label for label in labels if label.kind != "dismissed"]
    kept = [label for label in useful if not (label.kind == "intent" and label.value in excluded)]
    findings = _new_intents(kept, set(known_intents), set(routed))
    findings += _excluded(useful, excluded)
    findings += _conflicts(kept, base_labels or {})
    findings += _shared_phrasings(entries)
    findings += _unknown_entries(kept, {entry.faq_id for entry in entries})
    return sorted(findings, key=lambda finding: not finding.blocking)


def _new_intents(labels: Sequence[ReviewLabel], known: set[str], routed: set[str]) -> list[Finding]:
    examples: dict[str, dict[str, ReviewLabel]] = {}
    for label in labels:
        if label.kind == "intent" and label.value and label.value not in known | {OOS, FAQ_INTENT}:
            examples.setdefault(label.value, {}).setdefault(repeat_key(label.text), label)
    findings = []
    for intent, texts in sorted(examples.items()):
        count = len(texts)
        if count < MIN_EXAMPLES:
            turn = next(iter(texts.values())).turn_id
            findings.append(Finding(
                "too_few", intent, f"New intent '{intent}' has {count} example{'s' * (count != 1)}; "
                f"{MIN_EXAMPLES} are needed to train it and check it.",
                f"label {MIN_EXAMPLES - count} more, merge it into an intent the bot knows (`supportbot logs relabel "
                f"{turn} --intent OTHER`), or keep it out of this run (`supportbot retrain --exclude-intent "
                f"{intent}`).", blocking=True))
        if intent not in routed:
            findings.append(Finding(
                "no_route", intent, f"New intent '{intent}' has no route: customers who ask it get FAQ search, "
                "and a fallback when search finds nothing.",
                f"`supportbot routing set {intent} --faq ID` (or --handler NAME, --person), or the console's "
                "Routing page."))
    return findings


def _excluded(labels: Sequence[ReviewLabel], excluded: Collection[str]) -> list[Finding]:
    counts = {intent: sum(label.kind == "intent" and label.value == intent for label in labels)
              for intent in sorted(excluded)}
    return [Finding("excluded", intent, f"Intent '{intent}' is kept out of this run ({count} label"
                    f"{'s' * (count != 1)} not learnt).") for intent, count in counts.items()]


def _conflicts(labels: Sequence[ReviewLabel], base: Mapping[str, str]) -> list[Finding]:
    by_text: dict[str, list[ReviewLabel]] = {}
    for label in labels:
        by_text.setdefault(repeat_key(label.text), []).append(label)
    findings = []
    for key, group in by_text.items():
        readings = {_reading(label) for label in group}
        if len(readings) > 1:
            named = ", ".join(f"{_reading(label)} (turn {label.turn_id}, {label.author})" for label in group)
            later = " ".join(str(label.turn_id) for label in group[1:])
            findings.append(Finding(
                "conflict", group[0].text, f"'{_clip(group[0].text)}' is labelled {len(readings)} ways: {named}; "
                f"retraining learns only the first.",
                f"relabel or unlabel the wrong ones (`supportbot logs relabel {later} ...` or "
                f"`supportbot logs unlabel {later}`)."))
        elif key in base and group[0].kind == "intent" and base[key] != group[0].value:
            findings.append(Finding(
                "conflict", group[0].text, f"'{_clip(group[0].text)}' is labelled {_reading(group[0])} (turn "
                f"{group[0].turn_id}, {group[0].author}) but the training data has it as intent {base[key]}; "
                "retraining keeps the training data's.",
                f"relabel turn {group[0].turn_id}, or correct the training data."))
    return findings


def phrasing_owners(entries: Sequence[FaqEntry]) -> dict[str, dict[str, str]]:
    """For each phrasing of the enabled entries, as a repeat is recognised (``repeat_key``): the
    entries that have it, FAQ id -> their wording of it."""
    owners: dict[str, dict[str, str]] = {}
    for entry in entries:
        if entry.enabled:
            for phrasing in entry.phrasings():
                owners.setdefault(repeat_key(phrasing), {}).setdefault(entry.faq_id, phrasing)
    return owners


def _shared_phrasings(entries: Sequence[FaqEntry]) -> list[Finding]:
    findings = []
    for texts in phrasing_owners(entries).values():
        if len(texts) > 1:
            ids, text = sorted(texts), next(iter(texts.values()))
            findings.append(Finding(
                "shared_phrasing", text, f"'{_clip(text)}' is a phrasing of {' and '.join(ids)}: the bot offers them "
                "as a tie for it.", "remove it from all but one of them (console FAQ page, or `supportbot logs "
                "relabel TURN --faq ID` for an attached question)."))
    return findings


def _unknown_entries(labels: Sequence[ReviewLabel], faq_ids: set[str]) -> list[Finding]:
    return [Finding("unknown_faq", label.value or "", f"Turn {label.turn_id} is attached to FAQ entry "
                    f"'{label.value}', which no longer exists: it is not learnt.",
                    f"`supportbot logs relabel {label.turn_id} --faq OTHER`, or unlabel it.")
            for label in labels if label.kind in ("faq", "new_faq") and label.value not in faq_ids]


def _reading(label: ReviewLabel) -> str:
    kind = "faq" if label.kind == "new_faq" else label.kind  # created from it or attached: one entry either way
    return f"{kind} {label.value}" if label.value else kind.replace("_", " ")


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CLIP else flat[: CLIP - 1] + "…"
