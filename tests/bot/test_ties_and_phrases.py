"""The responder's two readings beside the models: the FAQ entries' words, which break near ties
(``bot.core.policy``), kept up to date with the FAQ; the intent phrases (``bot.core.phrases``); and
the names of other companies (``bot.core.elsewhere``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.actions import Action
from bot.core.elsewhere import (
    DEFAULT_OTHER_COMPANIES,
    OtherCompaniesError,
    load_other_companies,
    parse_other_companies,
)
from bot.core.glossary import Glossary
from bot.core.phrases import PhrasesError, load_phrases, parse_phrases
from bot.keys import KEEPER, RESPONDER, STORE
from knowledge.faq.entry import FaqEntry
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel


@pytest.fixture()
async def client(tmp_path: Path, aiohttp_client) -> TestClient:
    # No glossary: the keyword model would read "gracias, how long ..." glossed ("thanks, how long
    # ...") by its first keyword, thanks; the demo bundle answers it (shipping-times)
    return await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                           glossary=Glossary()))


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
                                             phrases=parse_phrases({"goodbye": ["ciao"]}), glossary=Glossary()))
    responder = client.server.app[RESPONDER]
    assert (await responder.respond("web:ciao", "web", "Ciao!")).handler == "goodbye"
    assert (await responder.respond("web:gracias", "web", "gracias")).handler != "thanks"  # not the demo's


async def test_a_shop_names_its_own_word_lists_in_settings(tmp_path: Path, aiohttp_client) -> None:
    """A shop that sells through Amazon lists other companies without it; its phrases are its own,
    and its customers write English only (an empty glossary)."""
    others, phrases, glossary = tmp_path / "others.yaml", tmp_path / "phrases.yaml", tmp_path / "glossary.yaml"
    others.write_text("names: [Netflix]\n", encoding="utf-8")
    phrases.write_text("goodbye: [ciao]\n", encoding="utf-8")
    glossary.write_text("format: supportbot-glossary\nversion: 1\nlanguages: {}\n", encoding="utf-8")
    settings = demo_settings(tmp_path, other_companies_file=others, phrases_file=phrases, glossary_file=glossary)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    responder = client.server.app[RESPONDER]
    amazon = await responder.respond("web:own-1", "web", "How long does AMAZON's delivery take?")
    assert amazon.action == Action.ANSWER and amazon.faq_id == "shipping-times"
    netflix = await responder.respond("web:own-2", "web", "How long does netflix delivery take?")
    assert netflix.action == Action.FALLBACK and "Netflix" in netflix.text
    assert (await responder.respond("web:own-3", "web", "Ciao!")).handler == "goodbye"
    assert (await responder.respond("web:own-4", "web", "gracias")).handler != "thanks"  # not the demo's


async def test_phrases_for_an_intent_nobody_knows_are_warned_of_at_start(
        tmp_path: Path, aiohttp_client, caplog: pytest.LogCaptureFixture) -> None:
    """A typo ("thank" for "thanks") would quietly send its phrases to FAQ search."""
    phrases = tmp_path / "phrases.yaml"
    phrases.write_text("thank: [merci]\ngoodbye: [ciao]\n", encoding="utf-8")
    settings = demo_settings(tmp_path, phrases_file=phrases)
    with caplog.at_level("WARNING", logger="bot.app"):
        await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    warned = [record.getMessage() for record in caplog.records if record.name == "bot.app"]
    assert any("'thank'" in message for message in warned), warned
    assert not any("'goodbye'" in message for message in warned), warned


def test_a_phrases_file_that_is_not_utf8_is_a_clean_error(tmp_path: Path) -> None:
    latin = tmp_path / "phrases.yaml"
    latin.write_bytes("thanks: [danké]\n".encode("latin-1"))
    with pytest.raises(PhrasesError, match="cannot read the intent phrases"):
        load_phrases(latin)


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


async def test_a_message_about_another_company_gets_an_honest_reply_not_the_shops_answer(client: TestClient) -> None:
    """ "how do i cancel my netflix subscription" got the shop's cancel-order answer; a named
    other company is not a question for the shop's FAQ or its order handler."""
    responder = client.server.app[RESPONDER]
    own = await responder.respond("web:others-1", "web", "How long does delivery take?")
    assert own.action == Action.ANSWER and own.faq_id == "shipping-times"
    theirs = await responder.respond("web:others-2", "web", "How long does AMAZON's delivery take?")
    assert theirs.action == Action.FALLBACK and theirs.faq_id is None and "Amazon" in theirs.text
    assert "names Amazon, another company" in theirs.reason and theirs.buttons[0].payload == "human"
    explained = await responder.explain("how long does delivery take with disney plus")
    assert explained.reply.action == Action.FALLBACK and "Disney+" in explained.reply.text
    assert explained.decision is not None and explained.decision.action == Action.FALLBACK
    # ... but a request for a person reaches one, an order of the shop's is looked up, and the
    # shop's own answer about other companies is given
    person = await responder.respond("web:others-3", "web", "I want a person, my amazon parcel is late")
    assert person.action == Action.HANDOFF
    order = await responder.respond("web:others-4", "web", "where is my order NW-100002, bought on the amazon app?")
    assert order.handler == "order_status" and "NW-100002" in order.text
    match = await responder.respond("web:others-5", "web", "Do you price match? amazon has it cheaper")
    assert match.action == Action.ANSWER and match.faq_id == "price-match"
    # small talk is answered as ever, and the honest reply never calls a person in by itself
    thanks = await responder.respond("web:others-6", "web", "ok thanks, I'll ask amazon then")
    assert thanks.handler == "thanks"
    for _ in range(3):
        again = await responder.respond("web:others-7", "web", "How long does AMAZON's delivery take?")
        assert again.action == Action.FALLBACK and not again.escalate and "Amazon" in again.text


