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

A message names one when the name's words appear in it as whole words once case, accents and
punctuation are set aside ("NETFLIX's", "disney plus" for "Disney Plus"). The responder then
says honestly that it can only help with the shop, and offers a person, unless the message asks
for a person, names one of the shop's orders, or is answered by an ``answered_by`` entry.

Example::

    others = parse_other_companies({"names": ["Amazon"], "answered_by": ["price-match"]})
    others.named("my Amazon parcel is late")      # "Amazon"
    others.named("amazonian plants?")             # None
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core.phrases import phrase_key

DEFAULT_OTHER_COMPANIES = Path(__file__).resolve().parent / "demo" / "other_companies.yaml"


class OtherCompaniesError(ValueError):
    pass


@dataclass(frozen=True)
class OtherCompanies:
    by_key: dict[str, str] = field(default_factory=dict)  # the name's key (``phrase_key``) -> the name as written
    answered_by: frozenset[str] = frozenset()  # FAQ entries that answer questions about other companies
    source: str = ""

    def named(self, text: str) -> str | None:
        """The listed company ``text`` names (as the file writes it; the longest name that fits:
        "Disney Plus" over "Disney+"), or None."""
        if not self.by_key:
            return None
        words = f" {phrase_key(text)} "
        return next((self.by_key[key] for key in sorted(self.by_key, key=len, reverse=True)
                     if f" {key} " in words), None)


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
        key = phrase_key(name)
        if not key:
            raise OtherCompaniesError(f"{source}: the name {name!r} has no letters or digits")
        by_key.setdefault(key, name)
    return OtherCompanies(by_key, frozenset(answered_by), source)


def load_other_companies(path: Path) -> OtherCompanies:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise OtherCompaniesError(f"{path}: cannot read the other companies: {error}") from None
    return parse_other_companies(data, str(path))
