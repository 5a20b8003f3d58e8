"""The responder's two readings beside the models: the FAQ entries' words, which break near ties
(``bot.core.policy``), kept up to date with the FAQ; and the intent phrases (``bot.core.phrases``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.actions import Action
from bot.core.phrases import parse_phrases
from bot.keys import KEEPER, RESPONDER, STORE
from knowledge.faq.entry import FaqEntry
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))


async def test_a_phrase_of_the_shops_other_languages_runs_its_intents_handler(client: TestClient) -> None:
    responder = client.server.app[RESPONDER]
    thanks = await responder.respond("web:phrases", "web", "¡Gracias! 🙏")
    assert thanks.action == Action.HANDLER and thanks.handler == "thanks" and thanks.intent == "thanks"
    explained = await responder.explain("merci !")
    assert explained.decision is not None and explained.decision.handler == "thanks"
    assert explained.decision.reason.startswith("the message is one of intent thanks's phrases")
    longer = await responder.respond("web:phrases-2", "web", "gracias, how long does delivery take?")
    assert longer.action == Action.ANSWER and longer.faq_id == "shipping-times"  # left to the models


async def test_an_app_can_be_given_its_own_phrases(tmp_path: Path, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                             phrases=parse_phrases({"goodbye": ["ciao"]})))
    responder = client.server.app[RESPONDER]
    assert (await responder.respond("web:ciao", "web", "Ciao!")).handler == "goodbye"
    assert (await responder.respond("web:gracias", "web", "gracias")).handler != "thanks"  # not the demo's


async def test_every_hit_carries_how_much_of_the_message_its_entry_shares(client: TestClient) -> None:
    responder = client.server.app[RESPONDER]
    explained = await responder.explain("How long does delivery take?")
    assert explained.reply.hits and all(hit.words is not None for hit in explained.reply.hits)
    assert explained.reply.hits[0].words > 0


async def test_an_edited_faq_is_scored_by_its_new_words(client: TestClient) -> None:
    store, keeper = client.server.app[STORE], client.server.app[KEEPER]
    assert keeper.current.wording.scores("zeppelin", ["shipping-times"]) == [0.0]
    entry = store.get("shipping-times")
    store.edit("shipping-times", entry.revision, "ana", answer=entry.answer + " Not by zeppelin.")
    store.add(FaqEntry("airships", "Do you ship by airship?", "No zeppelins, sorry."), "ana")
    await keeper.faq_changed()
    shipping, airships = keeper.current.wording.scores("zeppelin", ["shipping-times", "airships"])
    assert shipping > 0 and airships > 0


def test_an_answer_chosen_by_its_words_does_not_drop_the_question_a_handler_asked() -> None:
    from bot.core.policy import Decision
    from bot.core.responder import _takes_over

    clear = Decision(Action.ANSWER, "clear", faq_id="order-confirmation-missing")
    by_words = Decision(Action.ANSWER, "a tie", faq_id="order-confirmation-missing", by_wording=True)
    assert _takes_over(clear, "order_status") and not _takes_over(by_words, "order_status")
