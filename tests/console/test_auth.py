"""Sign-in, sign-out, sessions and CSRF: refused requests change nothing."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.settings import Settings
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from knowledge.staff import StaffAccounts
from tests.console.helpers import NAME, PASSWORD, SIGNIN_TOKEN, csrf_of, queue_turns, sign_in

PAGES = ["/console/", "/console/faq", "/console/faq?q=order", "/console/create", "/console/faq/gift-cards",
         "/console/faq/gift-cards/history", "/console/try?q=hello", "/console/review",
         "/console/review?reason=fallback", "/console/review/similar"]
CHANGES = [
    ("/console/create", {"faq_id": "loyalty", "question": "Do you have a loyalty card?", "answer": "No."}),
    ("/console/faq/gift-cards", {"base_revision": "1", "question": "Do you sell gift cards?", "answer": "No."}),
    ("/console/faq/gift-cards/remove", {"base_revision": "1"}),
    ("/console/faq/gift-cards/revert", {"revision": "1"}),
    ("/console/faq/gift-cards/restore", {}),
    ("/console/review/label", {"turn": "1", "kind": "dismissed"}),
    ("/console/signout", {}),
]


def _state(settings: Settings) -> tuple[int, int, int]:
    """FAQ revision, labels given and sessions alive: what a refused change must not move."""
    database = Database.open(settings.database_url)
    try:
        with database.connect() as conn:
            sessions = conn.exec_driver_sql("select count(*) from staff_sessions").scalar()
        return FaqStore(database).kb_revision(), len(Reviews(database).labels()), int(sessions or 0)
    finally:
        database.close()


async def _signin_form(client: TestClient) -> str:
    token = SIGNIN_TOKEN.search(await (await client.get("/console/signin")).text())
    assert token is not None
    return token.group(1)


@pytest.mark.parametrize("path", PAGES)
async def test_pages_redirect_to_sign_in_without_a_session(client: TestClient, path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith("/console/signin?next=")


@pytest.mark.parametrize(("path", "form"), CHANGES)
async def test_changes_without_a_session_are_refused(client: TestClient, settings: Settings, path: str,
                                                     form: dict[str, str]) -> None:
    queue_turns(settings, ("do you have a loyalty card", "fallback"))
    before = _state(settings)
    response = await client.post(path, data={**form, "csrf_token": "anything"}, allow_redirects=False)
    assert response.status == 401
    assert _state(settings) == before


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
@pytest.mark.parametrize(("path", "form"), CHANGES)
async def test_changes_without_the_csrf_token_are_refused(client: TestClient, settings: Settings, csrf: str,
                                                          path: str, form: dict[str, str], token: str | None) -> None:
    queue_turns(settings, ("do you have a loyalty card", "fallback"))
    before = _state(settings)
    data = form if token is None else {**form, "csrf_token": token}
    response = await client.post(path, data=data, allow_redirects=False)
    assert response.status == 403
    assert "nothing was changed" in await response.text()
    assert _state(settings) == before
    assert (await client.get("/console/faq", allow_redirects=False)).status == 200  # still signed in


async def test_a_token_in_a_header_is_accepted_too(client: TestClient, csrf: str) -> None:
    response = await client.post("/console/signout", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
    assert response.status == 303


async def test_a_page_script_is_refused_in_json_that_says_what_to_do(client: TestClient) -> None:
    """The Try-it page's script posts JSON: a refusal it can read says why, not an HTML page."""
    body = {"conversation": "0123456789abcdef", "text": "hi"}
    expired = await client.post("/console/try/say", json=body, headers={"X-CSRF-Token": "anything"})
    assert expired.status == 401 and expired.content_type == "application/json"
    assert (await expired.json())["error"] == "Your session has expired: sign in again."
    csrf = await sign_in(client)
    stale = await client.post("/console/try/say", json=body, headers={"X-CSRF-Token": csrf + "x"})
    assert stale.status == 403 and stale.content_type == "application/json"
    assert "reload the page" in (await stale.json())["error"]


