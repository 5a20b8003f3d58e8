"""The brain keeper's rebuilds run in their own thread, at a lower CPU priority than serving."""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from bot.core.brain import BACKGROUND_NICENESS, BrainKeeper
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel


def _thread_state() -> tuple[str, int]:
    return threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are a Linux feature")
async def test_rebuilds_run_at_a_lower_priority_and_leave_serving_threads_alone(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    store = FaqStore(Database.open(settings.database_url))
    keeper = await BrainKeeper.open(settings, store, KeywordModel())
    try:
        here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        name, niceness = await keeper.in_background(_thread_state)
        assert name.startswith("rebuild") and niceness == min(19, here + BACKGROUND_NICENESS)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here  # the caller's is untouched
        assert len(keeper.current.entries) == 52 and await keeper.faq_changed() == store.kb_revision()
    finally:
        keeper.close()
        store.database.close()
