"""The FAQ entry: what staff write and the bot answers from, and the rules it must follow.

Example::

    entry = FaqEntry(faq_id="returns-policy", question="Can I return an item?",
                     answer="Yes, within 30 days.", alternatives=("How do returns work?",))
    problems = validate_entry(entry)          # [] when the entry is fine
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

from knowledge.errors import Problem

TELEGRAM_MESSAGE_LIMIT = 4096  # longer answers are split by the Telegram channel: warn
MAX_ANSWER_CHARS = 20_000
MAX_QUESTION_CHARS = 500
MAX_ALTERNATIVES = 50
MAX_TAGS = 20
# Matched with fullmatch: "$" would accept a trailing newline.
FAQ_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TAG_PATTERN = re.compile(r"[\w][\w .-]{0,39}")
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
CONTENT_FIELDS = ("faq_id", "question", "alternatives", "answer", "tags", "language", "enabled")


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ entry. ``revision``, ``updated_at`` and ``updated_by`` are set by the store."""

    faq_id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str = "en"
    enabled: bool = True
    revision: int = 0
    updated_at: str | None = None
    updated_by: str | None = None

    def phrasings(self) -> tuple[str, ...]:
        """The question followed by its alternatives: every text the index matches against."""
        return (self.question, *self.alternatives)

    def content(self) -> dict[str, object]:
        """The fields staff edit, as plain JSON-ready values (what revisions and exports store)."""
        data = asdict(self)
        return {
            name: list(data[name]) if isinstance(data[name], tuple) else data[name]
            for name in CONTENT_FIELDS
        }

    def same_content(self, other: FaqEntry) -> bool:
        return self.content() == other.content()

    def with_changes(self, **changes: object) -> FaqEntry:
        """A copy with some content fields changed; lists become tuples."""
        for name in ("alternatives", "tags"):
            if name in changes and not isinstance(changes[name], tuple):
                # A non-iterable raises TypeError here, which the admin API answers with 400.
                changes[name] = tuple(changes[name])  # type: ignore[arg-type]  # any iterable, checked at run time
        return replace(self, **changes)  # type: ignore[arg-type]  # unknown names raise TypeError; validate_entry checks values


def entry_from_content(content: dict[str, object], *, revision: int = 0, updated_at: str | None = None,
                       updated_by: str | None = None) -> FaqEntry:
    """Rebuild an entry from ``FaqEntry.content()`` (plus store metadata such as revision)."""
    return FaqEntry(
        faq_id=str(content["faq_id"]),
        question=str(content["question"]),
        answer=str(content["answer"]),
        alternatives=tuple(content.get("alternatives") or ()),  # type: ignore[arg-type]  # a JSON list of strings
        tags=tuple(content.get("tags") or ()),  # type: ignore[arg-type]  # a JSON list of strings
        language=str(content.get("language") or "en"),
        enabled=bool(content.get("enabled", True)),
        revision=revision, updated_at=updated_at, updated_by=updated_by,
    )


def normalise_entry(entry: FaqEntry) -> FaqEntry:
    """Strip surrounding whitespace and drop empty or repeated alternatives and tags."""
    question = entry.question.strip()
    alternatives = _unique(a.strip() for a in entry.alternatives)
    alternatives = tuple(a for a in alternatives if a and a != question)
    return replace(
        entry,
        faq_id=entry.faq_id.strip(),
        question=question,
        answer=entry.answer.strip(),
        alternatives=alternatives,
        tags=tuple(t for t in _unique(t.strip() for t in entry.tags) if t),
        language=entry.language.strip() or "en",
    )


# The Markdown links the web chat (chat-text.js, the same pattern) and Telegram make real links of:
# an http(s) address without spaces, brackets or angle brackets. Anything else that looks like a
# link (LINK_LIKE) is shown to customers as written.
LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s()<>]+)\)")
LINK_LIKE = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)")


def validate_entry(entry: FaqEntry, location: str = "entry") -> list[Problem]:
    """Every problem with ``entry`` (errors block saving; warnings are for staff to see)."""
    problems: list[Problem] = []

    def add(field_name: str, message: str, severity: str = "error") -> None:
        problems.append(Problem(location, field_name, message, severity))

    if not FAQ_ID_PATTERN.fullmatch(entry.faq_id):
        add("faq_id", f"expected 1-64 letters, digits, '_', '.' or '-' (starting with a letter "
                      f"or digit), got {entry.faq_id!r}")
    _check_line(entry.question, "question", add)
    if len(entry.alternatives) > MAX_ALTERNATIVES:
        add("alternatives", f"at most {MAX_ALTERNATIVES} alternatives, got {len(entry.alternatives)}")
    for number, alternative in enumerate(entry.alternatives, start=1):
        _check_line(alternative, f"alternatives[{number}]", add)
    if not entry.answer.strip():
        add("answer", "must not be empty")
    elif len(entry.answer) > MAX_ANSWER_CHARS:
        add("answer", f"at most {MAX_ANSWER_CHARS} characters, got {len(entry.answer)}")
    elif len(entry.answer) > TELEGRAM_MESSAGE_LIMIT:
        add("answer", f"{len(entry.answer)} characters is over Telegram's {TELEGRAM_MESSAGE_LIMIT}-"
                      "character message limit; it will be sent in several messages", "warning")
    links = {match.span() for match in LINK.finditer(entry.answer)}
    for match in LINK_LIKE.finditer(entry.answer):
        if not any(start <= match.start() < end for start, end in links):
            add("answer", f"{match.group()} is not a link the chat can show (an http(s) address without "
                          "spaces, brackets or angle brackets): customers see it as written", "warning")
    if len(entry.tags) > MAX_TAGS:
        add("tags", f"at most {MAX_TAGS} tags, got {len(entry.tags)}")
    for tag in entry.tags:
        if not TAG_PATTERN.fullmatch(tag) or "," in tag:
            add("tags", f"a tag is 1-40 letters, digits, spaces, '.', '_' or '-', got {tag!r}")
    if not LANGUAGE_PATTERN.fullmatch(entry.language):
        add("language", f"expected a language code such as 'en' or 'pt-BR', got {entry.language!r}")
    return problems


def _check_line(text: str, field_name: str, add: Callable[[str, str], None]) -> None:
    if not text.strip():
        add(field_name, "must not be empty")
    elif len(text) > MAX_QUESTION_CHARS:
        add(field_name, f"at most {MAX_QUESTION_CHARS} characters, got {len(text)}")
    elif "\n" in text or "\r" in text:
        add(field_name, "must be one line (a question, not a paragraph)")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