async def test_sign_in_sets_a_strict_http_only_cookie_and_goes_to_next(client: TestClient) -> None:
    response = await client.post("/console/signin", allow_redirects=False, data={
        "signin_token": await _signin_form(client), "name": " Ana ", "password": PASSWORD,
        "next": "/console/review?reason=fallback"})
    assert response.status == 303 and response.headers["Location"] == "/console/review?reason=fallback"
    cookie = response.cookies["supportbot_console"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    assert PASSWORD not in str(response.headers)


@pytest.mark.parametrize(("name", "password"), [(NAME, "wrong password!"), ("bob", PASSWORD), (NAME, "")])
async def test_wrong_name_or_password_is_refused(client: TestClient, name: str, password: str) -> None:
    response = await client.post("/console/signin", allow_redirects=False, data={
        "signin_token": await _signin_form(client), "name": name, "password": password})
    assert response.status == 401
    assert "Wrong name or password." in await response.text()
    assert "supportbot_console" not in response.cookies
    assert (await client.get("/console/faq", allow_redirects=False)).status == 303


async def test_sign_in_form_without_its_token_is_refused(client: TestClient) -> None:
    response = await client.post("/console/signin", allow_redirects=False,
                                 data={"signin_token": "forged", "name": NAME, "password": PASSWORD})
    assert response.status == 403 and "supportbot_console" not in response.cookies


@pytest.mark.parametrize("next_url", ["//evil.example/x", "https://evil.example/", "/api/chat", "/console//evil"])
async def test_next_never_leaves_the_console(client: TestClient, next_url: str) -> None:
    response = await client.post("/console/signin", allow_redirects=False, data={
        "signin_token": await _signin_form(client), "name": NAME, "password": PASSWORD, "next": next_url})
    assert response.headers["Location"] == "/console/"


async def test_many_wrong_passwords_slow_the_name_down(client: TestClient) -> None:
    for _ in range(10):
        await client.post("/console/signin", data={"signin_token": await _signin_form(client), "name": NAME,
                                                   "password": "not the password"})
    response = await client.post("/console/signin", allow_redirects=False, data={
        "signin_token": await _signin_form(client), "name": NAME, "password": PASSWORD})
    assert response.status == 429


async def test_a_name_slowed_down_is_told_how_its_password_is_reset(client: TestClient) -> None:
    """Only the command line resets a password, so the page names the command; and it says the
    same for a name with no account, so the page still tells nobody which names exist."""
    said = {}
    for name in (NAME, "nobody-here"):
        for _ in range(11):
            response = await client.post("/console/signin", data={
                "signin_token": await _signin_form(client), "name": name, "password": "not the password"})
        assert response.status == 429
        said[name] = error = (await response.text()).split('id="signin-error">')[1].split("</p>")[0]
        assert f"supportbot staff passwd {name}" in error and "administrator" in error, error
        assert "colleague" not in error
    assert said[NAME].replace(NAME, "X") == said["nobody-here"].replace("nobody-here", "X")


async def test_sign_out_ends_the_session(client: TestClient, settings: Settings, csrf: str) -> None:
    response = await client.post("/console/signout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/signin?done=signed_out"
    assert _state(settings)[2] == 0
    assert (await client.get("/console/faq", allow_redirects=False)).status == 303


async def test_a_removed_account_is_signed_out(client: TestClient, settings: Settings, csrf: str) -> None:
    database = Database.open(settings.database_url)
    StaffAccounts(database).deactivate(NAME)
    database.close()
    assert (await client.get("/console/faq", allow_redirects=False)).status == 303


async def test_pages_carry_security_headers_and_a_fresh_csrf_token(client: TestClient, csrf: str) -> None:
    response = await client.get("/console/faq")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert csrf_of(await response.text()) == csrf


async def test_every_page_links_the_web_chat_favicon(client: TestClient) -> None:
    """Without a linked icon a browser asks for /favicon.ico on every page load: a 404 each time."""
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert icon in await (await client.get("/console/signin")).text()
    assert icon in await (await client.post("/console/review/label", data={"csrf_token": "x"})).text()  # 401
    csrf = await sign_in(client)
    for path in ("/console/", "/console/faq", "/console/review", "/console/routing", "/console/retraining",
                 "/console/try", "/console/inbox"):
        assert icon in await (await client.get(path)).text(), path
    assert icon in await (await client.get("/console/review?reason=bogus")).text()  # a problem page
    assert icon in await (await client.post("/console/signout", data={"csrf_token": csrf + "x"})).text()  # 403
    served = await client.get("/static/favicon.svg")
    assert served.status == 200 and served.content_type == "image/svg+xml"


async def test_static_files_and_the_console_root_need_no_session(client: TestClient) -> None:
    assert (await client.get("/console/static/console.css")).status == 200
    assert (await client.get("/console/static/console.js")).status == 200
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/console/"
