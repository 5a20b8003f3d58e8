"""Schemas of releases that made their tables with ``create_all`` and recorded no revision, copied
as those releases had them, so the migration tests can make the databases that are out there.

``FIRST_RELEASE`` is ``knowledge/database.py`` of the first release (commit ac5320a);
``HANDOFFS_RELEASE`` adds the handoff tables as commit 4f936d1 made them. Never change these
to follow ``knowledge/database.py``: they stand for databases that already exist.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

FIRST_RELEASE = MetaData()
metadata = FIRST_RELEASE

faq_entries = Table(
    "faq_entries",
    metadata,
    Column("faq_id", String(64), primary_key=True),
    Column("question", Text, nullable=False),
    Column("alternatives", Text, nullable=False),  # JSON list of strings
    Column("answer", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list of strings
    Column("language", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

# One row per change. ``id`` orders every change in the knowledge base: the highest id is the
# FAQ revision an index was built from.
faq_revisions = Table(
    "faq_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("faq_id", String(64), ForeignKey("faq_entries.faq_id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # create, edit, remove, restore, revert, import
    Column("author", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("before", Text),  # JSON content before the change, NULL when created
    Column("after", Text),  # JSON content after the change, NULL when removed
    Index("ix_faq_revisions_entry", "faq_id", "revision", unique=True),
)


conversations = Table(
    "conversations",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("handoff", Boolean, nullable=False, default=False),  # a person has taken over
    Column("handoff_at", String(40)),
)

# One row per message the bot answered. ``review`` is "pending" for turns staff should look at
# (fallbacks, low confidence, thumbs down, handoffs), then what staff decided.
turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("action", String(16), nullable=False),  # answer, clarify, fallback, handler, rejected
    Column("intent", String(100)),
    Column("confidence", Float),
    Column("in_scope", Boolean),
    Column("faq_id", String(64)),
    Column("faq_score", Float),
    Column("choices", Text),  # JSON list of offered FAQ ids
    Column("reply", Text, nullable=False),
    Column("bundle_version", String(100)),
    Column("latency_ms", Float, nullable=False),
    Column("review", String(16)),
    Index("ix_turns_session", "session_id", "id"),
    Index("ix_turns_review", "review", "id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id"), nullable=False, unique=True),
    Column("value", Integer, nullable=False),  # +1 helpful, -1 not helpful
    Column("created_at", String(40), nullable=False),
)


# Messages in a staff chat that stand for a conversation handed to a person: the request with
# its transcript, each customer message relayed there, and the staff's replies. A staff reply to
# any of them reaches that customer. Whether a person has the conversation is
# ``conversations.handoff``. Chat ids are text: Telegram's need 64 bits, other channels use names.
staff_relays = Table(
    "staff_relays",
    metadata,
    Column("staff_chat", String(64), primary_key=True),
    Column("staff_message_id", Integer, primary_key=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("user_chat", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)


# Support staff who sign in to the console (``supportbot staff add NAME``). The password is
# stored as a salted scrypt hash only.
staff = Table(
    "staff",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", String(300), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

# Signed-in console sessions. Only the sha256 of the cookie's token is stored, so a copy of
# the database cannot be used to sign in; ``csrf_token`` must come back with every change.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(64), ForeignKey("staff.name"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

# What staff decided about a queued turn (see ``knowledge.conversations.reviews``): the turn's text is copied
# so retraining reads labels without joining the conversation log.
review_labels = Table(
    "review_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", Integer, ForeignKey("turns.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # faq, new_faq, intent, out_of_scope, dismissed
    Column("value", String(100)),  # the FAQ id or the intent label
    Column("author", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_review_labels_created", "created_at"),
    Index("ix_review_labels_turn", "turn_id"),
)


HANDOFFS_RELEASE = MetaData()
for _table in FIRST_RELEASE.tables.values():
    _table.to_metadata(HANDOFFS_RELEASE)
metadata = HANDOFFS_RELEASE

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("open_session", String(128), unique=True),
    Column("channel", String(32), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # waiting, with_staff, closed
    Column("opened_at", String(40), nullable=False),
    Column("claimed_by", String(200)),
    Column("claimed_at", String(40)),
    Column("first_reply_at", String(40)),
    Column("closed_at", String(40)),
    Column("closed_by", String(200)),
    Index("ix_handoffs_state", "state", "opened_at"),
    Index("ix_handoffs_session", "session_id", "id"),
)

# What happened in a handoff besides the customer's own messages (those are turns with action
# ``relayed``): opened, claimed, a staff message, closed. With the turns, the transcript.
handoff_events = Table(
    "handoff_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("handoff_id", Integer, ForeignKey("handoffs.id"), nullable=False),
    Column("session_id", String(128), ForeignKey("conversations.session_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # opened, claimed, message, closed
    Column("author", String(200), nullable=False),
    Column("source", String(16), nullable=False),  # bot, console, api, telegram
    Column("text", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Index("ix_handoff_events_session", "session_id", "id"),
)

