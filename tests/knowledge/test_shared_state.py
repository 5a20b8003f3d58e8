"""The state replicas share, on both engines: token buckets, claims, dialogue memory.

Races are real: several threads, each with its own engine (as separate replicas would have),
hit one key at once, and the database alone decides.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from knowledge.claims import Claims
from knowledge.conversations.dialogue import DialogueStates
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.privacy import forget_customer
from knowledge.database import Database
from knowledge.limits import Bucket, RateLimits

T0 = 1_800_000_000.0


def test_a_bucket_refuses_past_its_capacity_and_refills_at_its_rate(database: Database) -> None:
    limits, bucket = RateLimits(database), Bucket("session:web:a", capacity=3, per_second=0.5)
    assert [limits.hit(bucket, T0).allowed for _ in range(4)] == [True, True, True, False]
    refused = limits.hit(bucket, T0 + 1.0)  # half a token back: still refused, nothing taken
    assert not refused.allowed and refused.retry_after(bucket) == 1
    assert limits.hit(bucket, T0 + 2.0).allowed and not limits.hit(bucket, T0 + 2.0).allowed
    assert limits.hit(Bucket("session:web:b", 3, 0.5), T0).allowed  # another key: its own bucket
    limits.reset("session:web:a")
    assert limits.hit(bucket, T0 + 2.0).tokens == 2.0
    assert limits.forget_full(older_than_s=60, now=T0 + 100) == 2


def test_a_batch_of_hits_counts_each_in_order(database: Database) -> None:
    bucket = Bucket("address:203.0.113.7", capacity=2, per_second=1 / 60)
    hits = RateLimits(database).hit_many([bucket] * 4, T0)
    assert [h.allowed for h in hits] == [True, True, False, False]


def _race(database_url: str, work: Callable[[Database], object], threads: int = 6) -> list[object]:
    results: list[object] = []
    barrier = threading.Barrier(threads)

    def run() -> None:
        with Database.open(database_url) as own:  # an engine each, like a replica
            barrier.wait()
            results.append(work(own))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def test_replicas_hitting_one_key_at_once_are_counted_exactly(database: Database, database_url: str) -> None:
    bucket = Bucket("session:web:flood", capacity=10, per_second=0.001)
    results = _race(database_url, lambda own: [RateLimits(own).hit(bucket, T0).allowed for _ in range(4)])
    allowed = sum(sum(1 for ok in result if ok) for result in results)  # type: ignore[attr-defined]
    assert allowed == 10  # 24 hits, 10 tokens


def test_a_claim_is_taken_once_until_it_expires(database: Database, database_url: str) -> None:
    taken = _race(database_url, lambda own: Claims(own, "replica").take("tg-update:1", 60, T0))
    assert taken.count(True) == 1
    a, b = Claims(database, "a"), Claims(database, "b")
    assert not a.take("tg-update:1", 60, T0 + 59)
    assert b.take("tg-update:1", 60, T0 + 61)  # expired: free again
    a.release("tg-update:1")  # b holds it: it stays
    assert not a.take("tg-update:1", 60, T0 + 62)
    b.release("tg-update:1")
    assert a.take("tg-update:1", 60, T0 + 62)


def test_a_form_token_is_used_once_and_not_after_it_expires(database: Database) -> None:
    claims = Claims(database, "a")
    assert claims.take("signin-form:x", 3600, T0) and claims.take("signin-form:y", 10, T0)
    assert claims.use("signin-form:x", T0 + 1) and not claims.use("signin-form:x", T0 + 2)
    assert not claims.use("signin-form:y", T0 + 11)  # expired
    assert not claims.use("signin-form:never", T0)
    assert claims.forget_expired(T0 + 11) == 1  # y, expired, is cleared away


def test_dialogue_memory_is_stored_with_its_turn_and_forgotten_with_the_customer(database: Database) -> None:
    log, states = ConversationLog(database), DialogueStates(database)
    first, second = log.record([
        TurnRecord("web:a", "web", "returns?", "answer", "Yes.", 1.0, state='{"last_faq": "returns"}'),
        TurnRecord("web:a", "web", "and shoes?", "answer", "Yes.", 1.0, state='{"last_faq": "shoes"}'),
    ])
    (third,) = log.record([TurnRecord("web:b", "web", "hi", "handler", "Hello!", 1.0)])  # no state: none stored
    assert states.load_many(["web:a", "web:b", "web:c"]) == {"web:a": states.load_many(["web:a"])["web:a"]}
    stored = states.load_many(["web:a"])["web:a"]
    assert (stored.state, stored.turn_id) == ('{"last_faq": "shoes"}', second) and first < second < third
    states.save("try:x", '{"choices": ["a"]}')
    assert states.load_many(["try:x"])["try:x"].turn_id is None
    forget_customer(database, "web:a")
    assert "web:a" not in states.load_many(["web:a"])
    assert states.forget_quiet(older_than_s=-10) == 1  # try:x
