"""Handoff in two real browsers at once: a customer in the web chat, a staff member in the console.

The customer asks for a person; the staff member signs in, sees the conversation in the inbox
(live, without reloading), claims it and replies; the reply appears in the customer's page
without a reload; the customer writes back and the staff member sees it live; staff hand the
conversation back and the customer's next question is answered by the bot again; a reload of
the customer's page shows the whole conversation. Both sides are photographed at each step
(``.ci-artifacts/screenshots/handoff-*.png``).
"""
from __future__ import annotations

from pathlib import Path

from bot.app import create_app
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.bot.service import demo_settings
from tests.browser import browser_pages, screenshot
from tests.console.helpers import add_staff, fill_sign_in
from tests.fakes import KeywordModel

REPLY = "Hi, I'm Ana from support. I can see your order; it leaves our warehouse today."


async def test_a_person_answers_a_web_chat_customer_live(tmp_path: Path, aiohttp_server) -> None:
    settings = demo_settings(tmp_path)
    add_staff(settings)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    url = server.make_url
    async with browser_pages(2) as (customer, staff):
        for page in (customer, staff):
            page.set_default_timeout(10_000)
        await staff.goto(str(url("/console/inbox")))
        await fill_sign_in(staff)
        await staff.wait_for_selector("h1:text('Inbox')")
        await staff.wait_for_selector("li.empty:text('Nobody is waiting')")
        await staff.evaluate("window.stillTheSamePage = true")

        await customer.goto(str(url("/")))
        await customer.wait_for_selector(".message.bot")
        await customer.fill("#text", "can I talk to a person?")
        await customer.press("#text", "Enter")
        await customer.wait_for_selector(".message.bot:has-text('number 1 in the queue')")
        await customer.fill("#text", "It's about order NW-100002, it hasn't arrived.")
        await customer.press("#text", "Enter")
        await customer.wait_for_selector(".message.bot:has-text('passed on to our support team')")
        await customer.evaluate("window.stillTheSamePage = true")
        await screenshot(customer, "handoff-customer-waiting")

        # The inbox shows the conversation live, and the navigation counts it.
        link = staff.get_by_role("link", name="It's about order NW-100002, it hasn't arrived.")
        await link.wait_for()
        assert await staff.locator("#inbox-count").inner_text() == "1"
        assert await staff.evaluate("window.stillTheSamePage === true"), "the inbox updated without a reload"
        await screenshot(staff, "handoff-staff-inbox")
        await link.click()
        await staff.wait_for_selector("h1:has-text('Conversation')")
        assert "human_handoff" in await staff.locator("#transcript").inner_text(), "bot turns show their intent"
        await staff.get_by_role("button", name="Claim").click()
        await staff.wait_for_selector("p.notice:has-text('yours')")
        await customer.wait_for_selector(".note:has-text('ana from our support team joined')")

        await staff.select_option("#faq-insert", "shipping-times")
        await staff.get_by_role("button", name="Insert").click()
        assert "3-5 business days" in await staff.input_value("#reply-text"), "one click inserts an FAQ answer"
        await staff.fill("#reply-text", REPLY)
        await screenshot(staff, "handoff-staff-conversation")
        await staff.get_by_role("button", name="Send").click()
        await staff.wait_for_selector("p.notice:has-text('Sent.')")

        staff_message = customer.locator(".message.staff")
        await staff_message.wait_for()
        assert REPLY in await staff_message.inner_text()
        assert "ana · support team" in await staff_message.locator(".author").inner_text()
        assert await customer.evaluate("window.stillTheSamePage === true"), "arrived without a reload"
        await screenshot(customer, "handoff-customer-staff-reply")

        await staff.evaluate("window.stillTheSamePage = true")
        await customer.fill("#text", "Great, thank you Ana!")
        await customer.press("#text", "Enter")
        await staff.wait_for_selector("#transcript .line.customer:has-text('Great, thank you Ana!')")
        assert await staff.evaluate("window.stillTheSamePage === true"), "the customer's reply arrived live"
        await screenshot(staff, "handoff-staff-live")

        staff.on("dialog", lambda dialog: dialog.accept())
        await staff.get_by_role("button", name="Hand back to the bot").click()
        await staff.wait_for_selector("p.notice:has-text('Handed back')")
        await customer.wait_for_selector(".note:has-text('handed you back to the assistant')")
        await customer.fill("#text", "How long does delivery take?")
        await customer.press("#text", "Enter")
        await customer.wait_for_selector(".message.bot:has-text('3-5 business days')")
        await screenshot(customer, "handoff-customer-back-to-bot")

        await customer.reload()
        await customer.wait_for_selector(".message.bot:has-text('3-5 business days')")
        kept = await customer.locator("#messages").inner_text()
        for text in ("can I talk to a person?", REPLY, "Great, thank you Ana!", "handed you back"):
            assert text in kept, text
        await screenshot(customer, "handoff-customer-reloaded")
        await staff.goto(str(url("/console/")))
        await screenshot(staff, "handoff-staff-overview")

    database = Database.open(settings.database_url)
    try:
        actions = [t.record.action for t in ConversationLog(database).turns()]
    finally:
        database.close()
    assert actions == ["handoff", "relayed", "relayed", "answer"], "no bot answer while a person had it"
