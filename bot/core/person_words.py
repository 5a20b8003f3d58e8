"""A request for a person in so many words: "I'd like to speak to someone about my refund".

The intent model reads most requests for a person well, but one that names its topic can read as
that topic's question ("... about my refund": the refund-timing answer, with every demo bundle), and
"can a member of staff call me back" as a return question. A customer who asks for a person gets
one (``bot.core.policy``), so such a request is recognised by its words as well: asking to speak,
talk or chat to someone, to be put through to someone, or to be called. Not when negated ("I
don't need to talk to anyone") or told as a story ("I tried to talk to support yesterday").
English only, as the other word rules.

Example::

    asks_for_person("can a member of staff call me back")          # True
    asks_for_person("I don't need to talk to anyone, just the price")   # False
"""
from __future__ import annotations

import re

_WHO = (r"(?:some\s*one|some\s*body|any\s*one|any\s*body"
        r"|a\s+(?:real\s+|live\s+|actual\s+)?(?:person|human|agent|rep|representative|operator|manager|supervisor)"
        r"|an\s+(?:actual\s+)?(?:agent|operator|adviser|advisor|employee)"
        r"|(?:a|your)\s+(?:customer\s+(?:service|support)\s+)?(?:agent|rep|representative|advisor|adviser|team)"
        r"|your\s+(?:manager|supervisor|boss|staff|team|colleague)"
        r"|(?:a\s+)?member\s+of\s+(?:your\s+|the\s+)?(?:staff|team|support\s+team)|staff|a\s+staff\s+member"
        r"|(?:real|live|actual)\s+(?:people|humans|person|human|agent)|customer\s+(?:service|support|care)"
        r"|support|humans?|people)")
_CALLER = (r"(?:some\s*one|some\s*body|a\s+person|a\s+human|an\s+agent|(?:a\s+)?member\s+of\s+(?:your\s+|the\s+)?"
           r"(?:staff|team)|your\s+team|staff)")  # not "you" nor "will": "will someone call me before delivery?"
ASKS = re.compile(rf"\b(?:speak|talk|chat)\s+(?:to|with)\s+{_WHO}\b"
                  rf"|\b(?:connect|transfer|put|pass)\s+me\s+(?:through\s+|over\s+|on\s+)?(?:to|with)\s+{_WHO}\b"
                  rf"|\b(?:can|could|would)\s+{_CALLER}\s+(?:please\s+)?(?:call|ring|phone)\s+me\b"
                  r"|\b(?:can|could)\s+you\s+(?:please\s+)?(?:call|ring|phone)\s+me\b", re.IGNORECASE)
# What comes right before a request that is none: a negation of it ("I don't really want to talk to
# anyone"; a negation further back is about something else: "my order has not arrived I want to talk
# to someone"), or a story of one made before ("I tried to talk to support yesterday").
NOT_ASKING = re.compile(r"(?:\b(?:don'?t|do\s+not|doesn'?t|does\s+not|no\s+need\s+to|not|never|won'?t|without)\s+"
                        r"(?:really\s+|actually\s+|even\s+)?(?:[\w']+\s+){0,2}"
                        r"|\b(?:tried|trying|told\s+me|asked\s+me|had|went)\s+to\s+)$", re.IGNORECASE)
LOOK_BACK = 60  # characters before a request that may negate it (bounded: a 100,000-character message is no slower)


def asks_for_person(text: str) -> bool:
    """Does the message ask, in so many words, to speak to a person or be called by one?

    >>> asks_for_person("I'd like to speak to someone about my refund"), asks_for_person("no i dont want a person")
    (True, False)
    """
    text = text.replace("’", "'")
    return any(not NOT_ASKING.search(text[max(0, match.start() - LOOK_BACK):match.start()])
               for match in ASKS.finditer(text))
