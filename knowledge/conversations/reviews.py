"""The review queue and the labels staff give to what the bot could not answer well.

A turn is queued (``turns.review == "pending"``) when it fell back, offered a clarification,
was answered with low confidence, got a thumbs down or was handed to a person; an answer is
queued as ``possibly_wrong`` when the customer said "no", complained or asked again right
after it, or when it was drawn in the random sample of answers staff check. Staff label
it, and the label both clears the queue and becomes training data:

=============  ===========  ===============================================================
kind           value        meaning for retraining
=============  ===========  ===============================================================
faq            FAQ id       the text is a paraphrase of that entry (it was added as one)
new_faq        FAQ id       a new entry was created from it
intent         intent       the text is an example of that intent
out_of_scope   None         the text is out of scope (intents CSV label ``oos``)
dismissed      None         nothing to learn (noise, spam, a duplicate)
=============  ===========  ===============================================================

The queue merges repeats: the same text (ignoring case and spacing) asked many times is one
queued item with a count (``QueuedTurn.repeats``), and labelling it labels every repeat. A label
can be undone (the turn goes back to the queue) or changed, until the next retraining learns it.

Example::

    reviews = Reviews(Database.open("sqlite:///data/supportbot.db"))
    queued = reviews.pending(reason="fallback")
    reviews.label([queued[0].id], "intent", "order_status", author="ana")   # and its repeats
    reviews.relabel([queued[0].id], "intent", "delivery_time", author="ana")
    reviews.unlabel([queued[0].id])                                         # back in the queue
    for text, kind, value in reviews.labels_since("2026-11-01"):
        ...
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Join, RowMapping, Select, and_, delete, func, insert, select, update

from knowledge.conversations.log import PENDING, POSSIBLY_WRONG, QUEUED
from knowledge.database import Database, feedback, review_labels, turns
from knowledge.errors import KnowledgeError

KINDS = ("faq", "new_faq", "intent", "out_of_scope", "dismissed")
NEEDS_VALUE = ("faq", "new_faq", "intent")
REASONS = ("fallback", "low_confidence", "thumbs_down", "handoff", "possibly_wrong")
# Intent names come from the team's data (BANKING77 has "reverted_card_payment?"): anything
# printable without spaces, as one CSV cell and one token in a routing table.
INTENT_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,100}\Z")  # \Z: "$" also matches before a final newline
UNANSWERED_ACTIONS = ("fallback", "clarify")
MAX_MERGED = 20_000  # queued turns read to merge repeats; a queue this long is read in its newest part


class NotPending(KnowledgeError):
    """A turn is not (or no longer) in the review queue: someone else labelled it meanwhile."""


class NoSuchTurn(NotPending):
    """No turn has that id at all (a mistyped or made-up number): it was never in the queue."""


class InvalidLabel(KnowledgeError):
    pass


class NotLabelled(KnowledgeError):
    """A turn has no label to undo or change."""


@dataclass(frozen=True)
class QueuedTurn:
    """A turn waiting for review, with why it was queued (one of ``REASONS``)."""

    id: int
    created_at: str
    channel: str
    text: str
    action: str
    reply: str
    intent: str | None
    confidence: float | None
    faq_id: str | None
    faq_score: float | None
    choices: tuple[str, ...]
    feedback: int | None
    reason: str
    repeats: int = 1  # queued turns with the same text, this one (the newest) included
    turn_ids: tuple[int, ...] = ()  # all of them, newest first


@dataclass(frozen=True)
class ReviewLabel:
    id: int
    turn_id: int
    text: str
    kind: str
    value: str | None
    author: str
    created_at: str


class TrainingLabel(NamedTuple):
    """What retraining reads: ``for text, kind, value in reviews.labels_since(day)``."""

    text: str
    kind: str
    value: str | None


class Reviews:
    """The review queue and review labels over the knowledge database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def pending(self, reason: str | None = None, limit: int = 100,
                turn_ids: Sequence[int] | None = None, unanswered: bool = False) -> list[QueuedTurn]:
        """Queued turns, newest first; only those queued for ``reason`` when given.

        A thumbs down counts as the reason even where the turn was queued for another one,
        so the reasons split the queue without overlap. Repeats of one text are merged into its
        newest turn (``repeats``, ``turn_ids``), except when asking for given ``turn_ids``.
        """
        query = _queue_query().order_by(turns.c.id.desc())
        if reason is not None:
            query = query.where(_reason_filter(reason))
        if unanswered:
            query = query.where(turns.c.action.in_(UNANSWERED_ACTIONS), _not_down())
        if turn_ids is not None:
            with self.database.connect() as conn:
                rows = conn.execute(query.where(turns.c.id.in_(list(turn_ids))).limit(limit)).mappings()
                return [_queued(row) for row in rows]
        with self.database.connect() as conn:
            ids = conn.execute(query.with_only_columns(turns.c.id, turns.c.text).limit(MAX_MERGED)).all()
            groups = _repeats([(int(i), str(text)) for i, text in ids])[:limit]
            rows = conn.execute(_queue_query().where(turns.c.id.in_([group[0] for group in groups]))).mappings()
            by_id = {row["id"]: _queued(row) for row in rows}
        return [replace(by_id[group[0]], repeats=len(group), turn_ids=group) for group in groups if group[0] in by_id]

    def pending_counts(self) -> dict[str, int]:
        """How many turns wait for review, per reason, plus ``"all"``."""
        counts = {"all": 0, **{reason: 0 for reason in REASONS}}
        with self.database.connect() as conn:
            for reason in REASONS:
                query = (select(func.count()).select_from(_queue_join())
                         .where(turns.c.review.in_(QUEUED), _reason_filter(reason)))
                counts[reason] = int(conn.execute(query).scalar() or 0)
        counts["all"] = sum(counts[r] for r in REASONS)
        return counts

    def label(self, turn_ids: Sequence[int], kind: str, value: str | None, author: str) -> list[ReviewLabel]:
        """Label queued turns and their queued repeats and take them off the queue: all or none.

        Raises ``NotPending`` if any of them is not in the queue (already labelled by someone
        else, or never queued), ``InvalidLabel`` for an unknown kind or a missing value.
        """
        ids = sorted(set(turn_ids))
        value = _checked(kind, value, ids)
        return self.label_many([(turn_id, kind, value) for turn_id in self._with_repeats(ids)], author)

    def unlabel(self, turn_ids: Sequence[int]) -> list[ReviewLabel]:
        """Undo the labels of these turns and put them back in the queue; returns the labels undone.

        Raises ``NotLabelled`` (nothing changed) if any of them has no label.
        """
        ids = sorted(set(turn_ids))
        with self.database.begin() as conn:
            undone = _labels_of(conn, ids)
            conn.execute(delete(review_labels).where(review_labels.c.turn_id.in_(ids)))
            conn.execute(update(turns).where(turns.c.id.in_(ids)).values(review=PENDING))
        return undone

    def relabel(self, turn_ids: Sequence[int], kind: str, value: str | None, author: str
                ) -> tuple[list[ReviewLabel], list[ReviewLabel]]:
        """Change the labels of labelled turns in one transaction; returns (old labels, new labels).

        Raises ``NotLabelled`` if any of them has no label, ``InvalidLabel`` for a bad label.
        """
        ids = sorted(set(turn_ids))
        value = _checked(kind, value, ids)
        now = _now()
        with self.database.begin() as conn:
            old = _labels_of(conn, ids)
            conn.execute(delete(review_labels).where(review_labels.c.turn_id.in_(ids)))
            new = [_insert_label(conn, label.turn_id, label.text, kind, value, author, now) for label in old]
            conn.execute(update(turns).where(turns.c.id.in_(ids)).values(review=kind))
        return old, new

    def check_queued(self, turn_ids: Sequence[int]) -> None:
        """Raise ``NoSuchTurn`` if any of these is no turn at all, ``NotPending`` if any is not queued."""
        ids = sorted(set(turn_ids))
        with self.database.connect() as conn:
            queued = set(conn.execute(select(turns.c.id).where(turns.c.id.in_(ids), turns.c.review.in_(QUEUED)))
                         .scalars())
            missing = [turn_id for turn_id in ids if turn_id not in queued]
            if missing:
                raise _not_queued(conn, missing)

    def _with_repeats(self, ids: list[int]) -> list[int]:
        """``ids`` and every queued turn whose text repeats one of theirs."""
        with self.database.connect() as conn:
            queued = conn.execute(select(turns.c.id, turns.c.text).where(turns.c.review.in_(QUEUED))).all()
        chosen = {repeat_key(str(text)) for turn_id, text in queued if turn_id in set(ids)}
        return sorted({*ids, *(int(turn_id) for turn_id, text in queued if repeat_key(str(text)) in chosen)})

    def label_many(self, items: Sequence[tuple[int, str, str | None]], author: str) -> list[ReviewLabel]:
        """Give each queued turn its own ``(turn_id, kind, value)`` label in one transaction."""
        checked = [(turn_id, kind, _checked(kind, value, [turn_id])) for turn_id, kind, value in items]
        ids = sorted({turn_id for turn_id, _, _ in checked})
        if len(ids) != len(checked):
            raise InvalidLabel("a turn can have one label only")
        now = _now()
        with self.database.begin() as conn:
            texts = dict(conn.execute(select(turns.c.id, turns.c.text).where(
                turns.c.id.in_(ids), turns.c.review.in_(QUEUED))).all())
            missing = sorted(set(ids) - set(texts))
            if missing:
                raise _not_queued(conn, missing)
            labels = []
            for turn_id, kind, value in checked:
                # Still queued, asked again as the row is written: on PostgreSQL a second person
                # labelling the same turn at the same moment read it queued too, and waits here
                # for the first one's commit; then this matches nothing and nothing is changed.
                taken = conn.execute(update(turns).where(turns.c.id == turn_id, turns.c.review.in_(QUEUED))
                                     .values(review=kind)).rowcount
                if taken != 1:
                    raise NotPending(f"turn {turn_id} was labelled by someone else a moment ago; nothing was changed")
                labels.append(_insert_label(conn, turn_id, texts[turn_id], kind, value, author, now))
        return labels

    def labels_since(self, since: date | datetime | str) -> list[TrainingLabel]:
        """Every label given at or after ``since`` (a day or an ISO time, UTC), oldest first."""
        query = (select(review_labels.c.text, review_labels.c.kind, review_labels.c.value)
                 .where(review_labels.c.created_at >= _iso(since)).order_by(review_labels.c.id))
        with self.database.connect() as conn:
            return [TrainingLabel(*row) for row in conn.execute(query)]

    def training_labels(self, since: date | datetime | str) -> list[ReviewLabel]:
        """Every label given at or after ``since`` with its id, oldest first: what retraining learns.

        A retraining records the ids it used, so it can tell a new label from one it learnt and
        notice a label that was undone since.
        """
        query = (select(review_labels).where(review_labels.c.created_at >= _iso(since))
                 .order_by(review_labels.c.id))
        with self.database.connect() as conn:
            return [_review_label(row) for row in conn.execute(query).mappings()]

    def confirmed_since(self, since: date | datetime | str) -> list[TrainingLabel]:
        """Intent labels that agree with what the bot predicted: turns it got right.

        Retraining keeps these as a regression set: a new model must still get them right.
        """
        query = (select(review_labels.c.text, review_labels.c.kind, review_labels.c.value)
                 .join(turns, turns.c.id == review_labels.c.turn_id)
                 .where(review_labels.c.created_at >= _iso(since), review_labels.c.kind == "intent",
                        turns.c.intent == review_labels.c.value)
                 .order_by(review_labels.c.id))
        with self.database.connect() as conn:
            return [TrainingLabel(*row) for row in conn.execute(query)]

    def labels(self, turn_id: int | None = None, limit: int = 1000) -> list[ReviewLabel]:
        """Labels with who gave them and when, newest first; of one turn when given."""
        query = select(review_labels).order_by(review_labels.c.id.desc()).limit(limit)
        if turn_id is not None:
            query = query.where(review_labels.c.turn_id == turn_id)
        with self.database.connect() as conn:
            return [_review_label(row) for row in conn.execute(query).mappings()]

    def labelled_intents(self) -> list[str]:
        """Intents staff gave as labels: the next retraining teaches those the model lacks."""
        with self.database.connect() as conn:
            return sorted(str(value) for value in conn.execute(
                select(review_labels.c.value).distinct().where(review_labels.c.kind == "intent")).scalars())

    def known_intents(self) -> list[str]:
        """Intent labels seen in the log or given by staff, for suggestions."""
        with self.database.connect() as conn:
            logged = conn.execute(select(turns.c.intent).distinct().where(turns.c.intent.is_not(None)))
            given = conn.execute(select(review_labels.c.value).distinct()
                                 .where(review_labels.c.kind == "intent"))
            return sorted({str(v) for v in [*logged.scalars(), *given.scalars()]})


