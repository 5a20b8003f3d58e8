"""What a Telegram message holds, in words.

The bot reads only text. Everything else (photos, stickers, voice messages, files, edits) gets
a polite reply while the bot has the conversation (``unreadable_kind`` picks it), and is put
into words for the transcript while a person has it, so the console shows that something came
and what (``customer_words``, ``staff_words``); the message itself is forwarded or copied.

Example::

    describe(photo_message)                   # "a photo"
    customer_words(photo_message)             # "(sent a photo) the box was crushed"
    customer_words(edit, edited=True)         # "(edited a message) my order is 1234"
    staff_words(photo_reply)                  # "(a photo) this is the new one"
"""
from __future__ import annotations

from telegram import Message


def unreadable_kind(message: Message) -> str:
    """Which polite reply a message the bot cannot read gets (a key of ``customers.CANNOT_READ``)."""
    if message.sticker:
        return "sticker"
    if message.photo:
        return "photo"
    if message.voice or message.audio or message.video_note:
        return "voice"
    if message.document or message.video or message.animation:
        return "file"
    return "other"


def describe(message: Message) -> str:
    """What the message is, as a noun: "a photo", "a sticker 👍", "a file: invoice.pdf"."""
    if message.sticker:
        return f"a sticker {message.sticker.emoji}" if message.sticker.emoji else "a sticker"
    if message.photo:
        return "a photo"
    if message.voice:
        return "a voice message"
    if message.video_note:
        return "a video message"
    if message.animation:  # before document: a GIF comes with a document too
        return "a GIF"
    if message.video:
        return "a video"
    if message.audio:
        return _named("an audio file", message.audio.file_name)
    if message.document:
        return _named("a file", message.document.file_name)
    if message.location:
        return "a location"
    if message.contact:
        return "a contact"
    if message.text:
        return "a message"
    return "something the bot cannot show"


def customer_words(message: Message, edited: bool = False) -> str:
    """A customer's message the bot does not read, as the transcript shows it, caption included."""
    head = "(edited a message)" if edited else f"(sent {describe(message)})"
    words = message.text or message.caption
    return f"{head} {words}" if words else head


def staff_words(message: Message) -> str:
    """A staff member's reply as the transcript shows it: its text, or what it is and its caption."""
    if message.text:
        return message.text
    head = f"({describe(message)})"
    return f"{head} {message.caption}" if message.caption else head


def _named(kind: str, name: str | None) -> str:
    return f"{kind}: {name}" if name else kind
