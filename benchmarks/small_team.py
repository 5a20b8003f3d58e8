"""A small support team's labelling session on the demo shop, replayed as the console does it.

Customers ask about four themes the demo bot lacks. Staff, in the console: create two FAQ
entries from the questions (rewriting the customer's question; the customer's wording is kept as
an alternative phrasing), attach the other phrasings to them, label a new intent
``loyalty_programme`` and a new intent ``wholesale``, route both to a person (the shop has no
FAQ for them), and mark junk out of scope. Then ``supportbot retrain``.

``FRESH`` holds other phrasings of the same themes that nobody labels: what the next customers
ask. The scenario test (``tests/training/test_small_team.py``) and the learning-loop benchmark
(``benchmarks/learning_loop.py --scenario small-team``, ``run`` below) both use this module. The
benchmark serves the demo bundle (built as ``make demo-bundle`` builds it, real MiniLM) on
loopback, replays the session (staff route the new intents on the console's Routing page), asks
the fresh phrasings and the demo's FAQ queries over HTTP, runs ``retrain --notify`` while a user
keeps chatting, and asks again.

Example::

    turn_ids = ask(database, LABELLED + JUNK)
    label_session(database, turn_ids)
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.entry import FaqEntry
from knowledge.faq.store import FaqStore
from knowledge.routing import PERSON, RouteStore
from knowledge.staff import StaffAccounts
from training.args import IntentTrainingArgs

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "knowledge" / "demo"
STAFF, STAFF_PASSWORD = "ana", "small team benchmark password"


def demo_train_flags() -> list[str]:
    """The training options of the demo bundle, as ``make demo-bundle`` passes them: the
    Makefile's ``DEMO_TRAIN_FLAGS``, or the environment's, which overrides it as for make."""
    makefile = re.search(r"^DEMO_TRAIN_FLAGS \?= (.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert makefile is not None, "the Makefile sets no DEMO_TRAIN_FLAGS"
    given = os.environ.get("DEMO_TRAIN_FLAGS")
    return shlex.split(makefile[1] if given is None else given)


def demo_flag(name: str, default: float) -> float:
    """One number of ``demo_train_flags`` (``--oos-share 0.25`` or ``--oos-share=0.25``), or
    ``default`` when it is not given."""
    flags = [part for flag in demo_train_flags() for part in flag.split("=", 1)]
    return float(flags[flags.index(name) + 1]) if name in flags[:-1] else default


DEMO_STEPS = int(demo_flag("--min-train-steps", IntentTrainingArgs.min_train_steps))  # its optimizer steps
DEMO_OOS_SHARE = demo_flag("--oos-share", IntentTrainingArgs.oos_share)  # the share its out-of-scope rule is for


@dataclass(frozen=True)
class Theme:
    name: str  # the FAQ id or the intent
    kind: str  # "faq" (a new FAQ entry) or "intent" (a new intent routed to a person)
    labelled: tuple[str, ...]  # what customers asked and staff labelled; the first one created the entry
    fresh: tuple[str, ...]  # other phrasings nobody labels
    question: str = ""  # the entry's question as staff wrote it
    answer: str = ""


THEMES = (
    Theme("store-pickup", "faq", (
        "can i collect my order from one of your shops?", "is click and collect available", "pick up in store possible?",
        "can I get my parcel at your shop instead of delivery", "do you have in store pickup",
        "i'd like to collect the order myself from the store"),
        ("is in-store pickup an option?", "can I grab my order at a branch near me?"),
        "Can I pick up my order in a store?",
        "Yes: choose \"Click & collect\" at checkout and pick your order up at any Northwind store, usually the "
        "next business day. Bring your order number."),
    Theme("weekend-delivery", "faq", (
        "do you deliver on saturdays?", "sunday delivery possible?", "will my parcel come on the weekend",
        "do couriers deliver saturday", "weekend shipping?", "can i get delivery on a sunday"),
        ("do your drivers work weekends?", "do you ship on sundays"),
        "Do you deliver at weekends?",
        "Standard delivery arrives Monday to Friday; express orders placed by Friday noon can arrive on Saturday "
        "in the EU and the UK. We don't deliver on Sundays."),
    Theme("loyalty_programme", "intent", (
        "do you have a loyalty programme", "how do i earn reward points", "is there a points card",
        "do regular customers get rewards", "how many points do i have", "can i redeem my points"),
        ("do I get points when I buy?", "what rewards do members get?")),
    Theme("wholesale", "intent", (
        "do you sell in bulk to businesses", "I need 200 mugs for my cafe, trade price?", "wholesale prices please",
        "can my company order large quantities", "do you offer a trade account", "bulk order discount for a hotel"),
        ("trade discount for large orders?", "we're a restaurant, can we buy wholesale?")),
)
JUNK = ("what's the capital of peru", "write me a poem about cats", "asdfgh jkl", "who won the match last night")
LABELLED = tuple(text for theme in THEMES for text in theme.labelled)
FRESH = tuple((text, theme) for theme in THEMES for text in theme.fresh)


def ask(database: Database, texts: tuple[str, ...]) -> dict[str, int]:
    """Customers ask ``texts``; the bot cannot answer them, so they wait for review. Text -> turn id."""
    records = [TurnRecord(f"web:small-team-{n:03d}", "web", text, "fallback", "Sorry, I don't know that yet.", 5.0,
                          needs_review=True) for n, text in enumerate(texts)]
    return dict(zip(texts, ConversationLog(database).record(records)))


def label_session(database: Database, turns: dict[str, int]) -> None:
    """What staff do in the console with the queued questions (see the module docstring)."""
    store, reviews, routes = FaqStore(database), Reviews(database), RouteStore(database)
    for theme in THEMES:
        first, *rest = [turns[text] for text in theme.labelled]
        if theme.kind == "faq":
            # The create form: staff rewrite the question; the customer's wording stays as a phrasing.
            store.add(FaqEntry(theme.name, theme.question, theme.answer, (theme.labelled[0],), ("delivery",)), STAFF)
            reviews.label([first], "new_faq", theme.name, STAFF)
            entry = store.get(theme.name)  # attach: the texts become alternative phrasings, then the labels
            store.edit(theme.name, entry.revision, STAFF, alternatives=(*entry.alternatives, *theme.labelled[1:]))
            reviews.label(rest, "faq", theme.name, STAFF)
        else:
            reviews.label([first, *rest], "intent", theme.name, STAFF)
            routes.set(theme.name, "handler", PERSON, STAFF)
    reviews.label([turns[text] for text in JUNK], "out_of_scope", None, STAFF)


def run(args: argparse.Namespace) -> None:
    """The benchmark: a demo bundle served on loopback, the session above, retrain with the swap measured."""
    from benchmarks.learning_loop import TOKEN, Clock, _wait, free_port, keep_chatting, supportbot
    from training.args import RetrieverTrainingArgs
    from training.retrain import RetrainFailure, RetrainOptions, retrain
    from training.retrain_cli import SHIPPED_ROUTING

    work, data_dir = args.work, args.work / "data"
    shutil.rmtree(data_dir if args.resume else work, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(data_dir), "SUPPORTBOT_ADMIN_TOKEN": TOKEN,
           "SUPPORTBOT_RATE_LIMIT_PER_MINUTE": "1000000", "SUPPORTBOT_ADDRESS_RATE_PER_MINUTE": "1000000"}
    env.pop("SUPPORTBOT_DB", None)
    clock = Clock()
    supportbot("kb", "import", str(DEMO / "faq.yaml"), env=env)
    supportbot("kb", "export", "--output", str(work / "faq.csv"), env=env)
    if not (work / "joint" / "retriever" / "supportbot_retriever.json").exists():  # the demo bundle, as make builds it
        clock.run("train_first_bundle", supportbot, "train", "joint", "--train", str(DEMO / "intents.csv"), "--faq",
                  str(work / "faq.csv"), "--queries", str(DEMO / "queries.csv"), "--out", str(work / "joint"),
                  *demo_train_flags(), env=env)
    supportbot("export", "--intents", str(work / "joint" / "intents"), "--retriever", str(work / "joint" / "retriever"),
               "--out", str(data_dir / "bundles"), "--version", "v1", "--heldout-intents", str(DEMO / "intents_eval.csv"),
               "--heldout-faq", str(work / "faq.csv"), "--heldout-queries", str(DEMO / "queries.csv"), "--fp32-fallback",
               env=env)
    supportbot("retrain", "init", "--train", str(DEMO / "intents.csv"), "--eval", str(DEMO / "intents_eval.csv"),
               "--queries", str(DEMO / "queries.csv"), "--intents-checkpoint", str(work / "joint" / "intents"),
               "--retriever-checkpoint", str(work / "joint" / "retriever"), env=env)
    database = Database.open(f"sqlite:///{data_dir / 'supportbot.db'}")
    StaffAccounts(database).add(STAFF, STAFF_PASSWORD)
    url = f"http://127.0.0.1:{free_port()}"
    log = open(work / "server.log", "wb")  # noqa: SIM115 (the server writes it until stopped below)
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", url.rsplit(":", 1)[1]], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(url, server)
        label_session(database, ask(database, LABELLED + JUNK))
        asyncio.run(route_live(url, [theme.name for theme in THEMES if theme.kind == "intent"]))
        caught_up(url, FaqStore(database).kb_revision())  # "before" is the old model with the staff's new entries
        before = asyncio.run(customers(url, "before"))
        stop, counts = threading.Event(), {"answered": 0, "failed": 0}
        questions = [row["query"] for row in csv.DictReader((DEMO / "queries.csv").open(encoding="utf-8"))]
        chatter = threading.Thread(target=keep_chatting, args=(url, questions, stop, counts))
        chatter.start()
        options = RetrainOptions(workspace=data_dir / "training", bundles_dir=data_dir / "bundles",
                                 database_url=f"sqlite:///{data_dir / 'supportbot.db'}", notify_url=url,
                                 admin_token=TOKEN, version="v2", routing_file=SHIPPED_ROUTING,
                                 intent_args=IntentTrainingArgs(min_train_steps=DEMO_STEPS),
                                 retriever_args=RetrieverTrainingArgs())
        try:
            report = clock.run("retrain_total", retrain, options)
        except RetrainFailure as failure:  # a rejection is a result: record it, with what customers got
            if failure.report is None:
                raise
            report = failure.report
        finally:
            time.sleep(2)  # keep chatting a moment on the new bundle
            stop.set()
            chatter.join()
        after = asyncio.run(customers(url, "after"))
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    write(args.out, report, before, after, counts, clock.seconds)


def caught_up(url: str, revision: int, seconds: float = 10.0) -> None:
    """Wait until the bot serves FAQ ``revision``: staff edits reach it within a poll or two, and
    a customer asking in between would still get the FAQ before the session."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            if json.load(response)["faq_revision"] == revision:
                return
        time.sleep(0.1)
    raise SystemExit(f"the bot did not serve FAQ revision {revision} within {seconds:g} s")