def repeat_key(text: str) -> str:
    """Texts that differ only in case and spacing are one question asked again.

    >>> repeat_key("  Where IS my   order ")
    'where is my order'
    """
    return " ".join(text.casefold().split())


def _repeats(rows: Sequence[tuple[int, str]]) -> list[tuple[int, ...]]:
    """Turn ids (newest first) grouped by ``repeat_key``, groups in the order of their newest turn."""
    groups: dict[str, list[int]] = {}
    for turn_id, text in rows:
        groups.setdefault(repeat_key(text), []).append(turn_id)
    return [tuple(ids) for ids in groups.values()]


def _not_queued(conn: Connection, missing: Sequence[int]) -> KnowledgeError:
    """Why turns ``missing`` cannot be labelled: there are no such turns, or they left the queue."""
    known = set(conn.execute(select(turns.c.id).where(turns.c.id.in_(list(missing)))).scalars())
    unknown = [turn_id for turn_id in missing if turn_id not in known]
    if unknown:
        return NoSuchTurn(f"there is no turn {', '.join(map(str, unknown))}: check the number; nothing was changed")
    return NotPending(f"turn(s) {list(missing)} are not waiting for review any more "
                      "(someone else may have labelled them); nothing was changed")


def _labels_of(conn: Connection, ids: Sequence[int]) -> list[ReviewLabel]:
    if not ids:
        raise NotLabelled("no turns given")
    query = select(review_labels).where(review_labels.c.turn_id.in_(list(ids))).order_by(review_labels.c.id)
    labels = [_review_label(row) for row in conn.execute(query).mappings()]
    missing = sorted(set(ids) - {label.turn_id for label in labels})
    if missing:
        raise NotLabelled(f"turn(s) {missing} have no label to undo or change; nothing was changed")
    return labels


