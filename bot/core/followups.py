"""Reading a message against the one before: does it follow up, point back, ask the same about
something else, or ask the same question again? Word rules only, no model.

Example::

    follows_up("and what about PayPal?")          # True
    swaps_subject("ok what about the uk then")    # True
    asked_again("how do i return it", "how can i return it??")   # True
    holds_on("hang on let me find it")            # True
"""
from __future__ import annotations

import re

from bot.core.phrases import OPENERS
from bot.core.text import SENTENCE_WORDS, sentences, word_count

FOLLOW_UP_WORDS = 12  # a longer message stands on its own
POINTERS = frozenset({"that", "it", "this", "those", "them"})  # words that point back at the message before
FILLERS = frozenset({"ok", "okay", "alright", "right", "hmm", "oh", "well"})  # acknowledgements a follow-up opens with
SWAPS = frozenset({"what about", "how about"})  # openings that ask the question before about something else
CONTINUERS = frozenset({"and", "also", "plus", "so"})  # a message opening with one goes on from the one before
# Asking the bot to wait ("hang on let me find it", "one sec"): not a goodbye, and while a handler
# waits for an answer (an order number), its question stays open.
HOLD_ON = re.compile(r"\b(?:hang|hold)\s+on\b|(?:\b1\s*|\b(?:one|a|just\s+a)\s+)(?:sec|secs|second|moment|min|minute|mo)\b"
                     r"(?=\s*(?:$|[,.!…]|pls\b|please\b|let\b|while\b|i\b|i'll\b|ill\b))"  # not "a second order"
                     r"|\bgive\s+me\s+a\s+(?:sec|second|moment|min|minute|mo)\b"
                     r"|\blet\s+me\s+(?:find|check|look|grab|dig|search)\b|\bbrb\b"
                     r"|\b(?:looking|searching)\s+for\s+it\b", re.IGNORECASE)
HOLD_ON_WORDS = 8  # a longer message says more than "wait": it is read for what it says
# what else a message that only asks the bot to wait says ("ok one sec, let me find the number")
HOLD_FILLERS = frozenset({"ok", "okay", "k", "kk", "sorry", "pls", "plz", "please", "wait", "just", "i", "i'm",
                          "im", "i'll", "ill", "let", "me", "find", "check", "look", "grab", "dig", "search",
                          "up", "for", "it", "the", "a", "an", "my", "order", "number", "receipt", "email",
                          "one", "sec", "secs", "second", "moment", "min", "minute", "mo", "hang", "hold",
                          "on", "brb", "give", "while", "looking", "searching", "getting", "finding",
                          "checking", "yeah", "yes", "yep", "sure", "thanks", "thx", "ty", "hmm", "um", "uh",
                          "lol", "bear", "with", "1", "get"})
# How a message that asks something opens (after a "hi" or an "ok"), when it has no question mark
QUESTION_OPENERS = frozenset({"how", "can", "could", "what", "whats", "what's", "when", "where", "why", "which", "do",
                              "does", "is", "are", "will", "would", "should", "may", "pls", "please"})
REQUESTS = ("i want", "i need", "i'd like", "id like", "i would like", "i wanna")
# ... or when it is a command: a verb of the shop's tasks and what it acts on ("cancel NW-100001",
# "change the address on NW-100002"; not "cancel that, found it", "change of plan", "track says ...")
COMMAND = re.compile(r"(?:cancel|change|update|amend|edit|modify|return|refund|exchange|swap|track|send|resend"
                     r"|delete|remove|add|redirect|reroute) (?:my|the|this|it|an?|our|order|orders|item|items"
                     r"|parcel|package|nw|\d)\b")
# Where one sentence goes on with another question: "and", "also", "plus" or a comma before words
# that open one ("how long does delivery take and can i pay with paypal"; not "... and is missing
# the lid", which goes on telling)
_GOES_ON_TELLING = frozenset({"is", "are", "will", "would", "should", "may", "pls", "please"})
_OPENS = "|".join(sorted((*(QUESTION_OPENERS - _GOES_ON_TELLING), *REQUESTS), key=len, reverse=True))
QUESTION_JOINT = re.compile(rf"(?:,\s*|\s)(?:and|also|plus|&)\s+(?=(?:{_OPENS})\b)|,\s*(?=(?:{_OPENS})\b)",
                            re.IGNORECASE)