def test_other_companies_are_named_by_whole_words_and_their_file_is_checked() -> None:
    others = parse_other_companies({"names": ["Amazon", "H&M", "Disney+", "bol.com"], "answered_by": ["price-match"]})
    assert others.named("my Amazon parcel") == "Amazon" and others.named("AMAZON!!") == "Amazon"
    assert others.named("is this from h&m?") == "H&M" and others.named("my disney+ account") == "Disney+"
    assert others.named("ordered it on bol.com") == "bol.com"
    assert others.named("amazonian plants") is None and others.named("hm, ok") is None
    assert others.named("do you sell disney toys?") is None and others.named("disney plus") == "Disney+"
    uber = parse_other_companies({"names": ["Uber"]})
    assert uber.named("eine Frage über meine Lieferung") is None and uber.named("my UBER driver") == "Uber"
    assert load_other_companies(DEFAULT_OTHER_COMPANIES).named("cancel my netflix subscription") == "Netflix"
    assert load_other_companies(DEFAULT_OTHER_COMPANIES).named("can I pay with PayPal or Apple Pay?") is None
    for bad in ([], {"names": "Amazon"}, {"names": [""]}, {"names": ["!!"]}, {"nmes": ["Amazon"]},
                {"answered_by": [3]}):
        with pytest.raises(OtherCompaniesError):
            parse_other_companies(bad, "others.yaml")


async def test_a_greeting_that_goes_on_is_read_for_what_follows(client: TestClient) -> None:
    """ "hello where's my order" was greeted back and nothing more."""
    responder = client.server.app[RESPONDER]
    asked = await responder.respond("web:hello-1", "web", "Hello! where is my order?")
    assert asked.handler == "order_status" and "order number" in asked.text
    hello = await responder.respond("web:hello-2", "web", "hello there")
    assert hello.handler == "greeting"
    plain = await responder.respond("web:hello-3", "web", "hello, lovely weather")  # nothing more for the bot
    assert plain.handler == "greeting"


