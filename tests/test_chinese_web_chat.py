"""The Chinese demo in the web chat, in headless Chromium: a customer types a Chinese question
and gets the Chinese FAQ answer, from a bundle the tiny Chinese BERT was trained into and
exported as (``tests/chinese.py``), served by the real app on loopback.

Also what Chinese typing does to the page: an input method composes a word before committing
it, and Enter during composition picks a candidate (it must not send the half-typed message);
the length limit counts characters, so a message of many Chinese characters (three UTF-8
bytes each) is read, not refused as an oversized request.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import create_app
from bot.settings import Settings
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from knowledge.faq.formats import read_faq_file
from knowledge.faq.store import FaqStore
from tests.browser import browser_page, open_chat, screenshot
from tests.chinese import DEMO, unseen_queries

pytest.importorskip("transformers")

QUESTION_FAQ = "zh-shipping-time"  # its unseen message "一般几天能收到货"


def _settings(tmp_path: Path, bundles: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", admin_token="t" * 32, max_wait_ms=1.0, bundle=bundles / "v1",
                        review_sample_rate=0.0)
    store = FaqStore(Database.open(settings.database_url))
    store.import_entries(read_faq_file(DEMO / "faq.yaml").entries, "test")
    store.database.close()
    return settings


def _answer(faq_id: str) -> str:
    return next(e.answer for e in read_faq_file(DEMO / "faq.yaml").entries if e.faq_id == faq_id)


async def _compose(cdp, text: str) -> None:
    """What an input method does while the customer picks characters: a composition, uncommitted."""
    await cdp.send("Input.imeSetComposition", {"text": text, "selectionStart": len(text), "selectionEnd": len(text)})


async def test_a_chinese_question_typed_in_the_web_chat_gets_its_chinese_answer(
    chinese_bundles: Path, tmp_path: Path, aiohttp_server
) -> None:
    settings = _settings(tmp_path, chinese_bundles)
    question = next(text for text, faq_id in unseen_queries() if faq_id == QUESTION_FAQ)
    server = await aiohttp_server(create_app(settings))
    async with browser_page() as page:
        page.set_default_timeout(10_000)
        await open_chat(page, server)
        cdp = await page.context.new_cdp_session(page)
        await page.focus("#text")

        # Enter while the input method is composing picks the candidate; nothing is sent.
        head, rest = question[:2], question[2:]
        await _compose(cdp, "yiban")
        await page.keyboard.press("Enter")
        await cdp.send("Input.insertText", {"text": head})
        await page.wait_for_timeout(300)
        assert await page.locator("li.message.user").count() == 0, "Enter during composition sent the message"
        assert await page.input_value("#text") == head

        # The rest of the question, committed; now Enter sends it.
        await _compose(cdp, "jitian")
        await cdp.send("Input.insertText", {"text": rest})
        assert await page.input_value("#text") == question
        await page.keyboard.press("Enter")
        answer = page.locator("li.message.bot[data-action='answer']").last
        await answer.wait_for()
        assert _answer(QUESTION_FAQ) in await answer.inner_text()
        assert await page.locator("li.message.user").last.inner_text() == f"You: {question}"  # the speaker, hidden
        await screenshot(page, "web-chat-chinese")

        # At the length limit (4000 characters, 12,000 bytes in UTF-8) the message is read and
        # answered; the field takes no more than the limit.
        await page.fill("#text", "")
        await page.focus("#text")
        await cdp.send("Input.insertText", {"text": "退" * (settings.max_text_chars + 5)})
        assert len(await page.input_value("#text")) == settings.max_text_chars
        await page.keyboard.press("Enter")
        await page.locator("li.message.bot[data-action]").nth(1).wait_for()
        assert await page.locator("li.message.bot.error").count() == 0

    turns = ConversationLog(Database.open(settings.database_url)).turns()
    assert [t.record.action for t in turns][0] == "answer" and len(turns) == 2
