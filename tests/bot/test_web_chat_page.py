"""The web chat page in headless Chromium, against the real app on loopback."""
from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import ClientSession

from bot.app import create_app
from bot.channels.web import STREAMS, STREAMS_PER_ADDRESS
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from tests.bot.service import admin_headers, demo_settings
from tests.browser import ask, browser_page, open_chat, screenshot
from tests.fakes import KeywordModel

# The contrast ratio (WCAG 2) of an element's text on its own background, as computed, counting
# its opacity against the white page (both colours fade towards white alike).
CONTRAST = """element => {
  const style = getComputedStyle(element), alpha = Number(style.opacity);
  const luminance = css => {
    const rgb = css.match(/[\\d.]+/g).slice(0, 3).map(v => 255 - (255 - Number(v)) * alpha);
    const [r, g, b] = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


async def test_typing_a_question_shows_the_answer_buttons_and_feedback(tmp_path: Path, aiohttp_server) -> None:
    settings = demo_settings(tmp_path)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        await open_chat(page, server)
        answer = await ask(page, "How long does delivery take?", "answer")
        assert "3-5 business days" in await answer.inner_text()
        await answer.get_by_role("button", name="Not helpful").click()
        await page.wait_for_selector("button[aria-pressed='true']")

        # Markup in the user's text is shown as text, never run.
        fallback = await ask(page, "<img src=x onerror=alert(1)> weather joke", "fallback")
        assert await page.locator("li.message.user img").count() == 0
        assert await page.locator("li.message.user").last.inner_text() == "You: <img src=x onerror=alert(1)> weather joke"
        await fallback.get_by_role("button", name="Talk to a person").click()
        await page.locator("li.message.bot[data-action='handoff']").wait_for()
        await screenshot(page, "web-chat")

    log = ConversationLog(Database.open(settings.database_url))
    turns = log.turns()
    assert [t.record.action for t in turns] == ["answer", "fallback", "handoff"]
    assert turns[0].feedback == -1


async def test_a_message_that_asks_two_things_shows_the_other_under_its_own_heading(tmp_path: Path,
                                                                                   aiohttp_server) -> None:
    server = await aiohttp_server(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        await open_chat(page, server)
        answer = await ask(page, "Which countries do you ship to and how do I cancel my order", "answer")
        rows = answer.locator(".choices.related")
        assert await rows.first.locator(".choices-heading").inner_text() == "You also asked"
        other = await rows.first.locator("button").all_inner_texts()
        assert len(other) == 1 and other[0] in ("How do I cancel my order?", "Which countries do you ship to?")
        assert await rows.nth(1).locator(".choices-heading").inner_text() == "People also ask"
        await rows.first.locator("button").click()  # the other question is answered when pressed
        await page.locator("li.message.bot[data-action='answer']").nth(1).wait_for()
        await screenshot(page, "web-chat-also-asked")


async def test_clarification_buttons_on_a_phone_sized_page(tmp_path: Path, aiohttp_server) -> None:
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        await page.goto(str(server.make_url("/")))
        await page.fill("#text", "refund for my return")
        await page.press("#text", "Enter")
        clarify = page.locator("li.message.bot[data-action='clarify']").last
        await clarify.wait_for()
        choices = clarify.locator(".choices button")
        assert await choices.count() >= 2
        label = await choices.first.inner_text()
        await choices.first.click()
        answered = page.locator("li.message.bot[data-action='answer']").last
        await answered.wait_for()
        assert label in await page.locator("li.message.user").last.inner_text()
        for button in await clarify.locator(".choices button:disabled").all():  # spent, yet readable
            assert await button.evaluate(CONTRAST) >= 4.5, await button.inner_text()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing overflows a phone screen
        await screenshot(page, "web-chat-clarify")


async def test_the_page_recovers_from_errors_and_keeps_its_history(tmp_path: Path, aiohttp_server) -> None:
    """Focus on load, a typing indicator, buttons used once and visibly so, scrolled into view;
    a failed send says so kindly and keeps the message with "Try again"; failed feedback looks
    failed; a reload shows the conversation again; the page has a favicon."""
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        page.set_default_timeout(10_000)
        await open_chat(page, server)
        assert await page.evaluate("document.activeElement.id") == "text", "ready to type"
        assert (await page.request.get(str(server.make_url("/static/favicon.svg")))).ok
        assert await page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"

        held = []  # hold one answer back to see the typing indicator

        async def slow(route) -> None:
            held.append(route)

        await page.route("**/api/chat", slow)
        await page.fill("#text", "refund for my return")
        await page.press("#text", "Enter")
        await page.wait_for_selector("li.typing")
        assert await page.locator("li.typing .visually-hidden").text_content() == "The assistant is typing…"
        await held[0].continue_()
        await page.unroute("**/api/chat")
        clarify = page.locator("li.message.bot[data-action='clarify']").last
        await clarify.wait_for()
        assert await page.locator("li.typing").count() == 0
        assert await page.evaluate("(m => m.scrollTop + m.clientHeight >= m.scrollHeight - 2)"
                                   "(document.getElementById('messages'))"), "scrolled below the buttons"
        await page.fill("#text", "hello")  # writing instead of choosing retires the choices
        await page.press("#text", "Enter")
        await page.locator("li.message.bot[data-action='handler']").wait_for()
        assert await clarify.locator(".choices button:enabled").count() == 0, "old choices are disabled"

        await page.route("**/api/chat", lambda route: route.fulfill(status=500, body='{"error": "internal error"}',
                                                                     content_type="application/json"))
        await page.fill("#text", "How long does delivery take?")
        await page.press("#text", "Enter")
        failure = page.locator("li.message.error").last
        await failure.wait_for()
        assert "something went wrong on our side" in await failure.inner_text()
        assert "Failed to fetch" not in await failure.inner_text()
        await page.unroute("**/api/chat")
        await failure.get_by_role("button", name="Try again").click()
        answer = page.locator("li.message.bot[data-action='answer']").last
        await answer.wait_for()
        assert await page.locator("li.message.error").count() == 0
        assert await page.locator("li.message.user", has_text="How long does delivery take?").count() == 1

        await page.route("**/api/feedback", lambda route: route.fulfill(status=500, body="{}"))
        await answer.get_by_role("button", name="Helpful", exact=True).click()
        await answer.locator(".feedback.failed").wait_for()
        assert await answer.get_by_role("button", name="Helpful", exact=True).get_attribute("aria-pressed") == "false"
        assert await answer.get_by_role("button", name="Helpful", exact=True).is_enabled(), "they can try again"
        await page.unroute("**/api/feedback")
        await screenshot(page, "web-chat-recovered")

        await page.reload()
        await page.wait_for_selector("li.message.user")
        shown = await page.locator("#messages").inner_text()
        assert "refund for my return" in shown and "3-5 business days" in shown, "history after a reload"


async def test_staff_messages_reach_the_page_after_its_event_stream_was_refused(tmp_path: Path,
                                                                                aiohttp_server) -> None:
    """An address with STREAMS_PER_ADDRESS streams open (an office network) gets 429 for one
    more: the page shows staff messages anyway and opens its stream once there is room."""
    settings = demo_settings(tmp_path)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    async with ClientSession() as others, browser_page() as page:
        page.set_default_timeout(20_000)
        events = server.make_url("/api/chat/events")
        taken = [await others.get(events, params={"session_id": f"colleague-{n:04}"})
                 for n in range(STREAMS_PER_ADDRESS)]
        assert all(r.status == 200 for r in taken)
        await page.goto(str(server.make_url("/")))
        await page.fill("#text", "can I talk to a person?")
        await page.press("#text", "Enter")
        await page.locator("li.message.bot", has_text="queue").wait_for()
        listed = await others.get(server.make_url("/admin/handoffs"), headers=admin_headers())
        (handoff,) = (await listed.json())["handoffs"]
        staff = server.make_url(f"/admin/handoffs/{handoff['id']}/messages")

        sent = await others.post(staff, headers=admin_headers(), json={"text": "Hi, Sam here.", "author": "Sam"})
        assert sent.status == 201
        await page.locator("li.message.staff", has_text="Hi, Sam here.").wait_for()  # without a stream
        for response in taken:
            response.close()
        sent = await others.post(staff, headers=admin_headers(), json={"text": "Found your order.", "author": "Sam"})
        assert sent.status == 201
        await page.locator("li.message.staff", has_text="Found your order.").wait_for()
        assert await page.locator("li.message.staff").count() == 2, "each message shown once"
        for _ in range(300):  # the page tries again, 2 s doubling: it has its stream within 30 s
            if dict(server.app[STREAMS]) == {"127.0.0.1": 1}:
                break
            await asyncio.sleep(0.1)
        assert dict(server.app[STREAMS]) == {"127.0.0.1": 1}, "the page's own stream, and only it"
        assert await page.locator("li.note", has_text="joined").count() == 1
        speakers = await page.locator("li.message > .speaker").all_text_contents()  # for screen readers
        assert speakers == ["Assistant: ", "You: ", "Assistant: ", "Sam from support: ", "Sam from support: "]
        assert await page.locator("li.message.staff .author").first.get_attribute("aria-hidden") == "true"


async def test_the_last_replys_buttons_come_back_after_a_reload(tmp_path: Path, aiohttp_server) -> None:
    """A clarification's choices and a fallback's "Talk to a person" work after a reload;
    buttons already spent stay away."""
    settings = demo_settings(tmp_path, answer_threshold=0.99, clarify_window=0.7)
    server = await aiohttp_server(create_app(settings, model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        page.set_default_timeout(10_000)
        await page.goto(str(server.make_url("/")))
        await page.fill("#text", "refund for my return")
        await page.press("#text", "Enter")
        clarify = page.locator("li.message.bot[data-action='clarify']").last
        await clarify.wait_for()
        offered = await clarify.locator(".choices button").all_inner_texts()

        await page.reload()
        await page.wait_for_selector("li.message.user")
        restored = page.locator("li.message.bot", has_text="Did you mean").last
        assert await restored.locator(".choices button").all_inner_texts() == offered
        await restored.locator(".choices button").first.click()
        await page.locator("li.message.bot[data-action='answer']").last.wait_for()

        await page.fill("#text", "weather joke")
        await page.press("#text", "Enter")
        await page.locator("li.message.bot[data-action='fallback']").last.wait_for()
        await page.reload()
        await page.wait_for_selector("li.message.user")
        assert await page.locator(".choices button").all_inner_texts() == ["Talk to a person"], "only the last"
        await page.locator("li.message.bot").last.get_by_role("button", name="Talk to a person").click()
        await page.locator("li.message.bot[data-action='handoff']").wait_for()


async def test_a_message_cut_at_the_length_limit_says_so(tmp_path: Path, aiohttp_server) -> None:
    server = await aiohttp_server(create_app(demo_settings(tmp_path), model_loader=lambda s: KeywordModel()))
    async with browser_page() as page:
        await page.goto(str(server.make_url("/")))
        note = page.locator("#limit")
        await page.fill("#text", "x" * 3999)
        assert not await note.is_visible()
        await page.locator("#text").focus()
        await page.keyboard.insert_text("y" * 500)  # pasted: the input keeps 4000
        assert len(await page.input_value("#text")) == 4000
        assert await note.is_visible()
        assert await note.inner_text() == "Messages can be up to 4000 characters."
        assert await page.locator("#text").get_attribute("aria-describedby") == "limit"
        await page.press("#text", "Enter")
        await page.locator("li.message.bot[data-action]").wait_for()
        assert not await note.is_visible(), "gone with the message"