async def test_saying_there_is_no_order_number_answers_the_question_whatever_else_it_resembles(
        client: TestClient) -> None:
    """ "i dont have the number on me rn, im at work" was answered with how to contact support."""
    responder = client.server.app[RESPONDER]
    asked = await responder.respond("web:nonumber", "web", "where is my order?")
    assert "order number" in asked.text
    told = await responder.respond("web:nonumber", "web", "I don't have the number, how long does delivery take?")
    assert told.handler == "order_status" and "confirmation email" in told.text
    # ... but not a request for a person, nor a new question that happens to say "can't find"
    await responder.respond("web:nonumber-2", "web", "where is my order?")
    person = await responder.respond("web:nonumber-2", "web", "I don't know it, just get me a human agent")
    assert person.action == Action.HANDOFF
    await responder.respond("web:nonumber-3", "web", "where is my order?")
    other = await responder.respond("web:nonumber-3", "web", "I can't find the returns form, how long does delivery take?")
    assert other.action == Action.ANSWER and other.faq_id == "shipping-times"
    # once the question is settled, the same words are read as any other message
    again = await responder.respond("web:nonumber", "web", "how long does delivery take?")
    assert again.action == Action.ANSWER and again.faq_id == "shipping-times"


async def test_hang_on_while_the_number_is_looked_for_keeps_the_question_open(client: TestClient) -> None:
    """ "hang on let me find it" after "What's your order number?" was read as a goodbye (the demo
    bundle: "Goodbye, and thanks for getting in touch!"), and the question was dropped."""
    responder = client.server.app[RESPONDER]
    asked = await responder.respond("web:hold", "web", "where is my order?")
    assert "order number" in asked.text
    held = await responder.respond("web:hold", "web", "thanks, hang on let me find it")  # "thanks": a handler intent
    assert held.handler == "order_status" and "take your time" in held.text.lower()
    again = await responder.respond("web:hold", "web", "one sec")
    assert again.handler == "order_status" and "take your time" in again.text.lower()
    found = await responder.respond("web:hold", "web", "100002")  # the digits alone still answer the question
    assert found.handler == "order_status" and "NW-100002 is shipped" in found.text
    # with no question open, the bot waits too (the intent model read it as a goodbye) ...
    waits = await responder.respond("web:hold-2", "web", "thanks, hang on let me find it")
    assert waits.handler == "hold_on" and "take your time" in waits.text.lower()
    # ... but a longer message is read for what it says, and a request for a person is one
    said = await responder.respond("web:hold-3", "web", "hang on, how long does delivery take?")
    assert said.action == Action.ANSWER and said.faq_id == "shipping-times"
    person = await responder.respond("web:hold-4", "web", "one sec, get me a human")
    assert person.action == Action.HANDOFF


async def test_a_question_that_names_an_order_gets_its_status_and_the_answer_as_a_button(
        client: TestClient) -> None:
    """ "can i still cancel NW-100001" got the order's status alone: the question went unanswered."""
    responder = client.server.app[RESPONDER]
    reply = await responder.respond("web:cancel", "web", "How do I cancel my order? It's order 100001")
    assert reply.handler == "order_status" and "NW-100001 is processing" in reply.text
    assert [(b.payload, b.kind) for b in reply.buttons] == [("faq:cancel-order", "related")]
    assert "offered as a button" in reply.reason
    command = await responder.respond("web:cancel-2", "web", "Cancel my order. It's order 100001")
    assert [(b.payload, b.kind) for b in command.buttons] == [("faq:cancel-order", "related")], command.reason
    # a message that asks nothing gets the status alone
    typo = await responder.respond("web:typo", "web", "sorry my cancel my order typo, its order 100003")
    assert typo.handler == "order_status" and "NW-100003" in typo.text and typo.buttons == ()


def test_a_greeting_before_a_question_still_asks_something() -> None:
    """Every greeting the phrases open with is set aside, not only "hi" and "hello"."""
    from bot.core.followups import asks_something

    for text in ("heyy can I cancel NW-100001", "hiya, ok, can i still cancel NW-100001",
                 "good morning, how do I cancel NW-1", "cancel NW-100001", "hi, change the address on NW-100002"):
        assert asks_something(text), text
    for text in ("heyy its NW-100001", "sorry typo!! its NW-100001", "hello"):
        assert not asks_something(text), text
