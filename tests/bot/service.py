"""Helpers for service tests: settings in a temp directory with the demo FAQ imported."""
from __future__ import annotations

from pathlib import Path

from bot.settings import Settings
from knowledge.database import Database
from knowledge.faq.formats import read_faq_file
from knowledge.faq.store import FaqStore

DEMO_FAQ = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "faq.yaml"
ADMIN_TOKEN = "test-admin-token-0123456789"


def demo_settings(tmp_path: Path, **changes: object) -> Settings:
    """Settings over a fresh data directory whose database holds the demo FAQ."""
    # No random sample of answers queued for review: tests count the queue exactly.
    settings = Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, max_wait_ms=1.0, review_sample_rate=0.0)
    store = FaqStore(Database.open(settings.database_url))
    store.import_entries(read_faq_file(DEMO_FAQ).entries, "test")
    store.database.close()
    return settings.with_changes(**changes)


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Supportbot-Author": "tester"}
