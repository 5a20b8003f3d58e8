"""The glossary (``bot.core.glossary``): the customers' other languages read word by word into
English before the models read a message."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from bot.app import create_app
from bot.core.actions import Action
from bot.core.glossary import DEFAULT_GLOSSARY, Glossary, GlossaryError, load_glossary, parse_glossary
from bot.core.phrases import parse_phrases
from bot.keys import RESPONDER
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel

ROOT = Path(__file__).resolve().parents[2]


def glossary(**languages: dict[str, str]) -> Glossary:
    return parse_glossary({"format": "supportbot-glossary", "version": 1, "languages": languages})


def test_known_words_are_read_in_english_and_the_rest_stays_as_written() -> None:
    words = glossary(es={"envío": "shipping", "cuánto cuesta": "how much does it cost", "cuánto": "how much"},
                     fr={"j'ai reçu": "i received", "cassée": "broken", "théière": "teapot"})
    assert words.english("y ¿Cuánto cuesta el ENVIO, more or less?") == \
        "y ¿how much does it cost el shipping, more or less?"  # the longest phrase first; no accents needed
    assert words.english("Bonjour, j’ai reçu my order mais la théière est cassée!") == \
        "Bonjour, i received my order mais la teapot est broken!"
    assert words.english("cuánto?") == "how much?"
    assert words.english("how much is shipping to Spain?") is None  # nothing known: read as written
    assert Glossary().english("envío") is None


def test_a_phrase_is_read_within_a_clause_only() -> None:
    words = glossary(es={"cuánto cuesta": "how much does it cost", "cuesta": "costs"},
                     fr={"j'ai commandé": "i ordered"})
    assert words.english("cuánto. cuesta") == "cuánto. costs"
    assert words.english("cuánto - cuesta") == "cuánto - costs"  # a dash between clauses
    assert words.english("cuánto-cuesta") == "how much does it cost"
    assert words.english("j‘ai commandé, j´ai commandé") == "i ordered, i ordered"  # phones' apostrophes


def test_letters_without_a_separate_accent_are_folded_too() -> None:
    """A Polish customer on an English keyboard writes "dostalem" for "dostałem"."""
    words = glossary(pl={"nie dostałem": "i did not receive"})
    assert words.english("Nie dostalem paczki") == "i did not receive paczki"
    assert words.english("NIE DOSTAŁEM") == "i did not receive"


def test_a_glossary_made_in_code_reads_as_one_from_a_file() -> None:
    assert Glossary({("envio",): "shipping", ("cuanto", "cuesta"): "how much"}).english("¿cuánto cuesta el envío?") == \
        "¿how much el shipping?"


def test_a_word_two_languages_share_keeps_the_first_meaning() -> None:
    words = glossary(es={"paquete": "parcel"}, pt={"paquete": "package", "encomenda": "order"})
    assert words.english("paquete encomenda") == "parcel order"


@pytest.mark.parametrize(("document", "complaint"), [
    ({"version": 1, "languages": {}}, "not a glossary"),
    ({"format": "supportbot-glossary", "version": 2, "languages": {}}, "unknown version 2"),
    ({"format": "supportbot-glossary", "version": 1}, "expected 'languages:'"),
    ({"format": "supportbot-glossary", "version": 1, "languages": {"es": ["envío"]}}, "language 'es'"),
    ({"format": "supportbot-glossary", "version": 1, "languages": {"es": {"envío": 3}}}, "'envío'"),
    ({"format": "supportbot-glossary", "version": 1, "languages": {"es": {"envío": " "}}}, "'envío'"),
    ({"format": "supportbot-glossary", "version": 1, "languages": {"es": {"¿?": "what"}}}, "no letters"),
])
def test_a_bad_glossary_is_a_clear_error(document: object, complaint: str) -> None:
    with pytest.raises(GlossaryError, match=re.escape(complaint)):
        parse_glossary(document, "glossary.yaml")


def test_an_unreadable_glossary_names_its_file(tmp_path: Path) -> None:
    latin = tmp_path / "glossary.yaml"
    latin.write_bytes("format: supportbot-glossary\nlanguages: {es: {envío: shipping}}\n".encode("latin-1"))
    with pytest.raises(GlossaryError, match="cannot read the glossary"):
        load_glossary(latin)


def _english_texts() -> list[str]:
    """The demo shop's English text: its FAQ, its FAQ queries and its intent examples."""
    faq = yaml.safe_load((ROOT / "knowledge/demo/faq.yaml").read_text(encoding="utf-8"))
    texts = [str(entry.get(key, "")) for entry in faq["entries"] for key in ("question", "answer")]
    texts += [str(alternative) for entry in faq["entries"] for alternative in entry.get("alternatives") or ()]
    for name in ("queries.csv", "intents.csv", "intents_eval.csv"):
        with open(ROOT / "knowledge/demo" / name, encoding="utf-8", newline="") as rows:
            texts += [row[0] for row in csv.reader(rows) if row]
    return texts


