"""The staff console in headless Chromium, against the real app on loopback.

A staff member signs in, edits an answer (watching the live preview), sees the new answer in
"Try it", runs into a stale-edit conflict, labels a queued question, and the label is in the
database. Every page is photographed (phone size, some also laptop size) for CI artefacts.
"""
from __future__ import annotations

from pathlib import Path

from bot.app import create_app
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from tests.bot.service import demo_settings
from tests.browser import browser_page, screenshot
from tests.console.helpers import NAME, add_staff, fill_sign_in, queue_turns
from tests.fakes import KeywordModel

NEW_ANSWER = "Standard delivery takes 2-4 business days. Track it [here](https://track.example/parcel)."


async def shoot(page, name: str) -> None:
    """Photograph the page, and check nothing overflows the phone-sized screen sideways."""
    await screenshot(page, name)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, name


async def test_staff_edit_try_and_label_in_a_browser(tmp_path: Path, aiohttp_server) -> None:
    settings = demo_settings(tmp_path)
    add_staff(settings)
    (gift_turn, _) = queue_turns(settings, ("do you sell gift cards", "fallback"),
                                 ("can I buy a gift voucher", "fallback"))
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    url = server.make_url
    async with browser_page() as page:
        page.set_default_timeout(10_000)
        await page.goto(str(url("/console/faq")))  # not signed in: sent to the sign-in page
        await page.wait_for_selector("h1:text('Sign in')")
        await shoot(page, "console-signin")
        await fill_sign_in(page)
        await page.wait_for_selector("h1:text('FAQ')")
        assert page.url.endswith("/console/faq")
        await shoot(page, "console-faq-list")
        await page.select_option("#tag", "shipping")
        await page.fill("#q", "delivery")
        await page.click("form.filters button[type=submit]")
        await page.get_by_role("link", name="How long does delivery take?").click()
        await page.wait_for_selector("#answer")

        await page.fill("#answer", NEW_ANSWER)  # the live preview renders the link
        preview_link = page.locator("#answer-preview a")
        assert await preview_link.get_attribute("href") == "https://track.example/parcel"
        assert await preview_link.inner_text() == "here"
        await shoot(page, "console-faq-edit")
        await page.get_by_role("button", name="Save", exact=True).click()
        await page.wait_for_selector("p.notice")

        await page.goto(str(url("/console/try")))
        await page.fill("#q", "How long does delivery take?")
        await page.get_by_role("button", name="Ask").click()
        reply = page.locator("#try-reply")
        await reply.wait_for()
        assert "2-4 business days" in await reply.inner_text()
        assert "top FAQ score" in await page.locator("#try-reason").inner_text()
        await shoot(page, "console-try")

        await page.goto(str(url("/console/faq/shipping-times/history")))
        assert "edit by ana" in await page.locator("ol.revisions > li").first.inner_text()
        await shoot(page, "console-faq-history")

        # A colleague saves the entry while it is open here: saving shows the conflict.
        await page.goto(str(url("/console/faq/shipping-times")))
        store = FaqStore(Database.open(settings.database_url))
        current = store.get("shipping-times")
        store.edit("shipping-times", current.revision, "ben", answer="Delivery takes 3 days.")
        store.database.close()
        await page.fill("#answer", "Mine: delivery takes 5 days.")
        await page.get_by_role("button", name="Save", exact=True).click()
        await page.wait_for_selector("h1:text('while you were editing')")
        assert "Delivery takes 3 days." in await page.locator(".versions").inner_text()
        await shoot(page, "console-faq-conflict")

        await page.goto(str(url("/console/create")))
        await shoot(page, "console-faq-create")

        await page.goto(str(url("/console/review")))
        item = page.locator(f"#turn-{gift_turn}")
        await shoot(page, "console-review")
        await item.get_by_label("Intent").fill("gift_cards")
        await item.get_by_label("Intent").press("Enter")  # labels the intent, not the form's first button
        await page.wait_for_selector("p.notice")
        assert await page.locator(f"#turn-{gift_turn}").count() == 0

        await page.goto(str(url("/console/review/similar")))
        await shoot(page, "console-review-similar")
        await page.goto(str(url("/console/")))
        await page.wait_for_selector("#bundle-version")
        await shoot(page, "console-overview")

        await page.set_viewport_size({"width": 1280, "height": 900})
        for path, name in (("/console/", "overview"), ("/console/faq", "faq-list"), ("/console/review", "review"),
                           ("/console/faq/shipping-times", "faq-edit")):
            await page.goto(str(url(path)))
            await screenshot(page, f"console-{name}-laptop")

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_selector("h1:text('Sign in')")

    database = Database.open(settings.database_url)
    labels = Reviews(database).labels(turn_id=gift_turn)
    database.close()
    assert [(label.kind, label.value, label.author, label.text) for label in labels] == [
        ("intent", "gift_cards", NAME, "do you sell gift cards")]


async def test_try_it_says_when_the_session_expired_or_the_page_is_stale(tmp_path: Path, aiohttp_server) -> None:
    """A Try-it message refused for an ended session says so with a way to sign in again; one
    refused for a stale security token says to reload."""
    settings = demo_settings(tmp_path)
    add_staff(settings)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    url = server.make_url
    async with browser_page() as page:
        page.set_default_timeout(10_000)
        await page.goto(str(url("/console/signin?next=/console/try")))
        await fill_sign_in(page)
        await page.wait_for_selector("#try-say")
        await page.fill("#try-text", "hello")
        await page.press("#try-text", "Enter")
        await page.wait_for_selector("#try-transcript li.bot:not(.error)")

        await page.evaluate("document.getElementById('try-say').dataset.csrf = 'stale'")
        await page.fill("#try-text", "hello again")
        await page.press("#try-text", "Enter")
        error = page.locator("#try-transcript li.error").last
        await error.wait_for()
        assert "reload the page" in await error.inner_text()

        await page.context.clear_cookies()  # the session is gone, as when it expires
        await page.fill("#try-text", "are you there?")
        await page.press("#try-text", "Enter")
        await page.locator("#try-transcript li.error").nth(1).wait_for()
        error = page.locator("#try-transcript li.error").nth(1)
        assert "Your session has expired: sign in again" in await error.inner_text()
        await shoot(page, "console-try-expired")
        await error.get_by_role("link", name="Sign in again").click()
        await page.wait_for_selector("h1:text('Sign in')")
        assert page.url.endswith("/console/signin?next=%2Fconsole%2Ftry")