def _insert_label(conn: Connection, turn_id: int, text: str, kind: str, value: str | None, author: str,
                  now: str) -> ReviewLabel:
    label_id = conn.execute(insert(review_labels).values(
        turn_id=turn_id, text=text, kind=kind, value=value, author=author, created_at=now
    ).returning(review_labels.c.id)).scalar_one()
    return ReviewLabel(int(label_id), turn_id, text, kind, value, author, now)


def _queue_join() -> Join:
    return turns.join(feedback, feedback.c.turn_id == turns.c.id, isouter=True)


def _queue_query() -> Select[Any]:
    return (select(turns, feedback.c.value.label("feedback_value")).select_from(_queue_join())
            .where(turns.c.review.in_(QUEUED)))


def _not_down() -> ColumnElement[bool]:
    return func.coalesce(feedback.c.value, 0) != -1


def _reason_filter(reason: str) -> ColumnElement[bool]:
    if reason == "thumbs_down":
        return feedback.c.value == -1
    if reason == "possibly_wrong":
        return and_(turns.c.review == POSSIBLY_WRONG, _not_down())
    actions = {"fallback": ("fallback",), "handoff": ("handoff",), "low_confidence": ("answer", "clarify")}
    if reason not in actions:
        raise InvalidLabel(f"unknown review reason {reason!r}; expected one of {', '.join(REASONS)}")
    return and_(turns.c.action.in_(actions[reason]), turns.c.review != POSSIBLY_WRONG, _not_down())


