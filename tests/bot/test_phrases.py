from __future__ import annotations

import pytest

from bot.core.phrases import DEFAULT_PHRASES, PhrasesError, load_phrases, parse_phrases, phrase_key


def test_a_message_matches_a_phrase_whatever_its_case_accents_punctuation_and_emoji() -> None:
    phrases = parse_phrases({"thanks": ["gracias", "muito obrigado"], "greeting": ["olá"]})
    assert phrases.intent_of("¡GRACIAS!!") == "thanks"
    assert phrases.intent_of("  muito   obrigado 🙏") == "thanks"
    assert phrases.intent_of("ola") == "greeting" and phrases.intent_of("Olá!") == "greeting"


@pytest.mark.parametrize("text", ["gracias, where is my order?", "graciass", "", "🙏", "muito"])
def test_anything_but_a_whole_phrase_is_left_to_the_models(text: str) -> None:
    assert parse_phrases({"thanks": ["gracias", "muito obrigado"]}).intent_of(text) is None


@pytest.mark.parametrize(("data", "message"), [
    (["gracias"], "expected a mapping"),
    ({"thanks": "gracias"}, "intent 'thanks': expected a list of phrases"),
    ({"thanks": ["!!"]}, "the phrase '!!' has no letters, digits or emoji"),
    ({"thanks": ["Ciao"], "goodbye": ["ciao!"]}, "the phrase 'ciao!' is listed for both 'thanks' and 'goodbye'"),
])
def test_a_bad_phrases_file_is_refused_with_the_reason(data: object, message: str) -> None:
    with pytest.raises(PhrasesError, match=message):
        parse_phrases(data)


def test_a_message_of_emoji_alone_matches_the_same_emoji() -> None:
    """ "👍" (after two fallbacks) was read by the models as an unknown word: a third fallback,
    and the conversation was handed to a person."""
    phrases = parse_phrases({"affirm": ["👍", "ok"], "thanks": ["🙏"], "complaint": ["👎"]})
    assert phrases.intent_of("👍") == "affirm" and phrases.intent_of(" 👍🏽👍!") == "affirm"
    assert phrases.intent_of("🙏🙏") == "thanks" and phrases.intent_of("👎") == "complaint"
    assert phrases.intent_of("👍🙏") is None and phrases.intent_of("thanks 🙏") is None  # left to the models
    assert load_phrases(DEFAULT_PHRASES).intent_of("Are you there??") == "greeting"
    assert load_phrases(DEFAULT_PHRASES).intent_of("🙂") == "thanks"  # a smile accepts no offer of a person
    waving = parse_phrases({"greeting": ["hello", "👋"]})  # an emoji greeting opens no message
    assert waving.intent_of("👋") == "greeting" and waving.after_greeting("where is my order") is None
    assert load_phrases(DEFAULT_PHRASES).intent_of("help!!") == "greeting"  # was "I'm not sure I understood that"
    assert load_phrases(DEFAULT_PHRASES).intent_of("help me return a kettle") is None


def test_an_unreadable_phrases_file_names_itself(tmp_path) -> None:
    (tmp_path / "phrases.yaml").write_text("thanks: [gracias\n", encoding="utf-8")
    with pytest.raises(PhrasesError, match="phrases.yaml: cannot read"):
        load_phrases(tmp_path / "phrases.yaml")


def test_the_demo_phrases_load_and_hold_only_short_messages() -> None:
    phrases = load_phrases(DEFAULT_PHRASES)
    assert phrases.intent_of("Obrigado 🙏") == "thanks" and phrases.intent_of("Tschüss!") == "goodbye"
    assert phrases.intent_of("Tack så mycket! 🙏") == "thanks" and phrases.intent_of("Hej då") == "goodbye"
    assert phrases.intent_of("tak") is None  # thanks in Danish, but yes in Polish
    assert phrases.intent_of("lol, fair enough") == "affirm" and phrases.intent_of("A human!") == "human_handoff"
    assert set(phrases.by_key.values()) == {"thanks", "greeting", "goodbye", "affirm", "human_handoff", "complaint"}
    assert max(len(key.split()) for key in phrases.by_key) <= 3
    assert phrase_key("Dziękuję") == "dziekuje"


@pytest.mark.parametrize(("text", "rest"), [
    ("hello where's my order", "where's my order"), ("hello? my parcel", "my parcel"),
    ("Hi there, where is my order?", "where is my order?"), ("hola! do you ship to Spain?", "do you ship to Spain?"),
    ("Dzień dobry, do you ship to Poland?", "do you ship to Poland?"),
    ("hi", None), ("hi there!", None), ("good morning 👋", None), ("hello friend", None), ("hi there friend", None),
    ("hello there, thanks", None),
    ("hiking boots, do you sell them?", None), ("where's my order, hello?", None)])
def test_what_a_message_says_after_its_opening_greeting(text: str, rest: str | None) -> None:
    assert load_phrases(DEFAULT_PHRASES).after_greeting(text) == rest
