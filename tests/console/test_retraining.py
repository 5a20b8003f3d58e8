"""The Retraining page: runs with their decisions, labels undone or changed, one retraining at a time."""
from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from bot.console.retraining import JOB
from bot.settings import Settings
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from knowledge.retraining import RetrainRuns
from tests.bot.test_chat_api import say
from tests.console.helpers import follow, queue_turns

SUMMARY = {"reason": "", "gate_rule": "new themes: 2/8 -> 7/8; old data: intents: 64/66 -> 64/66: no part worse",
           "parts": [{"name": "new themes", "items": 8, "old_right": 2, "new_right": 7, "lost": 0, "gained": 5}],
           "thresholds": [{"name": "FAQ answer margin", "old": "0.124", "new": "0.124", "changed": False,
                           "note": "kept: 11 held-out queries chose them; re-calibrating needs 30"}],
           "findings": [{"kind": "too_few", "subject": "wholesale", "blocking": True,
                         "message": "New intent 'wholesale' has 1 example; 3 are needed to train it and check it.",
                         "fix": "label 2 more"}]}


async def test_runs_show_the_decision_parts_thresholds_and_findings(client: TestClient, settings: Settings,
                                                                   csrf: str) -> None:
    page = await follow(client, "/console/retraining")
    assert "No retraining yet." in page and '<strong id="serving-version">fake-1</strong>' in page
    runs = RetrainRuns(Database.open(settings.database_url))
    runs.finish(runs.start("v2", "v1", "cron"), "published", "v2", SUMMARY, "/srv/training/runs/v2/report.md")
    page = await follow(client, "/console/retraining")
    assert "Gate: new themes: 2/8 -&gt; 7/8" in page and "<td>2/8</td><td>7/8</td>" in page
    assert "FAQ answer margin: 0.124 → 0.124: kept: 11 held-out queries" in page
    assert "blocks the run</span> New intent &#39;wholesale&#39; has 1 example" in page
    assert "started" in page and "by cron" in page and "v1 → v2" in page
    runs.start("v3", "v2", "ana")  # a run in progress elsewhere: no second one
    assert "A retraining is running" in await follow(client, "/console/retraining")
    response = await client.post("/console/retraining/start", data={"csrf_token": csrf})
    assert response.status == 409 and "one runs at a time" in await response.text()


async def test_labels_are_undone_and_changed_with_their_faq_phrasing(client: TestClient, settings: Settings,
                                                                     csrf: str) -> None:
    database = Database.open(settings.database_url)
    reviews, store = Reviews(database), FaqStore(database)
    first, second = queue_turns(settings, ("can i collect in store", "fallback"), ("loyalty card?", "fallback"))
    reviews.label([first], "intent", "pickup", "ana")
    reviews.label([second], "intent", "loyalty", "ana")
    page = await follow(client, "/console/retraining")
    assert "can i collect in store" in page and "<code>pickup</code>" in page
    response = await client.post("/console/labels/change", data={"csrf_token": csrf, "turn": str(first),
                                                                 "kind": "faq", "faq_id": "shipping-times"})
    assert response.status == 200 and "Label changed." in await response.text()
    assert "can i collect in store" in store.get("shipping-times").alternatives
    assert (await say(client, "can i collect in store"))["faq_id"] == "shipping-times"  # live at once
    response = await client.post("/console/labels/undo", data={"csrf_token": csrf, "turn": str(first)})
    assert "Label undone" in await response.text()
    assert "can i collect in store" not in store.get("shipping-times").alternatives
    assert [t.id for t in reviews.pending()] == [first] and [x.turn_id for x in reviews.labels()] == [second]
    response = await client.post("/console/labels/undo", data={"csrf_token": csrf, "turn": str(first)})
    assert response.status == 409 and "have no label" in await response.text()


async def test_retrain_now_runs_in_the_background_one_at_a_time(client: TestClient, settings: Settings,
                                                                 csrf: str) -> None:
    """A run in the background, one at a time; one that failed shows its error line after a reload."""
    workspace = settings.data_dir / "training"
    workspace.mkdir(parents=True)
    (workspace / "workspace.json").write_text("{}", encoding="utf-8")  # not a workspace: the run fails at once
    response = await client.post("/console/retraining/start", data={"csrf_token": csrf, "dry_run": "1"})
    assert response.status == 200 and "Checking the labels" in await response.text()
    job = client.app._subapps[0][JOB]  # the console sub-application's job
    assert job.what == "label check" and job.by == "ana"
    second = await client.post("/console/retraining/start", data={"csrf_token": csrf})
    assert second.status == 409 or not job.running()
    assert job.task is not None
    await asyncio.wait_for(job.task, 120)  # nothing changes
    assert not job.running() and job.process is not None and job.process.returncode != 0
    page = await follow(client, "/console/retraining")
    assert 'id="retrain-failed"' in page and "The label check that ana started failed" in page
    assert "supportbot retrain: error:" in page and "not a supportbot-training-workspace version 2 file" in page
    assert "console-retrain.log" in page and "No retraining yet." in page


async def test_without_a_training_workspace_the_page_says_how_to_create_one(client: TestClient, settings: Settings,
                                                                          csrf: str) -> None:
    """Nothing to retrain from: the page says so and how to make one, and starts nothing."""
    page = await follow(client, "/console/retraining")
    assert 'id="no-workspace"' in page and "No training workspace" in page and "supportbot retrain init" in page
    assert page.count("disabled") >= 2 and 'aria-describedby="no-workspace"' in page
    response = await client.post("/console/retraining/start", data={"csrf_token": csrf, "dry_run": "1"})
    text = await response.text()
    assert response.status == 409 and "No training workspace" in text and "supportbot retrain init" in text
    assert client.app._subapps[0][JOB].process is None  # nothing was started


async def test_the_review_queue_merges_repeats_with_a_count(client: TestClient, settings: Settings, csrf: str) -> None:
    ids = queue_turns(settings, *[("Do you deliver on Sundays?", "fallback")] * 3, ("loyalty card?", "fallback"))
    page = await follow(client, "/console/review")
    assert page.count('class="queued"') == 2 and "asked 3 times" in page
    response = await client.post("/console/review/label", data={"csrf_token": csrf, "turn": str(ids[2]),
                                                               "kind": "dismissed"})
    assert response.status == 200
    assert [t.id for t in Reviews(Database.open(settings.database_url)).pending()] == [ids[3]]  # all three labelled
