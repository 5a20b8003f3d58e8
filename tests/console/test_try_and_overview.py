"""The "Try it" page shows how the bot decides; the overview counts what it did."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.settings import Settings
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.bot.test_chat_api import say
from tests.console.helpers import follow, queue_turns


async def test_try_it_shows_intent_matches_and_the_rule(client: TestClient, settings: Settings, csrf: str) -> None:
    before = ConversationLog(Database.open(settings.database_url)).count()
    page = await follow(client, "/console/try?q=How+long+does+delivery+take%3F")
    assert "The bot would answer" in page and 'data-action="answer"' in page
    assert "<code>faq</code>, confidence 0.90" in page
    assert "top FAQ score 1.00 &gt;= 0.60" in page  # the rule and its threshold
    assert '<a href="/console/faq/shipping-times">How long does delivery take?</a>' in page
    assert page.count("<tr>") == 1 + 3  # header + the top three matches with scores
    assert "Shares words" in page and page.count('<td class="num">0.') + page.count('<td class="num">1.') >= 3 + 3
    assert "Answer when the top score is at least <strong>0.60</strong>" in page
    assert ConversationLog(Database.open(settings.database_url)).count() == before  # nothing logged


async def test_try_it_handlers_fallbacks_and_escaping(client: TestClient, csrf: str) -> None:
    page = await follow(client, "/console/try?q=hello+there")
    assert "The bot would run the handler <code>greeting</code>" in page
    assert "runs handler greeting" in page
    page = await follow(client, "/console/try?q=%3Cscript%3Eweather+joke%3C%2Fscript%3E")
    assert "The bot would fall back" in page and "(out of scope)" in page
    assert "<script>weather" not in page and 'value="&lt;script&gt;weather joke&lt;/script&gt;"' in page
    # a request for a person in so many words: no confidence the model never gave
    page = await follow(client, "/console/try?q=I%27d+like+to+speak+to+someone+about+my+refund")
    assert "The bot would run the handler <code>human_handoff</code>" in page
    assert "<code>human_handoff</code>, by the message's words" in page and "confidence 1.00" not in page
    page = await follow(client, "/console/try")
    assert "The bot would" not in page and "Thresholds in force" in page


async def test_overview_counts_questions_feedback_and_topics(client: TestClient, settings: Settings,
                                                             csrf: str) -> None:
    answered = await say(client, "How long does delivery take?")
    await client.post("/api/feedback", json={"session_id": "session-0001", "turn_id": answered["turn_id"],
                                             "value": "up"})
    await say(client, "hello")
    queue_turns(settings, ("do you have a loyalty card", "fallback"), ("loyalty card?", "fallback"),
                ("talk to a human", "handoff"))
    page = await follow(client, "/console/")
    assert '<strong id="bundle-version">fake-1</strong>' in page
    assert "<dt>Questions</dt><dd>5</dd>" in page
    assert "<dt>Answered</dt><dd>1 <small>(20%)</small></dd>" in page
    assert "<dt>Fell back</dt><dd>2 <small>(40%)</small></dd>" in page
    assert "<dt>Handed off</dt><dd>1 <small>(20%)</small></dd>" in page
    assert "<dt>Thumbs up</dt><dd>1</dd>" in page and "<dt>Thumbs down</dt><dd>0</dd>" in page
    assert "Top unanswered topics" in page and "loyalty card" in page
    assert page.count("<tr>") == 2 * (1 + 14)  # questions and handoffs per day: header + one row per day


async def test_try_a_conversation_rehearses_without_storing_or_calling_anyone(client: TestClient, settings: Settings,
                                                                              csrf: str) -> None:
    import re

    from bot.keys import DESK

    page = await follow(client, "/console/try")
    conversation = re.search(r'data-conversation="([0-9a-f]{16})"', page).group(1)
    before = ConversationLog(Database.open(settings.database_url)).count()

    async def send(**fields: str) -> dict:
        response = await client.post("/console/try/say", json={"conversation": conversation, **fields},
                                     headers={"X-CSRF-Token": csrf})
        assert response.status == 200, await response.text()
        return await response.json()

    asked = await send(text="where is my order")
    assert asked["handler"] == "order_status" and "order number" in asked["reply"]
    assert "shipped" in (await send(text="NW-100002"))["reply"], "the conversation goes on"
    person = await send(text="can I talk to a person")
    assert person["action"] == "handoff" and "would be queued" in person["reply"]
    assert client.app[DESK].handoffs.inbox() == [], "nobody was called in"
    after = await send(text="hello?")  # in the real chat a person has it now: relayed, not answered
    assert after["action"] == "relayed" and "would go to them" in after["reply"]
    assert client.app[DESK].handoffs.inbox() == []
    assert ConversationLog(Database.open(settings.database_url)).count() == before, "nothing stored"
    forged = await client.post("/console/try/say", json={"conversation": conversation, "text": "hi"})
    assert forged.status in (400, 403), "the CSRF token is required"
    bad = await client.post("/console/try/say", json={"conversation": "../../x", "text": "hi"},
                            headers={"X-CSRF-Token": csrf})
    assert bad.status == 400


async def test_try_a_conversation_reads_a_follow_up_as_the_chat_does(client: TestClient, csrf: str) -> None:
    import re

    page = await follow(client, "/console/try")
    conversation = re.search(r'data-conversation="([0-9a-f]{16})"', page).group(1)

    async def send(text: str) -> dict:
        response = await client.post("/console/try/say", json={"conversation": conversation, "text": text},
                                     headers={"X-CSRF-Token": csrf})
        assert response.status == 200, await response.text()
        return await response.json()

    assert (await send("How do I return an item?"))["faq_id"] == "how-to-return"
    follow_up = await send("and who pays the shipping for it")
    assert follow_up["action"] == "answer" and follow_up["faq_id"] == "return-shipping-cost"


async def test_try_a_conversation_takes_only_choices_the_bot_offers(client: TestClient, csrf: str) -> None:
    import re

    page = await follow(client, "/console/try")
    conversation = re.search(r'data-conversation="([0-9a-f]{16})"', page).group(1)

    async def send(**fields: str) -> tuple[int, dict]:
        response = await client.post("/console/try/say", json={"conversation": conversation, **fields},
                                     headers={"X-CSRF-Token": csrf})
        return response.status, await response.json()

    assert await send(choice="nonsense-payload") == (400, {"error": 'choice must be the payload of a button the '
                                                                    'bot offered: "human", "none" or "faq:<FAQ id>"'})
    status, picked = await send(choice="faq:shipping-times")
    assert status == 200 and picked["action"] == "answer" and picked["faq_id"] == "shipping-times"
    status, person = await send(text="where is my order", choice="human")  # the choice is taken, not the text
    assert status == 200 and person["action"] == "handoff"
