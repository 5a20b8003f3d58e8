"""Schema migrations of the knowledge database (Alembic).

``history.py`` says where a database stands and upgrades it; ``versions/`` holds one revision per
schema change; ``env.py`` is the migration environment; ``cli.py`` is ``supportbot db``.

Changing the schema: edit the tables in ``knowledge/database.py``, then add the revision that
makes the same change (``supportbot db revision "what changed"`` drafts it from the difference;
read and finish it by hand). ``tests/knowledge/test_migrations.py`` fails while the newest
revision's schema and ``knowledge.database.metadata`` differ.
"""
