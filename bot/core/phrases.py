"""Intent phrases: messages that are an intent word for word, whatever the intent model reads.

Short fixed phrases are what an intent model trained on a few hundred English examples reads
worst: small talk in the shop's other languages ("gracias!", "obrigado 🙏") comes out as a
greeting it is unsure of, or as out of scope, and gets a fallback. The phrases file (YAML,
``intent: [phrase, ...]``; the demo's is ``bot/core/demo/phrases.yaml``) lists such messages:

    thanks: [gracias, merci, danke]

A message matches when it is one of an intent's phrases once case, accents, punctuation, emoji
and spacing are set aside ("¡Gracias!!" is "gracias"). A message of emoji alone matches a phrase
of the same emoji ("👍🏽👍" is "👍"): the models read an emoji as an unknown word. The intent is then read with confidence
1, in scope, and routed as any other reading of it. Nothing else changes: a longer message
("gracias, where is my order?") goes to the models as before.

Example::

    phrases = load_phrases(DEFAULT_PHRASES)
    phrases.intent_of("Merci !")      # "thanks"
    phrases.intent_of("merci, and my order?")      # None
    phrases.after_greeting("hello where's my order")      # "where's my order"

A message that opens with a greeting and goes on ("hello where's my order") is not a greeting:
the responder reads it again without the greeting when the intent model read it as one.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from bot.core.config_file import read_yaml

DEFAULT_PHRASES = Path(__file__).resolve().parent / "demo" / "phrases.yaml"
_NOT_WORD = re.compile(r"[\W_]+")
_UNSPLIT = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l"})  # letters NFKD keeps whole
GREETING = "greeting"  # the intent (and built-in handler) of a hello
# How an English message opens with a greeting (the file's greeting phrases add the shop's other languages)
OPENERS = ("hi", "hii", "hello", "hey", "heyy", "heyyy", "hiya", "heya", "howdy", "hi there", "hello there",
           "hey there", "good morning", "good afternoon", "good evening", "morning", "evening")


class PhrasesError(ValueError):
    pass


@dataclass(frozen=True)
class Phrases:
    by_key: Mapping[str, str] = field(default_factory=dict)  # the phrase's key (``phrase_key``) -> intent
    listed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # intent -> its phrases as written
    source: str = ""  # the file they came from, for staff

    def intent_of(self, text: str) -> str | None:
        """The intent ``text`` is a phrase of, or None."""
        return self.by_key.get(message_key(text)) if self.by_key else None

    @cached_property
    def _openers(self) -> tuple[str, ...]:
        """The greetings a message may open with, as keys, longest first."""
        keys = {phrase_key(phrase) for phrase in (*OPENERS, *self.listed.get(GREETING, ()))} - {""}  # not "👋"
        return tuple(sorted(keys, key=len, reverse=True))

    def after_greeting(self, text: str) -> str | None:
        """What ``text`` says after the greeting it opens with ("hello? my parcel" -> "my parcel"),
        or None: it opens with none, or little follows (a word: "hi there", "hello friend")."""
        words = list(re.finditer(r"\w+", text))
        for opener in self._openers:
            count = len(opener.split())
            if len(words) > count and phrase_key(" ".join(w.group() for w in words[:count])) == opener:
                return text[words[count].start():] if len(words) >= count + 2 else None
        return None


def phrase_key(text: str) -> str:
    """What a message and a phrase are compared by: case-folded, accents dropped (and the letters
    Unicode does not split into a letter and an accent: "ł", "ø", "đ"), and every run of
    anything that is not a letter or digit (punctuation, emoji, spaces) one space.

    >>> phrase_key("  ¡Olá, OBRIGADO!! 🙏 "), phrase_key("Dziękuję, dostałem")
    ('ola obrigado', 'dziekuje dostalem')
    """
    if text.isascii():  # most messages: nothing to fold but case
        return _NOT_WORD.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNSPLIT))
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_WORD.sub(" ", letters).strip()


def symbol_key(text: str) -> str:
    """The key of a message of emoji alone ("👍", "🙏🙏", "👍🏽"): its symbols in order, without
    skin tones, variation selectors or a symbol repeated. A message with letters or digits has none.

    >>> symbol_key("👍🏽👍 "), symbol_key("❤️"), symbol_key("ok 👍")
    ('👍', '❤', '')
    """
    if phrase_key(text):
        return ""
    symbols: list[str] = []
    for char in text:
        if unicodedata.category(char) == "So" and (not symbols or symbols[-1] != char):
            symbols.append(char)
    return "".join(symbols)


def message_key(text: str) -> str:
    """What a message is looked up by among the phrases: ``phrase_key``, or for emoji alone ``symbol_key``."""
    return phrase_key(text) or symbol_key(text)


def parse_phrases(data: object, source: str = "phrases") -> Phrases:
    """Check a phrases mapping (``intent: [phrase, ...]``); errors name the intent or the phrase."""
    if data is None:
        return Phrases()
    if not isinstance(data, dict):
        raise PhrasesError(f"{source}: expected a mapping of intent -> list of phrases")
    by_key: dict[str, str] = {}
    written: dict[str, tuple[str, ...]] = {}
    for intent, listed in data.items():
        if not isinstance(listed, list) or not all(isinstance(phrase, str) for phrase in listed):
            raise PhrasesError(f"{source}: intent {intent!r}: expected a list of phrases")
        for phrase in listed:
            key = message_key(phrase)
            if not key:
                raise PhrasesError(f"{source}: intent {intent!r}: the phrase {phrase!r} has no letters, digits "
                                   f"or emoji")
            other = by_key.setdefault(key, str(intent))
            if other != str(intent):
                raise PhrasesError(f"{source}: the phrase {phrase!r} is listed for both {other!r} and {intent!r}")
        written[str(intent)] = tuple(listed)
    return Phrases(by_key, written, source)


def load_phrases(path: Path) -> Phrases:
    data = read_yaml(path, PhrasesError, "the intent phrases")
    return parse_phrases(data, str(path))
