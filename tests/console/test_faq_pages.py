"""FAQ pages: list, search, create, edit, conflicts, remove, history, revert; live in the bot at once."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.console.pages import chat_markup
from bot.settings import Settings
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from tests.bot.test_chat_api import say
from tests.console.helpers import NAME, follow

LOYALTY = {"faq_id": "loyalty-card", "question": "Do you have a loyalty card?",
           "alternatives": "is there a rewards programme\nloyalty points?", "answer": "Not yet, but soon.",
           "tags": "promotions, account", "language": "en", "enabled": "on"}


def _store(settings: Settings) -> FaqStore:
    return FaqStore(Database.open(settings.database_url))


async def _post(client: TestClient, path: str, csrf: str, **form: str):
    return await client.post(path, data={"csrf_token": csrf, **form}, allow_redirects=False)


async def test_list_searches_and_filters_by_tag(client: TestClient, csrf: str) -> None:
    page = await follow(client, "/console/faq")
    assert "52 of 52 entries" in page and "Do you sell gift cards?" in page
    page = await follow(client, "/console/faq?q=gift+cards")
    assert "Do you sell gift cards?" in page and "How long does delivery take?" not in page
    page = await follow(client, "/console/faq?tag=shipping")
    assert "How long does delivery take?" in page and "Do you sell gift cards?" not in page
    assert "0 of 52 entries" in await follow(client, "/console/faq?q=zzzz+nothing")


async def test_create_is_attributed_and_answered_at_once(client: TestClient, settings: Settings, csrf: str) -> None:
    assert (await say(client, "is there a rewards programme"))["faq_id"] != "loyalty-card"
    response = await _post(client, "/console/create", csrf, **LOYALTY)
    assert response.status == 303 and response.headers["Location"] == "/console/faq/loyalty-card?done=created"
    reply = await say(client, "is there a rewards programme")
    assert reply["faq_id"] == "loyalty-card" and reply["reply"] == "Not yet, but soon."
    entry = _store(settings).get("loyalty-card")
    assert entry.updated_by == NAME and entry.tags == ("promotions", "account")
    assert entry.alternatives == ("is there a rewards programme", "loyalty points?")
    assert "Created." in await follow(client, response.headers["Location"])


async def test_create_shows_problems_by_field_and_saves_nothing(client: TestClient, settings: Settings,
                                                                csrf: str) -> None:
    before = _store(settings).kb_revision()
    response = await _post(client, "/console/create", csrf, **{**LOYALTY, "faq_id": "bad id!", "answer": " "})
    assert response.status == 400
    page = await response.text()
    assert 'id="faq_id-errors"' in page and 'id="answer-errors"' in page and 'aria-invalid="true"' in page
    assert "Do you have a loyalty card?" in page  # what was typed is kept
    taken = await _post(client, "/console/create", csrf, **{**LOYALTY, "faq_id": "gift-cards"})
    assert taken.status == 409 and "already exists" in await taken.text()
    assert _store(settings).kb_revision() == before


async def test_edit_goes_live_and_records_who(client: TestClient, settings: Settings, csrf: str) -> None:
    page = await follow(client, "/console/faq/shipping-times")
    assert 'name="base_revision" value="1"' in page and "Preview in the chat" in page
    entry = _store(settings).get("shipping-times")
    response = await _post(client, "/console/faq/shipping-times", csrf, base_revision="1", question=entry.question,
                           alternatives="\n".join(entry.alternatives), answer="Two days. [Track](https://t.example)",
                           tags="shipping", language="en", enabled="on")
    assert response.status == 303 and response.headers["Location"].endswith("?done=saved")
    assert (await say(client, "How long does delivery take?"))["reply"] == "Two days. [Track](https://t.example)"
    history = _store(settings).history("shipping-times")
    assert [(r.action, r.author) for r in history] == [("import", "test"), ("edit", NAME)]
    page = await follow(client, "/console/faq/shipping-times")
    assert '<a href="https://t.example" target="_blank" rel="noopener noreferrer">Track</a>' in page


async def test_saving_without_a_change_writes_no_revision(client: TestClient, settings: Settings, csrf: str) -> None:
    entry = _store(settings).get("gift-cards")
    response = await _post(client, "/console/faq/gift-cards", csrf, base_revision="1", question=entry.question,
                           alternatives="\n".join(entry.alternatives), answer=entry.answer,
                           tags=", ".join(entry.tags), language="en", enabled="on")
    assert response.headers["Location"].endswith("?done=unchanged")
    assert _store(settings).get("gift-cards").revision == 1


async def test_disabling_an_entry_stops_the_bot_answering_with_it(client: TestClient, csrf: str) -> None:
    assert (await say(client, "Do you sell gift cards?"))["faq_id"] == "gift-cards"
    await _post(client, "/console/faq/gift-cards", csrf, base_revision="1", question="Do you sell gift cards?",
                answer="Yes.")  # no "enabled" field: the box was unticked
    assert (await say(client, "Do you sell gift cards?"))["faq_id"] != "gift-cards"


async def test_a_stale_edit_shows_both_versions_and_overwrites_nothing(client: TestClient, settings: Settings,
                                                                       csrf: str) -> None:
    store = _store(settings)
    store.edit("gift-cards", 1, "ben", answer="Gift cards are sold in shops only.")
    response = await _post(client, "/console/faq/gift-cards", csrf, base_revision="1",
                           question="Do you sell gift cards?", answer="Mine: yes, online.", enabled="on")
    assert response.status == 409
    page = await response.text()
    assert "Your changes were <strong>not saved</strong>" in page
    assert "Gift cards are sold in shops only." in page and "Mine: yes, online." in page
    assert "revision 2 (edit) by ben" in page
    assert "<del>" in page and "<ins>" in page
    assert 'name="base_revision" value="2"' in page  # saving again is a deliberate overwrite
    assert store.get("gift-cards").answer == "Gift cards are sold in shops only."
    again = await _post(client, "/console/faq/gift-cards", csrf, base_revision="2",
                        question="Do you sell gift cards?", answer="Mine: yes, online.", enabled="on")
    assert again.status == 303 and store.get("gift-cards").answer == "Mine: yes, online."


async def test_invalid_edit_is_shown_and_not_saved(client: TestClient, settings: Settings, csrf: str) -> None:
    response = await _post(client, "/console/faq/gift-cards", csrf, base_revision="1", question="",
                           answer="Yes.", alternatives="fine\n" + "x" * 600, enabled="on")
    assert response.status == 400
    page = await response.text()
    assert 'id="question-errors"' in page and "line 2: at most 500 characters" in page
    assert _store(settings).get("gift-cards").revision == 1
    no_base = await _post(client, "/console/faq/gift-cards", csrf, question="Q?", answer="A.")
    assert no_base.status == 400


async def test_remove_history_restore_and_revert(client: TestClient, settings: Settings, csrf: str) -> None:
    response = await _post(client, "/console/faq/gift-cards/remove", csrf, base_revision="1")
    assert response.headers["Location"] == "/console/faq/gift-cards/history?done=removed"
    assert (await say(client, "Do you sell gift cards?"))["faq_id"] != "gift-cards"
    assert (await client.get("/console/faq/gift-cards")).status == 404
    page = await follow(client, "/console/faq/gift-cards/history")
    assert "This entry is removed" in page and "Revision 2: remove by ana" in page
    assert "gift-cards" in await follow(client, "/console/faq?removed=1")

    assert (await _post(client, "/console/faq/gift-cards/restore", csrf)).status == 303
    assert (await say(client, "Do you sell gift cards?"))["faq_id"] == "gift-cards"
    store = _store(settings)
    original = store.history("gift-cards")[0].after
    store.edit("gift-cards", 3, NAME, answer="Changed.")
    response = await _post(client, "/console/faq/gift-cards/revert", csrf, revision="1")
    assert response.headers["Location"] == "/console/faq/gift-cards?done=reverted"
    assert (await say(client, "Do you sell gift cards?"))["reply"] == original.answer
    assert [(r.action, r.author) for r in store.history("gift-cards")][-1] == ("revert", NAME)
    page = await follow(client, "/console/faq/gift-cards/history")
    assert "Revert to revision 1" in page and "− answer: Changed." in page


async def test_stale_remove_and_unknown_entries_are_refused(client: TestClient, settings: Settings,
                                                            csrf: str) -> None:
    _store(settings).edit("gift-cards", 1, "ben", answer="New.")
    assert (await _post(client, "/console/faq/gift-cards/remove", csrf, base_revision="1")).status == 409
    assert _store(settings).get("gift-cards").answer == "New."
    assert (await client.get("/console/faq/no-such-entry")).status == 404
    assert (await client.get("/console/faq/no-such-entry/history")).status == 404
    assert (await _post(client, "/console/faq/no-such-entry/revert", csrf, revision="1")).status == 404
    assert (await _post(client, "/console/faq/gift-cards/revert", csrf, revision="x")).status == 400
    assert (await _post(client, "/console/faq/gift-cards/restore", csrf)).status == 409  # not removed


async def test_markup_in_entries_is_shown_as_text(client: TestClient, csrf: str) -> None:
    await _post(client, "/console/create", csrf, faq_id="xss", question="<b>bold?</b>",
                answer='<script>alert(1)</script> [x](javascript:alert(1)) [ok](https://a.example/"onmouseover=x)')
    page = await follow(client, "/console/faq/xss")
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;bold?" in page
    assert 'href="javascript' not in page


def test_chat_markup_escapes_everything_but_links() -> None:
    assert str(chat_markup("a < b & [site](https://x.example/a?b=1&c=2) [bad](ftp://x)")) == (
        'a &lt; b &amp; <a href="https://x.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">'
        "site</a> [bad](ftp://x)")
    assert str(chat_markup('[q](https://x.example/"><script>)')) == (
        '<a href="https://x.example/&#34;&gt;&lt;script&gt;" target="_blank" rel="noopener noreferrer">q</a>')


async def test_an_entry_page_warns_of_a_phrasing_another_entry_has(client: TestClient, csrf: str) -> None:
    """Two entries with one phrasing can only be offered as a tie for it: the page says which."""
    page = await follow(client, "/console/faq/gift-cards")
    assert "is also a phrasing of" not in page
    response = await _post(client, "/console/create", csrf, **{**LOYALTY, "alternatives": "do you sell  GIFT cards?"})
    assert response.status == 303
    page = await follow(client, "/console/faq/loyalty-card?done=created")
    assert "&#39;do you sell  GIFT cards?&#39; is also a phrasing of gift-cards" in page
    assert "is also a phrasing of loyalty-card" in await follow(client, "/console/faq/gift-cards")
