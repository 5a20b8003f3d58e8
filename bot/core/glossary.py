"""The glossary: the shop's customers' other languages read word by word into English.

The models read English only. "Hallo, ich habe letzte Woche einen Toaster bestellt und der ist
kaputt angekommen" reads to them as noise, and "y cuánto cuesta el envío, more or less?" as a
question about paying later. The glossary file (YAML; the demo's is
``bot/core/demo/glossary.yaml``) lists, per language, words and short fixed phrases with their
English meaning:

    format: supportbot-glossary
    version: 1
    languages:
      es: {envío: shipping, "cuánto cuesta": how much does it cost}
      de: {kaputt: broken, bestellt: ordered}

Before the models read a message, every word or phrase the glossary knows is replaced by its
meaning; the rest stays as written. The message above reads "Hallo, i have last week einen
Toaster ordered und der ist broken arrived", which an English model reads well enough. Words are
compared as ``phrase_key`` compares them (case and accents set aside: "envio" is "envío",
"dostalem" is "dostałem"), longest phrase first, and a phrase only within a clause. An English
message is left alone: no key may be an English word (the file's checks cannot know that; its
writer must, and ``found_in`` finds the shop's own words in it).

Example::

    glossary = load_glossary(DEFAULT_GLOSSARY)
    glossary.english("y cuánto cuesta el envío?")      # "y how much does it cost el shipping?"
    glossary.english("where is my order?")      # None: nothing to read differently
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from bot.core.config_file import read_yaml
from bot.core.phrases import phrase_key

DEFAULT_GLOSSARY = Path(__file__).resolve().parent / "demo" / "glossary.yaml"
FORMAT = "supportbot-glossary"
_WORD = re.compile(r"\w+")
# What may stand between the words of one phrase: spaces, or one apostrophe or hyphen ("j'ai",
# "qu'est-ce"); not a dash between spaces, nor any punctuation that ends a clause
_JOINS = re.compile(r"\s+|['’‘´`-]")


class GlossaryError(ValueError):
    pass


@dataclass(frozen=True)
class Glossary:
    meanings: Mapping[tuple[str, ...], str] = field(default_factory=dict)  # words (as keys) -> English
    source: str = ""  # the file it came from, for staff

    @cached_property
    def longest(self) -> int:
        """Words in the longest phrase."""
        return max((len(key) for key in self.meanings), default=0)

    @cached_property
    def _starts(self) -> frozenset[str]:
        """The words a phrase may start with: any other word is passed over at once."""
        return frozenset(key[0] for key in self.meanings)

    def english(self, text: str) -> str | None:
        """``text`` with every word and phrase the glossary knows in English, or None when it
        knows none of them."""
        pieces: list[str] = []
        done = 0  # of text, this much is in pieces
        for start, end, key in self._found(text):
            pieces += [text[done:start], self.meanings[key]]
            done = end
        if not pieces:
            return None
        return "".join(pieces) + text[done:]

    def found_in(self, texts: Iterable[str]) -> list[str]:
        """The glossary's words and phrases that occur in ``texts``, as written there: run over
        the shop's own English (its FAQ), each is a word the glossary would wrongly translate."""
        return sorted({text[start:end].casefold() for text in texts for start, end, _ in self._found(text)})

    def _found(self, text: str) -> Iterator[tuple[int, int, tuple[str, ...]]]:
        """(start, end, key) of each word or phrase of ``text`` the glossary knows, left to right,
        the longest phrase first."""
        if not self.meanings:
            return
        words = list(_WORD.finditer(text))
        keys = [phrase_key(word.group()) for word in words]
        i = 0
        while i < len(words):
            if keys[i] not in self._starts:  # most words of most messages
                i += 1
                continue
            for n in range(min(self.longest, len(words) - i), 0, -1):
                key = tuple(keys[i:i + n])
                if key in self.meanings and all(_JOINS.fullmatch(text, words[j].end(), words[j + 1].start())
                                                for j in range(i, i + n - 1)):
                    yield words[i].start(), words[i + n - 1].end(), key
                    i += n
                    break
            else:
                i += 1


def parse_glossary(data: object, source: str = "glossary") -> Glossary:
    """Check a glossary document; errors name the language and the word."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GlossaryError(f"{source}: not a glossary (expected 'format: {FORMAT}')")
    if data.get("version") != 1:
        raise GlossaryError(f"{source}: unknown version {data.get('version')!r} (expected 1)")
    languages = data.get("languages")
    if not isinstance(languages, dict):
        raise GlossaryError(f"{source}: expected 'languages:', a mapping of language -> {{word: English}}")
    meanings: dict[tuple[str, ...], str] = {}
    for language, words in languages.items():
        if words is None:  # every entry commented out
            continue
        if not isinstance(words, dict):
            raise GlossaryError(f"{source}: language {language!r}: expected a mapping of word -> English")
        for word, meaning in words.items():
            if not isinstance(word, str) or not isinstance(meaning, str) or not meaning.strip():
                raise GlossaryError(f"{source}: language {language!r}: {word!r}: expected a word and its "
                                    "English meaning, both text")
            key = tuple(phrase_key(word).split())
            if not key:
                raise GlossaryError(f"{source}: language {language!r}: {word!r} has no letters or digits")
            meanings.setdefault(key, meaning.strip())  # a word two languages share: the first one listed
    return Glossary(meanings, source)


def load_glossary(path: Path) -> Glossary:
    return parse_glossary(read_yaml(path, GlossaryError, "the glossary"), str(path))