# the greetings a message may open with, as word lists, longest first ("good morning, how do I ...")
GREETINGS = sorted((opener.split() for opener in OPENERS), key=len, reverse=True)
NO_WORDS = frozenset({"no", "nope", "nah"})  # a message opening with one answers a question with no ...
NO_GOES_ON = frozenset({"i", "i'm", "im", "thanks", "thank", "thx"})  # ... when a clause's end or one of these follows
CLAUSE_END = re.compile(r"[,.!?;:]+(?=\s|$)")  # not the point of "12.5 cm"
# A message opening with one of these adds to the one before ("for a toaster i sent back last week"
# after "refund??"): it is the rest of a sentence, not one of its own
PREPOSITIONS = frozenset({"for", "to", "on", "about", "with", "from", "in", "at", "by", "via", "regarding"})
FRAGMENT_WORDS = 3  # a message this short says no more than a part of a sentence ("the student one")
PREPOSITION_FRAGMENT_WORDS = 8  # ... and one opening with a preposition at most this long ("on monday i ordered ...")
STOP_WORDS = frozenset(["a", "an", "and", "are", "can", "could", "do", "does", "for", "how", "i", "i'm", "is", "it", "me", "my", "of", "on", "or", "please", "pls", "the", "to", "what", "when", "where", "which", "why", "will", "with", "you", "your"])


def holds_on(text: str) -> bool:
    """Does the message ask the bot to wait while the customer looks something up ("hang on let
    me find it", "one sec", "give me a minute")? Short, a question mark nowhere, and nothing else
    said ("hang on, you charged me twice" is a complaint; "hang on its 100002" gives the number).

    >>> holds_on("hang on let me find it"), holds_on("hang on, can I return a kettle I bought in a sale?")
    (True, False)
    """
    if "?" in text or not HOLD_ON.search(text):
        return False
    words = _tokens(text.replace("’", "'"))
    return len(words) <= HOLD_ON_WORDS and all(word in HOLD_FILLERS for word in words)


def asks_something(text: str) -> bool:
    """Does the message ask a question or make a request ("can i still cancel NW-100001",
    "I want to change the address on NW-100001", "cancel NW-100001"), rather than only say or give something ("sorry
    typo!! its NW-100001")?

    >>> asks_something("can i still cancel NW-100001"), asks_something("sorry typo!! its NW-100001")
    (True, False)
    """
    if "?" in text:
        return True
    words, start = _words(text), 0
    while opener := next((greeting for greeting in GREETINGS if words[start:start + len(greeting)] == greeting), []):
        start += len(opener)  # "hi hi", "hey, hi", and an "ok" after one
        while start < len(words) and words[start] in FILLERS:
            start += 1
    words = words[start:]
    said = " ".join(words)
    return bool(words) and (words[0] in QUESTION_OPENERS or COMMAND.match(said) is not None
                            or any(f"{r} " in f"{said} " for r in REQUESTS))


def questions(text: str) -> list[str]:
    """The questions of a message that asks more than one, each on its own: its sentences, and
    the clauses of a sentence that go on with another question ("how long does delivery take
    and can i pay with paypal"); [] for a message of one. Only parts of ``SENTENCE_WORDS`` or
    more words count (``bot.core.text.sentences``).

    >>> questions("how long does delivery take and can i pay with paypal")
    ['how long does delivery take', 'can i pay with paypal']
    >>> questions("my son and i love it"), questions("where is my order")
    ([], [])
    """
    parts = [clause.strip() for sentence in (sentences(text) or [text]) for clause in QUESTION_JOINT.split(sentence)]
    parts = [part for part in parts if word_count(part) >= SENTENCE_WORDS]
    return parts if len(parts) > 1 else []


