"""Routing staff change: the console page and ``supportbot routing`` store it, the bot routes by it."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main
from bot.settings import Settings
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.routing import RouteStore
from tests.bot.test_chat_api import say
from tests.console.helpers import follow


async def test_a_route_set_in_the_console_applies_to_the_next_message(client: TestClient, settings: Settings,
                                                                      csrf: str) -> None:
    page = await follow(client, "/console/routing")
    assert "<code>greeting</code>" in page and "handler greeting" in page and "shipped" in page
    assert (await say(client, "hello"))["action"] == "handler"
    response = await client.post("/console/routing", data={"csrf_token": csrf, "intent": "greeting",
                                                           "route": "faq", "faq": "shipping-times", "handler": "x"})
    assert response.status == 200 and "Route changed" in await response.text()
    reply = await say(client, "hello")
    assert reply["action"] == "answer" and reply["faq_id"] == "shipping-times"
    assert RouteStore(Database.open(settings.database_url)).mapping() == {"greeting": {"faq": "shipping-times"}}
    page = await follow(client, "/console/routing")
    assert "FAQ entry shipping-times" in page and "ana," in page
    response = await client.post("/console/routing", data={"csrf_token": csrf, "intent": "greeting",
                                                           "route": "handler", "handler": "teleport"})
    assert response.status == 400 and "unknown handler &#39;teleport&#39;" in await response.text()
    await client.post("/console/routing", data={"csrf_token": csrf, "intent": "greeting", "route": "unset"})
    assert (await say(client, "hello"))["action"] == "handler"


class RouteForms(HTMLParser):
    """The Routing page's forms as a browser would send them: each select's selected option (else its first)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}  # intent -> fields
        self._fields: dict[str, str] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form" and "route-form" in found.get("class", ""):
            self._fields = {}
        elif self._fields is not None and tag == "input":
            self._fields[found["name"]] = found.get("value", "")
        elif self._fields is not None and tag == "select":
            self._select = found["name"]
        elif self._fields is not None and self._select and tag == "option" \
                and (self._select not in self._fields or "selected" in found):
            self._fields[self._select] = found["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form" and self._fields is not None:
            self.forms[self._fields["intent"]] = self._fields
            self._fields = None


async def test_change_to_starts_at_the_current_route(client: TestClient, settings: Settings, csrf: str) -> None:
    """Each row's controls show its route now, so a Save without a choice changes nothing."""
    RouteStore(Database.open(settings.database_url)).set("thanks", "faq", "shipping-times", "ana")
    parser = RouteForms()
    parser.feed(await follow(client, "/console/routing"))
    forms = parser.forms
    assert (forms["greeting"]["route"], forms["greeting"]["handler"]) == ("handler", "greeting")
    assert (forms["thanks"]["route"], forms["thanks"]["faq"]) == ("faq", "shipping-times")
    assert forms["human_handoff"]["route"] == "person" and forms["faq"]["route"] == "search"
    assert (forms["order_status"]["route"], forms["order_status"]["handler"]) == ("handler", "order_status")
    response = await client.post("/console/routing", data={**forms["greeting"], "csrf_token": csrf})
    assert response.status == 200 and "Route changed" in await response.text()
    assert (await say(client, "hello"))["action"] == "handler"
    # order_status ships with sure 0.7, which the page has no control for: an unchanged Save keeps it
    response = await client.post("/console/routing", data={**forms["order_status"], "csrf_token": csrf})
    assert response.status == 200
    assert RouteStore(Database.open(settings.database_url)).mapping()["order_status"] == \
        {"handler": "order_status", "sure": 0.7}


async def test_an_intent_nothing_knows_is_refused_and_a_labelled_one_is_marked(  # type: ignore[no-untyped-def]  # aiohttp's fixture
        settings: Settings, aiohttp_client) -> None:
    """A route for an intent neither the serving model nor any label knows would never be used (a
    typo, most likely): refused, naming what was probably meant. A new intent staff labelled may be
    routed before the retraining that teaches it; its row says the serving model does not know it yet."""
    from bot.app import create_app
    from bot.models.store import activate
    from tests.bot.toy_bundle import build_toy_bundle
    from tests.console.helpers import queue_turns, sign_in

    build_toy_bundle(settings.bundles_dir, "v1")  # knows greeting, order_status and refund
    activate(settings.bundles_dir, "v1")
    (turn,) = queue_turns(settings, ("do you have a loyalty card", "fallback"))
    Reviews(Database.open(settings.database_url)).label([turn], "intent", "loyalty", "ana")
    client = await aiohttp_client(create_app(settings))
    csrf = await sign_in(client)
    for intent in ("nonexistent_intent", "refunds"):
        response = await client.post("/console/routing", data={"csrf_token": csrf, "intent": intent,
                                                               "route": "search"})
        text = await response.text()
        assert response.status == 400 and f"no intent &#39;{intent}&#39;" in text, text
        assert "serving model (v1)" in text and "no review label" in text
    assert "did you mean &#39;refund&#39;" in text
    assert RouteStore(Database.open(settings.database_url)).mapping() == {}
    for intent in ("refund", "loyalty"):  # the model knows it; a label uses it
        response = await client.post("/console/routing", data={"csrf_token": csrf, "intent": intent,
                                                               "route": "faq", "faq": "return-policy"})
        assert response.status == 200 and "Route changed" in await response.text()
    page = await follow(client, "/console/routing")
    row = page[page.index("<code>loyalty</code>"):]
    assert "not in the serving model yet" in row[:row.index("</tr>")]
    row = page[page.index("<code>refund</code>"):]
    assert "not in the serving model yet" not in row[:row.index("</tr>")]


def test_routing_command(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["routing", "--db", settings.database_url]
    assert main([*db, "set", "loyalty_programme", "--faq", "shipping-times", "--author", "bo"]) == 0
    assert "loyalty_programme -> FAQ entry shipping-times" in capsys.readouterr().out
    assert main([*db, "set", "wholesale", "--person"]) == 0
    assert main([*db, "list"]) == 0
    listed = capsys.readouterr().out
    assert "wholesale\ta person\tset by" in listed and "greeting\thandler greeting\tshipped" in listed
    with pytest.raises(SystemExit, match="supportbot routing: error: .*unknown handler 'teleport'"):
        main([*db, "set", "wholesale", "--handler", "teleport"])
    with pytest.raises(SystemExit, match="no FAQ entry 'nope'"):
        main([*db, "set", "wholesale", "--faq", "nope"])
    assert RouteStore(Database.open(settings.database_url)).mapping()["wholesale"] == {"handler": "human_handoff"}
    assert main([*db, "unset", "wholesale"]) == 0
    with pytest.raises(SystemExit, match="staff set no route for 'wholesale'"):
        main([*db, "unset", "wholesale"])


async def test_a_route_stored_before_the_bot_starts_applies_from_the_first_message(settings: Settings,
                                                                                  aiohttp_client) -> None:  # type: ignore[no-untyped-def]  # aiohttp's fixture
    """A replica started (or restarted by a deploy) after staff routed an intent serves that route."""
    from bot.app import create_app
    from tests.fakes import KeywordModel

    RouteStore(Database.open(settings.database_url)).set("greeting", "faq", "shipping-times", "ana")
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    reply = await say(client, "hello")
    assert reply["action"] == "answer" and reply["faq_id"] == "shipping-times"


async def test_stored_routes_this_release_cannot_load_leave_the_shipped_routing(  # type: ignore[no-untyped-def]  # aiohttp's fixture
        settings: Settings, aiohttp_client, caplog: pytest.LogCaptureFixture) -> None:
    """A route to a handler this release lacks does not stop the bot: it serves the shipped table and says why."""
    from bot.app import create_app
    from tests.fakes import KeywordModel

    RouteStore(Database.open(settings.database_url)).set("greeting", "handler", "teleport", "ana")
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    assert (await say(client, "hello"))["action"] == "handler"
    assert any("do not load" in record.getMessage() and "teleport" in record.getMessage() for record in caplog.records)


async def test_the_routing_page_lists_the_phrases_and_where_they_come_from(client: TestClient, csrf: str) -> None:
    page = await follow(client, "/console/routing")
    assert "<h2>Phrases</h2>" in page and "bot/core/demo/phrases.yaml</code>" in page
    assert "<dt><code>thanks</code></dt>" in page and "gracias, muchas gracias, merci" in page