def _reason(action: str, feedback_value: int | None, review: str | None = None) -> str:
    if feedback_value == -1:
        return "thumbs_down"
    if review == POSSIBLY_WRONG:
        return "possibly_wrong"
    return action if action in ("fallback", "handoff") else "low_confidence"


def _queued(row: RowMapping) -> QueuedTurn:
    return QueuedTurn(
        id=row["id"], created_at=row["created_at"], channel=row["channel"], text=row["text"],
        action=row["action"], reply=row["reply"], intent=row["intent"], confidence=row["confidence"],
        faq_id=row["faq_id"], faq_score=row["faq_score"], choices=tuple(json.loads(row["choices"] or "[]")),
        feedback=row["feedback_value"], reason=_reason(row["action"], row["feedback_value"], row["review"]))


def _review_label(row: RowMapping) -> ReviewLabel:
    return ReviewLabel(row["id"], row["turn_id"], row["text"], row["kind"], row["value"], row["author"],
                       row["created_at"])


def _checked(kind: str, value: str | None, ids: Sequence[int]) -> str | None:
    if not ids:
        raise InvalidLabel("no turns to label")
    if kind not in KINDS:
        raise InvalidLabel(f"unknown label kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind not in NEEDS_VALUE:
        return None
    value = (value or "").strip()
    if not value:
        raise InvalidLabel(f"a {kind!r} label needs a value (the {'intent' if kind == 'intent' else 'FAQ id'})")
    if kind == "intent" and not INTENT_PATTERN.match(value):
        raise InvalidLabel(f"an intent label is 1-100 printable characters without spaces, got {value!r}")
    return value


def _iso(moment: date | datetime | str) -> str:
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return moment.isoformat() if isinstance(moment, date) else moment


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
