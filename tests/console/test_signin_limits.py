"""Sign-in under attack: simultaneous guesses are all counted, and a sign-in form works once."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.settings import Settings
from tests.console.helpers import NAME, PASSWORD, SIGNIN_TOKEN, database
from tests.fakes import KeywordModel

COOKIE = "supportbot_console_signin"


async def _form(http: aiohttp.ClientSession, client: TestClient) -> tuple[str, str]:
    """A fresh sign-in form: its token and its cookie."""
    async with http.get(client.make_url("/console/signin")) as response:
        token = SIGNIN_TOKEN.search(await response.text())
        assert token is not None
        return token.group(1), response.cookies[COOKIE].value


async def _post(http: aiohttp.ClientSession, client: TestClient, form: tuple[str, str],
                password: str) -> aiohttp.ClientResponse:
    token, cookie = form
    async with http.post(client.make_url("/console/signin"), allow_redirects=False,
                         data={"signin_token": token, "name": NAME, "password": password},
                         headers={"Cookie": f"{COOKIE}={cookie}"}) as response:
        await response.read()
        return response


def _sessions(settings: Settings) -> int:
    import sqlite3

    with sqlite3.connect(database(settings)) as db:
        return int(db.execute("select count(*) from staff_sessions").fetchone()[0])


async def test_thirty_simultaneous_guesses_are_all_counted(client: TestClient, settings: Settings) -> None:
    # Each guess on its own fresh form, all sent at once, the right password last: before, the
    # throttle counted a guess only after its password check, so all 30 got through to the check.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        forms = [await _form(http, client) for _ in range(30)]
        passwords = [f"wrong guess {n}" for n in range(29)] + [PASSWORD]
        responses = await asyncio.gather(*(_post(http, client, form, password)
                                           for form, password in zip(forms, passwords)))
    statuses = [r.status for r in responses]
    assert statuses.count(401) == 10 and statuses.count(429) == 20, statuses
    assert statuses[-1] == 429  # the right password came too late: refused without being checked
    assert all("supportbot_console" not in r.cookies for r in responses)
    assert _sessions(settings) == 0


async def test_a_sign_in_form_works_once(client: TestClient, settings: Settings) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        form = await _form(http, client)
        first = await _post(http, client, form, "wrong guess 1")
        replayed = await _post(http, client, form, PASSWORD)
        assert first.status == 401 and replayed.status == 403
        assert "supportbot_console" not in replayed.cookies and _sessions(settings) == 0
        fresh = await _post(http, client, await _form(http, client), PASSWORD)
        assert fresh.status == 303 and _sessions(settings) == 1
        assert (await _post(http, client, form, PASSWORD)).status == 403  # nor after a success


async def test_a_token_the_server_never_issued_is_refused_even_with_a_matching_cookie(
        client: TestClient, settings: Settings) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        response = await _post(http, client, ("made-up-token", "made-up-token"), PASSWORD)
    assert response.status == 403 and _sessions(settings) == 0


async def _sign_in_secure(client: TestClient, headers: dict[str, str]) -> bool:
    """Sign in through the form with ``headers``; whether the session cookie is marked Secure."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        token, cookie = await _form(http, client)
        async with http.post(client.make_url("/console/signin"), allow_redirects=False,
                             data={"signin_token": token, "name": NAME, "password": PASSWORD},
                             headers={"Cookie": f"{COOKIE}={cookie}", **headers}) as response:
            assert response.status == 303
            return bool(response.cookies["supportbot_console"]["secure"])


@pytest.mark.parametrize(("changes", "secure"), [
    ({"trusted_proxies": "127.0.0.1", "trust_forwarded_proto": True}, True),
    ({"trusted_proxies": "127.0.0.1"}, False),  # the proxy is trusted for addresses, not the scheme
    ({"trusted_proxies": "10.0.0.0/8", "trust_forwarded_proto": True}, False),  # the peer is no trusted proxy
])
async def test_the_session_cookie_is_secure_behind_a_tls_terminating_proxy(
        settings: Settings, aiohttp_client, changes: dict[str, object], secure: bool) -> None:
    client = await aiohttp_client(create_app(settings.with_changes(**changes), model_loader=lambda s: KeywordModel()))
    assert await _sign_in_secure(client, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}) is secure


async def test_one_address_gets_at_most_60_sign_in_forms_a_minute(client: TestClient) -> None:
    # Each form handed out is a row in the shared database until it expires: a loop fetching the
    # page must not fill it.
    statuses = [(await client.get("/console/signin")).status for _ in range(61)]
    assert statuses == [200] * 60 + [429]
