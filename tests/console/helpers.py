"""Helpers for console tests: an app over the demo FAQ with one staff account, signed in."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bot.settings import Settings
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.database import Database
from knowledge.staff import StaffAccounts

NAME, PASSWORD = "ana", "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNIN_TOKEN = re.compile(r'name="signin_token" value="([^"]+)"')


def add_staff(settings: Settings, name: str = NAME, password: str = PASSWORD) -> None:
    database = Database.open(settings.database_url)
    StaffAccounts(database).add(name, password)
    database.close()


async def sign_in(client: TestClient, name: str = NAME, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = await client.get("/console/signin")
    token = SIGNIN_TOKEN.search(await page.text())
    assert token is not None
    response = await client.post("/console/signin", data={"signin_token": token.group(1), "name": name,
                                                          "password": password, "next": "/console/faq"})
    assert response.status == 200 and response.url.path == "/console/faq", await response.text()
    return csrf_of(await response.text())


async def fill_sign_in(page: Any, name: str = NAME, password: str = PASSWORD) -> None:
    """In a browser showing the console's sign-in form: sign in (it goes on to its ``next`` page)."""
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("button[type=submit]")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def queue_turns(settings: Settings, *specs: tuple[str, str]) -> list[int]:
    """Log turns (text, action) that need review, oldest first; returns their ids."""
    database = Database.open(settings.database_url)
    ids = ConversationLog(database).record([
        TurnRecord(f"web:session-{n:04d}", "web", text, action, "Sorry, I don't know.", 3.0,
                   intent="faq", confidence=0.4, needs_review=True)
        for n, (text, action) in enumerate(specs)])
    database.close()
    return ids


async def follow(client: TestClient, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, (path, response.status, await response.text())
    return await response.text()


def database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))