async def route_live(url: str, intents: list[str]) -> None:
    """Staff route the new intents to a person on the console's Routing page (live at once)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies for 127.0.0.1
        page = await (await http.get(f"{url}/console/signin")).text()
        token = re.search(r'name="signin_token" value="([^"]+)"', page)
        assert token is not None, "no sign-in form"
        page = await (await http.post(f"{url}/console/signin", data={
            "signin_token": token.group(1), "name": STAFF, "password": STAFF_PASSWORD, "next": "/console/routing"})).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf is not None, "not signed in"
        for intent in intents:
            response = await http.post(f"{url}/console/routing", data={"csrf_token": csrf.group(1), "intent": intent,
                                                                      "route": "person"})
            assert response.status == 200, await response.text()


async def customers(url: str, when: str) -> dict[str, object]:
    """New customers ask the fresh phrasings and the demo's fixed FAQ queries; what they got."""
    fresh: list[dict[str, object]] = []
    async with aiohttp.ClientSession() as http:
        for n, (text, theme) in enumerate(FRESH):
            reply = await _say(http, url, f"fresh-{when}-{n}", text)
            right = (reply["action"] == "answer" and reply["faq_id"] == theme.name) if theme.kind == "faq" else \
                (reply["intent"] == theme.name and reply["handler"] == PERSON)
            fresh.append({"text": text, "theme": theme.name, "right": right, "action": reply["action"],
                          "faq_id": reply["faq_id"], "intent": reply["intent"], "bundle": reply["bundle_version"]})
        rows = list(csv.DictReader((DEMO / "queries.csv").open(encoding="utf-8")))
        old = [await _say(http, url, f"old-{when}-{n}", row["query"]) for n, row in enumerate(rows)]
    old_right = sum(r["action"] == "answer" and r["faq_id"] == row["faq_id"] for r, row in zip(old, rows))
    return {"fresh": fresh, "fresh_right": sum(bool(f["right"]) for f in fresh), "fresh_items": len(fresh),
            "old_queries_right": old_right, "old_queries": len(rows)}