# English words (and typos) that are words of the glossary's languages: none may be a key
NEVER_KEYS = ("gift", "die", "also", "man", "will", "war", "hat", "kind", "fast", "handy", "arm", "bald", "rat",
              "mist", "come", "pan", "once", "red", "sale", "sin", "plus", "pour", "sort", "pain", "chair", "main",
              "car", "coin", "door", "hoe", "wat", "ben", "van", "want", "dan", "tack", "bra", "present", "problem",
              "que", "como", "rabat", "ile", "wann", "mesa", "persona", "stop", "super", "total", "normal", "hotel")


def test_no_english_word_is_a_key() -> None:
    demo = load_glossary(DEFAULT_GLOSSARY)
    assert demo.found_in(NEVER_KEYS) == []


def test_the_demo_glossary_leaves_the_shops_english_alone() -> None:
    """No word or phrase of the demo's glossary is in its English text: an English message is
    read as written."""
    demo = load_glossary(DEFAULT_GLOSSARY)
    assert len(demo.meanings) > 1000
    assert demo.found_in(_english_texts()) == []
    assert all(len("".join(key)) > 2 for key in demo.meanings)  # no one- or two-letter words


def test_words_the_shops_english_uses_are_found() -> None:
    words = glossary(de={"gift": "poison", "kaputt": "broken"}, es={"por favor": "please"})
    assert words.found_in(["A gift card", "Gift wrapping, por favor.", "kaputt"]) == ["gift", "kaputt", "por favor"]
    assert words.found_in(["Where is my order?"]) == []


async def test_glossary_words_the_faq_uses_are_warned_of_at_start(
        tmp_path: Path, aiohttp_client, caplog: pytest.LogCaptureFixture) -> None:
    """A shop's own glossary with "gift" as German (poison) would read "gift card" wrongly."""
    words = glossary(de={"gift": "poison", "kaputt": "broken"})
    with caplog.at_level("WARNING", logger="bot.app"):
        await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                        glossary=words))
        await aiohttp_client(create_app(demo_settings(tmp_path / "demo"), model_loader=lambda s: KeywordModel()))
    warned = [record.getMessage() for record in caplog.records if "glossary" in record.getMessage()]
    assert len(warned) == 1 and "words the FAQ itself uses" in warned[0] and "(1): gift" in warned[0], warned


async def test_the_models_read_a_message_through_the_glossary(tmp_path: Path, aiohttp_client) -> None:
    """The keyword model reads English only, as the real one mostly does: through the glossary
    "¿dónde está mi pedido?" reaches the order handler, and staff see how it was read."""
    words = glossary(es={"dónde está mi pedido": "where is my order", "una persona": "a person"})
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                             glossary=words))
    responder = client.server.app[RESPONDER]
    order = await responder.respond("web:glossary-1", "web", "hola, dónde está mi pedido?")
    assert order.action == Action.HANDLER and order.handler == "order_status"
    assert "read through the glossary as 'hola, where is my order?'" in order.reason
    explained = await responder.explain("quiero hablar con una persona")
    assert explained.decision is not None and explained.decision.handler == "human_handoff"
    english = await responder.respond("web:glossary-2", "web", "how long does delivery take?")
    assert english.action == Action.ANSWER and "glossary" not in english.reason

    unglossed = await aiohttp_client(create_app(demo_settings(tmp_path / "plain"), model_loader=lambda s: KeywordModel(),
                                                glossary=Glossary()))
    plain = await unglossed.server.app[RESPONDER].respond("web:glossary-3", "web", "hola, dónde está mi pedido?")
    assert plain.handler != "order_status"


async def test_a_greeting_and_a_word_for_a_person_are_read_through_the_glossary(
        tmp_path: Path, aiohttp_client) -> None:
    """A greeting only the glossary knows is set aside like an English one, and a one-word sentence
    that is, through the glossary, a phrase for a person still asks for one."""
    words = glossary(pl={"witam": "hello", "gdzie jest moje zamówienie": "where is my order"},
                     es={"operador": "operator"})
    client = await aiohttp_client(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel(),
                                             glossary=words, phrases=parse_phrases({"human_handoff": ["operator"]})))
    responder = client.server.app[RESPONDER]
    order = await responder.respond("web:glossary-pl", "web", "Witam, gdzie jest moje zamówienie?")
    assert order.handler == "order_status", order.reason  # the keyword model reads "hello, ..." as a greeting
    person = await responder.respond("web:glossary-es", "web", "Mi tetera llegó rota y nadie responde. Operador.")
    assert person.action == Action.HANDOFF, person.reason


async def test_a_shop_names_its_own_glossary_in_settings(tmp_path: Path, aiohttp_client) -> None:
    own = tmp_path / "glossary.yaml"
    own.write_text("format: supportbot-glossary\nversion: 1\nlanguages:\n  sv: {\"var är min beställning\": "
                   "where is my order}\n", encoding="utf-8")
    settings = demo_settings(tmp_path, glossary_file=own)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    reply = await client.server.app[RESPONDER].respond("web:glossary-sv", "web", "Var är min beställning?")
    assert reply.handler == "order_status"
    bad = tmp_path / "bad.yaml"
    bad.write_text("languages: {}\n", encoding="utf-8")
    with pytest.raises(GlossaryError, match="SUPPORTBOT_GLOSSARY_FILE: .*not a glossary"):
        create_app(demo_settings(tmp_path, glossary_file=bad), model_loader=lambda s: KeywordModel())
