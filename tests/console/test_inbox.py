"""The console inbox over HTTP: listing, a conversation's transcript, claim, reply, close, live
events, and what a signed-out visitor or a forged form gets."""
from __future__ import annotations

import asyncio
import re

from aiohttp.test_utils import TestClient

from bot.keys import DESK
from tests.bot.test_handoff import next_event, say, stored_actions
from tests.console.helpers import add_staff, csrf_of, sign_in


async def open_one(client: TestClient) -> int:
    await say(client, "can I talk to a person?")
    await say(client, "how long does delivery take?")
    (item,) = client.app[DESK].handoffs.inbox()
    return item.handoff.id


async def test_staff_claim_reply_and_close_from_the_inbox(client: TestClient, csrf: str, settings) -> None:
    handoff_id = await open_one(client)
    inbox = await (await client.get("/console/inbox")).text()
    assert 'id="inbox-count" aria-label="1 waiting for a person">1<' in inbox
    assert f'href="/console/inbox/{handoff_id}">how long does delivery take?</a>' in inbox
    assert "Waiting" in inbox and "web" in inbox

    page = await (await client.get(f"/console/inbox/{handoff_id}")).text()
    assert "can I talk to a person?" in page and "intent <code>human_handoff</code>" in page
    assert re.search(r'<optgroup label="Suggested for the last message">\s*<option value="shipping-times"', page), \
        "the FAQ answer for the customer's last message is offered first"
    stream = await client.get(f"/console/inbox/{handoff_id}/events",
                              params={"after": re.search(r'data-cursor="([^"]+)"', page).group(1)})

    claimed = await client.post(f"/console/inbox/{handoff_id}/claim", data={"csrf_token": csrf})
    assert claimed.url.path == f"/console/inbox/{handoff_id}" and "It&#39;s yours" in await claimed.text()
    assert (await next_event(stream))["kind"] == "claimed"
    sent = await client.post(f"/console/inbox/{handoff_id}/reply",
                             data={"csrf_token": csrf, "text": "Hi, Ana here: 2-4 business days."})
    assert "Sent." in await sent.text()
    assert (await next_event(stream))["text"] == "Hi, Ana here: 2-4 business days."
    await say(client, "great, thanks!")
    line = await next_event(stream)
    assert line["role"] == "customer" and line["text"] == "great, thanks!", "the customer's reply arrives live"

    closed = await client.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": csrf})
    assert "Handed back to the bot" in await closed.text()
    assert (await next_event(stream))["kind"] == "closed"
    stream.close()
    again = await client.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": csrf})
    assert again.status == 409
    assert "Nobody is waiting" in await (await client.get("/console/inbox")).text()
    assert [a for a, _ in stored_actions(settings)] == ["handoff", "relayed", "relayed"]


async def test_the_inbox_stream_says_when_something_changed(client: TestClient, csrf: str) -> None:
    stream = await client.get("/console/inbox/events")
    handoff_id = await open_one(client)
    first = await next_event(stream)
    assert first["waiting"] == 1
    await client.post(f"/console/inbox/{handoff_id}/claim", data={"csrf_token": csrf})
    while (event := await next_event(stream))["waiting"] != 0:
        pass
    assert event == {"waiting": 0}
    stream.close()


async def claimed_by_ana_seen_by_ben(client: TestClient, csrf: str, settings, aiohttp_client):  # type: ignore[no-untyped-def]  # aiohttp's fixture
    """A conversation ana (signed in on ``client``) has claimed, and ben signed in on a second
    browser with its own cookies: (handoff id, ben's client, ben's CSRF token)."""
    handoff_id = await open_one(client)
    await client.post(f"/console/inbox/{handoff_id}/claim", data={"csrf_token": csrf})
    add_staff(settings, "ben", "another long password")
    ben = await aiohttp_client(client.server)
    return handoff_id, ben, await sign_in(ben, "ben", "another long password")


async def test_a_colleague_cannot_answer_over_a_claim_without_taking_over(client: TestClient, csrf: str,
                                                                         settings, aiohttp_client) -> None:
    handoff_id, ben, ben_csrf = await claimed_by_ana_seen_by_ben(client, csrf, settings, aiohttp_client)
    page = await (await ben.get(f"/console/inbox/{handoff_id}")).text()
    assert "ana has this conversation" in page and "Take over and send" in page
    refused = await ben.post(f"/console/inbox/{handoff_id}/reply", data={"csrf_token": ben_csrf, "text": "Hi!"})
    assert refused.status == 409 and "ana is answering this conversation" in await refused.text()
    assert "Your message was: Hi!" in await refused.text(), "the typed text is not lost"
    taken = await ben.post(f"/console/inbox/{handoff_id}/reply",
                           data={"csrf_token": ben_csrf, "text": "Ben here.", "take_over": "1"})
    assert taken.status == 200
    assert client.app[DESK].handoffs.get(handoff_id).claimed_by == "ben"