async def _say(http: aiohttp.ClientSession, url: str, session: str, text: str) -> dict[str, Any]:
    async with http.post(f"{url}/api/chat", json={"session_id": session, "text": text}) as response:
        assert response.status == 200, await response.text()
        reply: dict[str, Any] = await response.json()
        return reply


def write(out: Path, report: Any, before: dict[str, Any], after: dict[str, Any], during: dict[str, int],
          seconds: dict[str, float]) -> None:
    """The small-team rows of ``learning_loop.json`` and a section of ``learning_loop.md``; the
    BANKING77 rows stay as they are."""
    from benchmarks.machine import describe_machine

    gate = report.gate
    parts = {group["name"]: f"{group['old_right']}/{group['items']} -> {group['new_right']}/{group['items']}"
             for group in gate.get("groups", [])}
    rows = {"machine": describe_machine(), "published": report.new_bundle,
            "gate": {"publish": gate.get("publish"), "rule": gate.get("rule"), "parts": parts},
            "thresholds": report.thresholds, "label_findings": report.labels.get("findings", []),
            "fresh_phrasings_right": {"before": before["fresh_right"], "after": after["fresh_right"],
                                      "items": after["fresh_items"]},
            "demo_queries_answered_right": {"before": before["old_queries_right"], "after": after["old_queries_right"],
                                            "items": after["old_queries"]},
            "during_swap": during, "fresh_before": before["fresh"], "fresh_after": after["fresh"],
            "step_seconds": {**seconds, **{f"retrain_{k}": v for k, v in report.seconds.items()}},
            "parity_gate": report.export.get("verdict")}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "learning_loop.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["small_team"] = rows
    path.write_text(json.dumps(data, indent=2) + "\n")
    fresh = rows["fresh_phrasings_right"]
    lines = ["## Small team on the demo shop", "",
             f"Machine: {rows['machine']['cpu']}, {rows['machine']['cores']} cores; commit {rows['machine']['commit']}.",
             "", "Four new themes (two new FAQ entries with attached phrasings, two new intents routed to a person), "
             f"{len(LABELLED)} labelled questions and {len(JUNK)} out of scope (`benchmarks/small_team.py`); the "
             "bot answered on loopback HTTP before and after `supportbot retrain --notify`.", "",
             f"- fresh phrasings of the new themes, never labelled: **{fresh['before']}/{fresh['items']} right "
             f"before, {fresh['after']}/{fresh['items']} after**",
             f"- the demo's FAQ queries answered right: {before['old_queries_right']}/{before['old_queries']} before, "
             f"{after['old_queries_right']}/{after['old_queries']} after",
             f"- gate: {'publish' if gate.get('publish') else 'reject'}: {gate.get('rule')}",
             *[f"- threshold: {t['name']}: {t['old']} -> {t['new']}: {t['note']}" for t in report.thresholds],
             f"- while retraining and swapping, a user kept chatting: {during}", "",
             "| step | seconds |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows["step_seconds"].items()], ""]
    md = out / "learning_loop.md"
    text = md.read_text() if md.exists() else ""
    text = text.split("\n## Small team on the demo shop")[0].rstrip("\n") + "\n\n"
    md.write_text(text + "\n".join(lines))
    print("\n".join(lines))
