"""Other companies: a message about another company's service is not a question for this shop.

Customers write to a shop's chat about whatever is on their mind: "how do i cancel my netflix
subscription", "my amazon package is 2 days late, can you check on it?". By meaning such a
message is close to the shop's own FAQ (cancelling an order, a late parcel), and both models
read it as one: the bot answered with the shop's cancellation policy, or asked for an order
number. The name is what tells. The other-companies file (YAML; the demo's is
``bot/core/demo/other_companies.yaml``) lists such names, and the FAQ entries that are about
other companies (``answered_by``: "will you match amazon's price?" is the shop's price-match
question)::

    names: [Amazon, Netflix, Disney+]
    answered_by: [price-match]

A message names one when the name's words appear in it as whole words once case and punctuation
are set aside ("NETFLIX's"; "+" reads "plus": "disney+" is "Disney Plus", and "disney toys" names
nothing). Accents count: the German "über" is not Uber. The responder then says honestly that it
can only help with the shop, and offers a person, when the message would otherwise get an FAQ
reply (an answer, choices or a fallback) or go to a handler that looks up something it names (the
order handler: "my amazon parcel is late"), unless an ``answered_by`` entry answers it; small
talk, complaints and requests for a person are answered as ever.

Example::

    others = parse_other_companies({"names": ["Amazon"], "answered_by": ["price-match"]})
    others.named("my Amazon parcel is late")      # "Amazon"
    others.named("amazonian plants?")             # None
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.config_file import read_yaml

DEFAULT_OTHER_COMPANIES = Path(__file__).resolve().parent / "demo" / "other_companies.yaml"
_NOT_WORD = re.compile(r"[\W_]+")


def name_key(text: str) -> str:
    """What names and messages are compared by: case-folded, "+" read as "plus", and every run of
    anything that is not a letter or digit one space; accents are kept ("über" is not "uber").

    >>> name_key("Disney+ / NETFLIX's")
    'disney plus netflix s'
    """
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFC", text.casefold()).replace("+", " plus ")).strip()


class OtherCompaniesError(ValueError):
    pass


@dataclass(frozen=True)
class OtherCompanies:
    # the name's key (``name_key``) -> the name as written, longest key first ("Amazon Prime" over "Amazon")
    by_key: dict[str, str] = field(default_factory=dict)
    answered_by: frozenset[str] = frozenset()  # FAQ entries that answer questions about other companies
    source: str = ""

    def named(self, text: str) -> str | None:
        """The listed company ``text`` names (as the file writes it; the longest name that fits:
        "Amazon Prime" over "Amazon"), or None."""
        if not self.by_key:
            return None
        words = f" {name_key(text)} "
        return next((name for key, name in self.by_key.items() if f" {key} " in words), None)


def parse_other_companies(data: object, source: str = "other companies") -> OtherCompanies:
    """Check an other-companies mapping; errors name the file and the field."""
    if data is None:
        return OtherCompanies(source=source)
    if not isinstance(data, dict) or set(data) - {"names", "answered_by"}:
        raise OtherCompaniesError(f"{source}: expected a mapping with 'names' and 'answered_by' only")
    names, answered_by = data.get("names") or [], data.get("answered_by") or []
    for key, listed in (("names", names), ("answered_by", answered_by)):
        if not isinstance(listed, list) or not all(isinstance(item, str) and item.strip() for item in listed):
            raise OtherCompaniesError(f"{source}: {key}: expected a list of non-empty strings")
    by_key: dict[str, str] = {}
    for name in names:
        key = name_key(name)
        if not key:
            raise OtherCompaniesError(f"{source}: the name {name!r} has no letters or digits")
        by_key.setdefault(key, name)
    longest_first = dict(sorted(by_key.items(), key=lambda item: -len(item[0])))
    return OtherCompanies(longest_first, frozenset(answered_by), source)


def load_other_companies(path: Path) -> OtherCompanies:
    data = read_yaml(path, OtherCompaniesError, "the other companies")
    return parse_other_companies(data, str(path))
