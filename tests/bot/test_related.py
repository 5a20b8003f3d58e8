"""Related questions after an answer: nearest in meaning, what customers asked next, and what
staff pinned or turned off per entry (console), against the real app and database."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import RESPONDER
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from knowledge.errors import InvalidEntry
from knowledge.faq.related import RelatedLinks
from tests.bot.service import admin_headers, demo_settings
from tests.bot.test_chat_api import say
from tests.console.helpers import add_staff, sign_in
from tests.fakes import KeywordModel

QUESTION = "How long does delivery take?"


async def related_after(client: TestClient, text: str = QUESTION) -> list[str]:
    for _ in range(50):  # the nearest entries are computed in the background on first use
        reply = await say(client, text)
        related = [b["payload"].removeprefix("faq:") for b in reply["buttons"] if b["kind"] == "related"]
        if related:
            return related
        await asyncio.sleep(0.05)
    return []


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    settings = demo_settings(tmp_path, rate_limit_per_minute=1000)
    add_staff(settings)
    return await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))


async def test_an_answer_offers_related_questions_and_staff_choose_them(client: TestClient) -> None:
    automatic = await related_after(client)
    assert len(automatic) == 3 and "shipping-times" not in automatic
    reply = await say(client, QUESTION)
    assert reply["action"] == "answer" and reply["feedback"] is True
    picked = await client.post("/api/chat", json={"session_id": "test-session-1", "choice": f"faq:{automatic[0]}"})
    assert (await picked.json())["faq_id"] == automatic[0], "a related question is answered when pressed"

    csrf = await sign_in(client)
    page = await (await client.get("/console/faq/shipping-times")).text()
    assert "People also ask" in page
    saved = await client.post("/console/faq/shipping-times/related",
                              data={"csrf_token": csrf, "mode": "pinned", "pinned": "return-policy, gift-cards"})
    assert saved.status == 200
    assert (await related_after(client))[:2] == ["return-policy", "gift-cards"], "pinned ones first"
    await client.post("/console/faq/shipping-times/related", data={"csrf_token": csrf, "mode": "off"})
    reply = await say(client, QUESTION)
    assert [b for b in reply["buttons"] if b["kind"] == "related"] == [], "turned off for this entry"
    bad = await client.post("/console/faq/shipping-times/related",
                            data={"csrf_token": csrf, "mode": "pinned", "pinned": "no-such-entry"})
    assert bad.status == 400


def offered(reply: dict) -> list[str]:
    return [b["payload"].removeprefix("faq:") for b in reply["buttons"] if b["kind"] == "related"]


async def test_the_first_answer_offers_related_questions_and_an_edit_keeps_them(client: TestClient) -> None:
    """The nearest entries were computed on the first answer's request, so the first customers
    after a start, and after every FAQ edit, were offered none."""
    first = offered(await say(client, QUESTION))
    assert len(first) == 3
    gone = first[0]
    assert (await client.delete(f"/admin/faq/{gone}", headers=admin_headers())).status == 200
    after = offered(await say(client, QUESTION))  # before the new FAQ's neighbours are computed
    assert after and gone not in after


async def test_what_customers_asked_next_comes_first(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'bot.db'}")
    log = ConversationLog(database)
    for n in range(3):
        log.record([TurnRecord(f"web:s{n}", "web", "q", "answer", "a", 1.0, faq_id="shipping-times"),
                    TurnRecord(f"web:s{n}", "web", "q", "answer", "a", 1.0, faq_id="customs-duties")])
    log.record([TurnRecord("web:x", "web", "q", "answer", "a", 1.0, faq_id="shipping-times"),
                TurnRecord("web:x", "web", "q", "answer", "a", 1.0, faq_id="gift-cards")])
    counts = RelatedLinks(database).asked_next()
    assert counts["shipping-times"].most_common() == [("customs-duties", 3), ("gift-cards", 1)]
    with pytest.raises(InvalidEntry, match="at most 3"):
        RelatedLinks(database).set("shipping-times", "pinned", ["a", "b", "c", "d"], "ana")
    with pytest.raises(InvalidEntry, match="must be one of"):
        RelatedLinks(database).set("shipping-times", "sometimes", [], "ana")


async def test_related_questions_can_be_off_everywhere(tmp_path: Path, aiohttp_client) -> None:
    settings = demo_settings(tmp_path, related_questions=0)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    reply = await say(client, QUESTION)
    await asyncio.sleep(0.2)
    reply = await say(client, QUESTION)
    assert reply["action"] == "answer" and [b for b in reply["buttons"] if b["kind"] == "related"] == []
    assert client.app[RESPONDER].related is not None and client.app[RESPONDER].related.count == 0


def test_nearest_entries_are_near_in_what_they_answer_not_in_wording() -> None:
    """ "How do I get my money back?" is worded like "How do I get my gift card code?" but answers
    what "When will my refund arrive?" answers: the refund entry is the related one."""
    from typing import cast

    from bot.core.brain import Brain
    from bot.core.policy import Thresholds
    from bot.core.related import _nearest_entries
    from knowledge.faq.entry import FaqEntry
    from knowledge.faq.index import FaqIndex

    refund = "Refunds reach the card you paid with within 5 business days of the return arriving."
    entries = {e.faq_id: e for e in (
        FaqEntry("money-back", "How do I get my money back?", refund),
        FaqEntry("refund-time", "When will my refund arrive?", refund + " Banks may take longer."),
        FaqEntry("gift-code", "How do I get my gift card code?", "Gift card codes are emailed right after payment."))}
    brain = Brain(KeywordModel(), cast(FaqIndex, None), entries, Thresholds(0.6, 0.05, 0.12, 0.4))
    assert _nearest_entries(brain, 1)["money-back"] == ["refund-time"]


def test_an_edit_encodes_only_the_entries_it_changed() -> None:
    """Nearest entries after a FAQ edit come from the vectors already computed for the same model:
    only the edited entry is encoded again, and the result is what encoding every entry gives."""
    from typing import cast

    from bot.core.brain import Brain
    from bot.core.policy import Thresholds
    from bot.core.related import _nearest_entries
    from knowledge.faq.entry import FaqEntry
    from knowledge.faq.index import FaqIndex

    class Counting(KeywordModel):
        def __init__(self) -> None:
            super().__init__()
            self.encoded: list[str] = []

        def encode(self, texts):  # type: ignore[no-untyped-def]
            self.encoded += list(texts)
            return super().encode(texts)

    model = Counting()
    entries = {e.faq_id: e for e in (
        FaqEntry("refund", "When will my refund arrive?", "Refunds take 5 business days."),
        FaqEntry("returns", "How do I return an item?", "Returns are free within 30 days; refunds follow."),
        FaqEntry("shipping", "How long does delivery take?", "Delivery takes 2 to 4 days."),
        FaqEntry("gift", "How do I get my gift card code?", "Gift card codes are emailed after payment."))}
    thresholds = Thresholds(0.6, 0.05, 0.12, 0.4)
    known: dict = {}
    _nearest_entries(Brain(model, cast(FaqIndex, None), entries, thresholds), 2, known)
    assert len(model.encoded) == 4
    edited = dict(entries, shipping=FaqEntry("shipping", "How long does delivery take?",
                                               "Delivery takes 2 to 4 days; express delivery takes 1."))
    del edited["gift"]
    model.encoded.clear()
    nearest = _nearest_entries(Brain(model, cast(FaqIndex, None), edited, thresholds), 2, known)
    assert model.encoded == ["How long does delivery take?\nDelivery takes 2 to 4 days; express delivery takes 1."]
    assert len(known) == 3  # the deleted entry's and the old wording's vectors are gone
    assert nearest == _nearest_entries(Brain(KeywordModel(), cast(FaqIndex, None), edited, thresholds), 2)


async def test_a_start_waits_a_bounded_time_for_the_nearest_entries(tmp_path: Path, monkeypatch) -> None:
    """A large FAQ takes long to encode: the server starts anyway, and the related questions
    follow once they are computed."""
    import threading
    from typing import cast

    import bot.core.related as related_module
    from bot.core.brain import Brain
    from bot.core.policy import Thresholds
    from bot.core.related import RelatedQuestions
    from knowledge.faq.entry import FaqEntry
    from knowledge.faq.index import FaqIndex

    release = threading.Event()

    class Slow(KeywordModel):
        def encode(self, texts):  # type: ignore[no-untyped-def]
            release.wait(10)
            return super().encode(texts)

    monkeypatch.setattr(related_module, "START_WAIT_S", 0.2)
    entries = {e.faq_id: e for e in (FaqEntry("a", "How long is delivery?", "Two days."),
                                      FaqEntry("b", "What does delivery cost?", "Five euros."))}
    brain = Brain(Slow(), cast(FaqIndex, None), entries, Thresholds(0.6, 0.05, 0.12, 0.4))
    related = RelatedQuestions(RelatedLinks(Database.open(f"sqlite:///{tmp_path / 'bot.db'}")), count=3)
    await asyncio.wait_for(related.start(brain), timeout=5)  # returned although the encoding waits
    assert related.for_answer(brain, "a") == []
    release.set()
    for _ in range(100):
        if related.for_answer(brain, "a"):
            break
        await asyncio.sleep(0.02)
    assert related.for_answer(brain, "a") == ["b"]
    await related.close()


async def test_a_message_that_asks_two_things_offers_the_other_answer_first(tmp_path: Path, aiohttp_client) -> None:
    """ "Which countries do you ship to and how do i cancel my order": one is answered, the other
    is the first button, whether or not related questions are on (it is the customer's own)."""
    for count in (3, 0):
        settings = demo_settings(tmp_path / str(count), related_questions=count)
        client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
        reply = await say(client, "Which countries do you ship to and how do I cancel my order")
        asked = {"shipping-countries", "cancel-order"}
        assert reply["action"] == "answer" and reply["faq_id"] in asked, reply
        offered = [(b["payload"].removeprefix("faq:"), b["kind"]) for b in reply["buttons"] if b["kind"] != "vote"]
        assert offered[:1] == [(*(asked - {reply["faq_id"]}), "also")], offered
        assert [kind for _, kind in offered[1:]] == ["related"] * (0 if count == 0 else count - 1), offered
        one = await say(client, "Which countries do you ship to?")  # one question: related questions alone
        assert "cancel-order" not in [b["payload"].removeprefix("faq:") for b in one["buttons"]]
    # what only tells, or cannot be read alone, is no other question
    model = KeywordModel()
    client = await aiohttp_client(create_app(demo_settings(tmp_path / "told", related_questions=0),
                                             model_loader=lambda s: model))
    # (the model's reads: the whole message; its sentences, read once for a request for a person;
    # its one clause that asks and can be read alone)
    for number, (text, reads) in enumerate((
            ("Which countries do you ship to? My sister says you cancel my order if it is abroad.", [1, 2]),
            ("Which countries do you ship to and how do I cancel it", [1, 1]))):
        model.calls.clear()
        reply = await say(client, text, session=f"told-{number:04d}")  # each the first message: no follow-up
        assert reply["faq_id"] == "shipping-countries", reply
        assert [b for b in reply["buttons"] if b["kind"] in ("related", "also")] == [], text
        assert model.calls == reads, (text, model.calls)
