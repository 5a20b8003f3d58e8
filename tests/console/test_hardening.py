"""Hostile input at the console: odd digits, odd bytes in the cookie and headers, a line break in
``next``. Each is refused with a 4xx (or ignored), never a 500, and changes nothing."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.console.auth import COOKIE
from bot.settings import Settings
from tests.console.helpers import NAME, PASSWORD, SIGNIN_TOKEN, queue_turns
from tests.raw_http import raw_request

# "²" and "١" pass str.isdigit() but int() refuses the first; 30 nines are past SQLite's range.
ODD_NUMBERS = ["²", "١٢", "9" * 30, "9" * 5000, "-1", " 1", ""]


@pytest.mark.parametrize("raw", ODD_NUMBERS)
async def test_odd_numbers_in_forms_and_queries_are_refused_not_500(client: TestClient, csrf: str,
                                                                    settings: Settings, raw: str) -> None:
    (turn,) = queue_turns(settings, ("do you sell gift cards", "fallback"))
    history = await client.get("/console/faq/shipping-times/history")
    assert history.status == 200
    revert = await client.post("/console/faq/shipping-times/revert", data={"csrf_token": csrf, "revision": raw})
    assert revert.status == 400
    edit = await client.post("/console/faq/shipping-times", data={
        "csrf_token": csrf, "base_revision": raw, "question": "How long does delivery take?", "answer": "A week."})
    assert edit.status == 400
    label = await client.post("/console/review/label", data={"csrf_token": csrf, "turn": raw, "kind": "dismissed"},
                              allow_redirects=False)
    assert label.status == 400
    create = await client.get(f"/console/create?turn={raw}")
    assert create.status == 200
    remove = await client.post("/console/faq/shipping-times/remove", data={"csrf_token": csrf, "base_revision": raw},
                               allow_redirects=False)
    assert remove.status == 303  # a base revision that is not one means "whatever it is now", as before
    assert (await client.get("/console/review")).status == 200 and str(turn) in await (
        await client.get("/console/review")).text()


@pytest.mark.parametrize("cookie", [b"\xff\xfe", "é".encode(), b"\xc3\x28" * 30, b"\x80abc"])
async def test_non_ascii_bytes_in_the_console_cookie_are_no_session(client: TestClient, cookie: bytes) -> None:
    assert client.port is not None
    header = (b"Cookie", COOKIE.encode() + b"=" + cookie)
    status, _ = await raw_request(client.port, b"GET", b"/console/faq", [header])
    assert status == 303
    status, _ = await raw_request(client.port, b"POST", b"/console/faq/x/restore",
                                  [header, (b"Content-Type", b"application/x-www-form-urlencoded")], b"csrf_token=x")
    assert status == 401


@pytest.mark.parametrize("token", [b"\xff\xfe", "é".encode(), b"\x80" * 40])
async def test_non_ascii_bytes_in_the_csrf_header_are_a_403(client: TestClient, csrf: str, token: bytes) -> None:
    assert client.port is not None
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/console/"))[COOKIE].value
    status, _ = await raw_request(client.port, b"POST", b"/console/faq/shipping-times/restore",
                                  [(b"Cookie", f"{COOKIE}={cookie}".encode()), (b"X-CSRF-Token", token)])
    assert status == 403


@pytest.mark.parametrize("next_url", ["/console/faq\r\nSet-Cookie: evil=1", "/console/\n", "/console/\x00x",
                                      "/console/ faq", "/console/é"])
async def test_a_line_break_in_next_signs_in_to_the_console_home(client: TestClient, next_url: str) -> None:
    page = await client.get("/console/signin", params={"next": next_url})
    assert page.status == 200
    token = SIGNIN_TOKEN.search(await page.text())
    assert token is not None
    response = await client.post("/console/signin", allow_redirects=False, data={
        "signin_token": token.group(1), "name": NAME, "password": PASSWORD, "next": next_url})
    assert response.status == 303 and response.headers["Location"] == "/console/"
    assert "evil" not in response.cookies
