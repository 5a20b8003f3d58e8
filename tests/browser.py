"""Headless Chromium for page tests: Debian's ``chromium`` driven by Playwright.

CI installs the browser (``.ci/run``); without it a page test is skipped locally but fails
in CI (``CI`` set), so a missing install step cannot hide behind a skip.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / ".ci-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run should have installed it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@asynccontextmanager
async def browser_page() -> AsyncIterator[object]:
    """A fresh page in a new headless Chromium; closed afterwards."""
    async with browser_pages(1) as (page,):
        yield page


@asynccontextmanager
async def browser_pages(count: int) -> AsyncIterator[list[object]]:
    """``count`` pages, each in a browser context of its own (own cookies and storage: two
    people at once), in one headless Chromium; closed afterwards."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(count):
                context = await browser.new_context(viewport={"width": 390, "height": 844})
                pages.append(await context.new_page())
            yield pages
        finally:
            await browser.close()


async def screenshot(page: object, name: str) -> Path:
    """Save a screenshot under .ci-artifacts/screenshots (git-ignored) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def open_chat(page: object, server: object) -> None:
    """Open the web chat served by ``server`` (an aiohttp test server) and wait for its greeting."""
    await page.goto(str(server.make_url("/")))
    await page.wait_for_selector("li.message.bot")


async def ask(page: object, text: str, action: str) -> object:
    """Type ``text`` into the open web chat, press Send, and wait for the bot's reply with
    ``action`` (its ``data-action``); returns that reply's list item."""
    await page.fill("#text", text)
    await page.click("#send")
    reply = page.locator(f"li.message.bot[data-action='{action}']").last
    await reply.wait_for()
    return reply