def points_back(text: str) -> bool:
    """Does the message point back at something said before ("for that", "can I return it")?"""
    return bool(POINTERS & set(_tokens(text)))


def follows_up(text: str) -> bool:
    """Does the message lean on the one before ("and what about PayPal?", "do I pay for that")?
    Short, and opening with "and", "also", "what about"... (after an "ok" or so), or pointing back
    with "that" or "it"."""
    words = _words(text)
    if not words or len(words) > FOLLOW_UP_WORDS:
        return False
    opening = " ".join(words[:2])
    return words[0] in CONTINUERS or opening in SWAPS or bool(POINTERS & set(words))


def adds_to(text: str) -> bool:
    """Is the message a part of a sentence that adds to the one before: a word or three, or
    opening with a preposition? A sentence of its own ("the weather in dublin is awful") is not.

    >>> adds_to("for a toaster i sent back last week"), adds_to("the student one")
    (True, True)
    >>> adds_to("my neighbours dog keeps barking"), adds_to("on monday i ordered a kettle and it still hasnt come")
    (False, False)
    >>> adds_to("我想知道怎么退货然后换一个新的")  # a character of Chinese counts as a word
    False
    """
    words = _words(text)
    count = word_count(" ".join(words))  # 0 only when there are no words
    return count > 0 and (count <= FRAGMENT_WORDS or (words[0] in PREPOSITIONS and count <= PREPOSITION_FRAGMENT_WORDS))


def after_no(text: str) -> str | None:
    """What a message opening with a "no" and a clause says after that clause ("no i don't want
    a person, just tell me how to fix the address" -> "just tell me how to fix the address"), or
    None: it opens otherwise, or little follows (fewer than ``SENTENCE_WORDS`` words).

    >>> after_no("no i dont want a person, just tell me if i can return opened coffee")
    'just tell me if i can return opened coffee'
    >>> after_no("no thanks"), after_no("nothing arrived, where is it?")
    (None, None)
    >>> after_no("no one has replied to my email, its been a week")  # "no one" is nobody, not a no
    """
    words = _tokens(text)
    clause = CLAUSE_END.search(text)
    if not words or words[0] not in NO_WORDS or clause is None:
        return None
    said_no = re.match(r"\W*\w+", text)  # the no-word itself
    if len(words) > 1 and words[1] not in NO_GOES_ON and not (said_no and CLAUSE_END.match(text, said_no.end())):
        return None
    rest = text[clause.end():].strip()
    return rest if word_count(rest) >= SENTENCE_WORDS else None


def swaps_subject(text: str) -> bool:
    """Does the message ask the question before about something else ("ok what about the UK
    then", "and how about PayPal?")? Not when that something only points back ("what about
    those"): such a message asks nothing new.

    >>> swaps_subject("ok what about the uk then"), swaps_subject("and what about those")
    (True, False)
    """
    words = _words(text)
    if words and words[0] in CONTINUERS:
        words = words[1:]
    if " ".join(words[:2]) not in SWAPS:
        return False
    return any(word not in POINTERS and word not in STOP_WORDS for word in words[2:])


def _tokens(text: str) -> list[str]:
    """The message's words, casefolded, an apostrophe kept inside one ("don't")."""
    return re.findall(r"[\w']+", text.casefold())


def _words(text: str) -> list[str]:
    """The message's words, without the acknowledgements it opens with ("ok", "alright", ...)."""
    words = _tokens(text)
    while words and words[0] in FILLERS:
        words = words[1:]
    return words


def asked_again(first: str, second: str) -> bool:
    """Is ``second`` the question ``first`` again, in much the same words? (Half their content
    words shared: a customer repeating or rephrasing a question the answer did not settle.)"""
    a, b = _content_words(first), _content_words(second)
    return bool(a and b) and len(a & b) / len(a | b) >= 0.5


def _content_words(text: str) -> set[str]:
    return {word for word in re.findall(r"\w+", text.casefold()) if word not in STOP_WORDS and len(word) > 1}