async def test_signed_out_visitors_and_forged_forms_get_nothing(client: TestClient, settings, aiohttp_client) -> None:
    handoff_id = await open_one(client)
    stranger = await aiohttp_client(client.server)
    for path in ("/console/inbox", "/console/inbox/events", f"/console/inbox/{handoff_id}",
                 f"/console/inbox/{handoff_id}/events"):
        response = await stranger.get(path, allow_redirects=False)
        assert response.status in (302, 303, 401), path
    csrf = await sign_in(client)
    forged = await client.post(f"/console/inbox/{handoff_id}/reply", data={"csrf_token": "x" * 32, "text": "hi"})
    assert forged.status in (400, 403)
    assert client.app[DESK].handoffs.get(handoff_id).state == "waiting"
    for path in ("/console/inbox/999", "/console/inbox/abc", "/console/inbox/²"):
        assert (await client.get(path)).status == 404, path
    empty = await client.post(f"/console/inbox/{handoff_id}/reply", data={"csrf_token": csrf, "text": "  "})
    assert empty.status == 400
    bad = await client.get(f"/console/inbox/{handoff_id}/events", params={"after": "nope"})
    assert bad.status == 400
    assert csrf_of(await (await client.get("/console/inbox")).text())
    await asyncio.sleep(0)


async def test_the_overview_shows_handoff_figures(client: TestClient, csrf: str) -> None:
    handoff_id = await open_one(client)
    page = await (await client.get("/console/")).text()
    assert '<strong id="waiting-now">1</strong>' in page and '<dd id="first-reply">–</dd>' in page
    await client.post(f"/console/inbox/{handoff_id}/reply", data={"csrf_token": csrf, "text": "Hello!"})
    page = await (await client.get("/console/")).text()
    assert '<strong id="waiting-now">0</strong>' in page
    assert re.search(r'<dd id="first-reply">\d+ s</dd>', page)
    assert "<dt>Handoffs</dt><dd>1</dd>" in page


async def test_a_colleague_cannot_hand_back_a_claimed_conversation_without_taking_over(
        client: TestClient, csrf: str, settings, aiohttp_client) -> None:
    handoff_id, ben, ben_csrf = await claimed_by_ana_seen_by_ben(client, csrf, settings, aiohttp_client)
    page = await (await ben.get(f"/console/inbox/{handoff_id}")).text()
    assert 'data-confirm="ana has this conversation. Take it over and hand it back to the bot?"' in page
    assert "Take over and hand back to the bot" in page
    refused = await ben.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": ben_csrf})
    assert refused.status == 409 and "ana is answering this conversation; take it over first" in await refused.text()
    assert client.app[DESK].handoffs.get(handoff_id).state == "with_staff"
    taken = await ben.post(f"/console/inbox/{handoff_id}/close", data={"csrf_token": ben_csrf, "take_over": "1"})
    assert taken.status == 200 and "Handed back to the bot" in await taken.text()
    assert client.app[DESK].handoffs.get(handoff_id).closed_by == "ben"


async def test_the_conversation_page_shows_the_customer_id_to_erase_it_with(client: TestClient, csrf: str) -> None:
    handoff_id = await open_one(client)
    session_id = client.app[DESK].handoffs.get(handoff_id).session_id
    assert session_id.startswith("web:")
    page = await (await client.get(f"/console/inbox/{handoff_id}")).text()
    assert f"<code>{session_id}</code>" in page
    assert f"supportbot logs forget --customer {session_id}" in page
    inbox = await (await client.get("/console/inbox")).text()
    assert session_id in inbox, "two customers who wrote the same thing are told apart"


async def test_a_claimed_row_says_who_has_it_and_for_how_long(client: TestClient, csrf: str) -> None:
    handoff_id = await open_one(client)
    assert "waiting under a minute" in await (await client.get("/console/inbox")).text()
    await client.post(f"/console/inbox/{handoff_id}/claim", data={"csrf_token": csrf})
    inbox = await (await client.get("/console/inbox")).text()
    assert "ana has it" in inbox and "for under a minute" in inbox and "waiting under" not in inbox
