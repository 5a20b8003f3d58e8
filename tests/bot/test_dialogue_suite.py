"""The dialogue suite itself: well-formed, big enough, about what the bot knows, with a held-out
part that is not the tuning part in other words; and, where a demo bundle has been built
(``make demo-bundle``), the tuning part played against it over the real chat API."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from benchmarks.dialogue_suite import CATEGORIES, PARTS, SUITE_DIR, load_suite, play, summary
from bot.app import create_app, demo_handlers
from bot.core.routing import DEFAULT_ROUTING, load_routing
from bot.settings import Settings
from knowledge.faq.formats import read_faq_file
from tests.bot.service import DEMO_FAQ

# A data directory with a demo bundle built by this release (``make demo-bundle``); the tuning
# part is played against it when set. CI has none (building it takes minutes on 2 cores):
# benchmarks/dialogues.py is the measurement, results in benchmarks/results/dialogues.md.
# The data directory `make run` builds the demo bundle in (the repository's data/), or another one
DEMO_DATA = Path(os.environ.get("SUPPORTBOT_DIALOGUE_DATA", Path(__file__).resolve().parents[2] / "data"))


def test_the_suite_is_well_formed_and_covers_every_category() -> None:
    faq_ids = {entry.faq_id for entry in read_faq_file(DEMO_FAQ).entries}
    parts = {name: load_suite(SUITE_DIR / f"{name}.yaml", faq_ids) for name in PARTS}
    tuning, heldout = parts["tuning"], parts["heldout"]
    assert len(tuning) + len(heldout) >= 150 and all(len(parts[name]) >= 40 for name in PARTS[2:])
    every = [d for part in parts.values() for d in part]
    ids = [d.id for d in every]
    assert len(ids) == len(set(ids))
    for part in parts.values():
        counts = Counter(d.category for d in part)
        assert set(counts) == set(CATEGORIES) and min(counts.values()) >= 4, counts
    handlers = set(demo_handlers())
    named = {t.expect.handler for d in every for t in d.turns if t.expect and t.expect.handler}
    assert named <= handlers, named - handlers
    routed = load_routing(DEFAULT_ROUTING, demo_handlers()).handler_intents()
    assert named - {"order_status"} <= routed | {"human_handoff"}
    said = {t.say.casefold().strip() for d in tuning for t in d.turns if t.say}
    for name in PARTS[1:]:
        repeated = [t.say for d in parts[name] for t in d.turns if t.say and t.say.casefold().strip() in said
                    and len(t.say.split()) > 3]
        assert repeated == [], f"{name} messages are not copies of earlier parts' ones"
        said |= {t.say.casefold().strip() for d in parts[name] for t in d.turns if t.say}


@pytest.mark.skipif(not (DEMO_DATA / "bundles" / "current").exists(),
                    reason="no demo bundle yet: `make run` builds one in data/ (or set SUPPORTBOT_DIALOGUE_DATA)")
async def test_the_tuning_part_passes_on_the_demo_bundle(tmp_path: Path) -> None:
    import shutil

    from aiohttp.test_utils import TestServer

    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data, symlinks=True, ignore=shutil.ignore_patterns("demo-build", "training"))
    app = create_app(Settings(data_dir=data, address_rate_per_minute=1_000_000, max_in_flight=1000,
                              review_sample_rate=0.0))
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = str(server.make_url("")).rstrip("/")
            outcomes = [await play(http, url, d) for d in load_suite(SUITE_DIR / "tuning.yaml")]
    finally:
        await server.close()
    result = summary(outcomes)
    assert result["overall"]["pass_rate"] >= 0.85, result["failures"]  # measured 97.9% (94/96); the target is 95%
    assert result["categories"]["small_talk"]["confidently_wrong"] == 0


def test_the_summary_counts_zeros_too() -> None:
    """A run without a confidently wrong answer reports 0, not a missing count."""
    from benchmarks.dialogue_suite import Dialogue, Expect, Outcome, Turn, TurnResult

    dialogue = Dialogue("small_talk-hi-001", "small_talk", (Turn(say="hi", expect=Expect(("handler",))),), "tuning")
    result = summary([Outcome(dialogue, [TurnResult("hi", "handler", None, "greeting", "Hello!")])])
    assert result["overall"]["confidently_wrong"] == 0 and result["overall"]["passed"] == 1
    assert result["categories"]["small_talk"]["confidently_wrong"] == 0


def test_a_blind_parts_failures_are_counted_but_never_written_out(tmp_path: Path) -> None:
    """fresh4 measures conversations nobody has read: its results give the counts, not the messages."""
    from benchmarks.dialogue_suite import BLIND_PARTS, Dialogue, Expect, Outcome, Turn, TurnResult
    from benchmarks.dialogues import write

    def failed(part: str) -> Outcome:
        said = f"a message of the {part} part"
        dialogue = Dialogue(f"faq-{part}-001", "faq", (Turn(say=said, expect=Expect(("answer",))),), part)
        return Outcome(dialogue, [TurnResult(said, "fallback", None, None, "Sorry", ["expected answer"])])

    blind = BLIND_PARTS[0]
    data = write({"tuning": [failed("tuning")], blind: [failed(blind)]}, tmp_path, "v-test")
    written = (tmp_path / "dialogues.md").read_text() + (tmp_path / "dialogues.json").read_text()
    assert "a message of the tuning part" in written and f"a message of the {blind} part" not in written
    assert data["parts"][blind]["overall"]["passed"] == 0 and "1, not listed" in written
