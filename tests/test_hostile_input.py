"""The hostile-input suite: arbitrary input at every JSON route, console form and secret header.

Hypothesis builds JSON values an attacker would send (huge integers, lone surrogates, nested
structures, every wrong type), form fields of any text or bytes, and header values of any
bytes. Each example goes to the real app on a loopback port *while other customers chat*, and
the property is the one that matters on the open internet:

- no 5xx and no connection closed without an answer, whatever was sent;
- every other concurrent session's turn is answered and stored.

"The poison message among normal traffic" (a lone surrogate that once failed the whole turn
write batch it shared) is also run explicitly, with a crowd around it.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_from_bytes

import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.console.auth import COOKIE, SIGNIN_COOKIE
from bot.settings import Settings
from knowledge.conversations.log import ConversationLog
from knowledge.database import Database
from knowledge.staff import StaffAccounts
from tests.bot.service import ADMIN_TOKEN, demo_settings
from tests.fakes import KeywordModel
from tests.raw_http import raw_request

NORMAL_SESSIONS = 6  # customers chatting beside each hostile request
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class RawNumber(str):
    """A JSON number written as is: integers past Python's 4,300-digit parse limit, 1e999."""


def dump(value: object) -> str:
    """JSON text of ``value``; strings are ASCII-escaped, so a lone surrogate travels as ``\\ud800``."""
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(key) + ":" + dump(item) for key, item in value.items()) + "}"
    return json.dumps(value)


WEIRD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\u200b" * 5, "\ufeff", "\u202eevil", "abcdefgh\n", "²",
                              "9" * 30, "\x00", "\r\nSet-Cookie: x=1", "../../etc/passwd", "<script>", "None"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**62, max_value=2**80),
    st.integers(min_value=4290, max_value=4400).map(lambda digits: RawNumber("9" * digits)),
    st.sampled_from([RawNumber("1e999"), RawNumber("-1e999"), RawNumber("-0")]),
    st.floats(), st.text(max_size=60), WEIRD_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
SESSION_IDS = st.from_regex(r"[A-Za-z0-9_-]{8,20}", fullmatch=True)


def body_of(fields: dict[str, st.SearchStrategy[object]]) -> st.SearchStrategy[object]:
    """A JSON body for a route: its fields, each plausible or arbitrary (or absent), or any JSON at all."""
    plausible_or_not = {name: st.one_of(good, JSON_VALUES) for name, good in fields.items()}
    with_extra = st.fixed_dictionaries({}, optional={**plausible_or_not, "unexpected": JSON_VALUES})
    return st.one_of(with_extra, with_extra, JSON_VALUES)


ENTRY_FIELDS: dict[str, st.SearchStrategy[object]] = {
    "question": st.text(max_size=80), "answer": st.text(max_size=200),
    "alternatives": st.lists(st.text(max_size=40), max_size=3), "tags": st.lists(st.text(max_size=12), max_size=3),
    "language": st.sampled_from(["en", "pt-BR", "xx-"]), "enabled": st.booleans(),
}
FAQ_IDS = st.sampled_from(["shipping-times", "returns-policy", "no-such-entry", "new-entry"])
NUMBERS = st.integers(min_value=-3, max_value=5)
JSON_ROUTES = st.one_of(
    st.tuples(st.just(("POST", "/api/chat")), body_of({"session_id": SESSION_IDS, "text": st.text(max_size=200),
                                                       "choice": st.sampled_from(["human", "faq:shipping-times"])})),
    st.tuples(st.just(("POST", "/api/feedback")), body_of({"session_id": SESSION_IDS, "turn_id": NUMBERS,
                                                           "value": st.sampled_from(["up", "down"])})),
    st.tuples(st.just(("POST", "/admin/faq")), body_of({"faq_id": FAQ_IDS, **ENTRY_FIELDS})),
    st.tuples(FAQ_IDS.map(lambda faq_id: ("PUT", f"/admin/faq/{faq_id}")),
              body_of({"base_revision": NUMBERS, **ENTRY_FIELDS})),
    st.tuples(FAQ_IDS.map(lambda faq_id: ("POST", f"/admin/faq/{faq_id}/revert")), body_of({"revision": NUMBERS})),
    st.tuples(st.just(("POST", "/admin/reload")), body_of({"version": st.sampled_from(["v1", "../v1", "current"])})),
)
FORM_TEXT = st.one_of(
    st.text(max_size=80),  # lone surrogates go out as their (invalid) UTF-8 bytes
    JSON_VALUES.map(dump),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    WEIRD_TEXT, st.sampled_from(["", "1", "²", "9" * 5000]),
)
ENTRY_FORM = ("faq_id", "question", "alternatives", "answer", "tags", "language", "enabled", "base_revision", "turn")
CONSOLE_FORMS = {
    "/console/create": ENTRY_FORM,
    "/console/faq/shipping-times": ENTRY_FORM,
    "/console/faq/returns-policy/remove": ("base_revision",),
    "/console/faq/shipping-times/revert": ("revision",),
    "/console/faq/shipping-times/restore": (),
    "/console/review/label": ("turn", "kind", "faq_id", "intent", "back"),
    "/console/signin": ("signin_token", "name", "password", "next"),
}
CONSOLE_PAGES = ("/console/try?q=", "/console/faq?q=", "/console/faq?tag=", "/console/review?reason=",
                 "/console/review/similar?threshold=", "/console/create?turn=", "/console/signin?next=")
HEADER_BYTES = st.binary(max_size=120).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))


@dataclass(frozen=True)
class Server:
    """The real app on a loopback port, its settings, and a signed-in staff member's session."""

    port: int
    settings: Settings
    cookie: str
    csrf: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    app_settings = demo_settings(tmp_path_factory.mktemp("hostile"), rate_limit_per_minute=1_000_000,
                                 address_rate_per_minute=1_000_000,  # every example comes from 127.0.0.1
                                 max_in_flight=1_000)  # the crowd below is larger than the default cap
    database = Database.open(app_settings.database_url)
    accounts = StaffAccounts(database)
    accounts.add("ana", "correct horse battery")
    session = accounts.sign_in("ana", "correct horse battery")
    database.close()
    assert session is not None
    loop = asyncio.new_event_loop()
    # As ``supportbot serve`` runs it (``web.run_app``): handlers are not cancelled on disconnect.
    runner = web.AppRunner(create_app(app_settings, model_loader=lambda s: KeywordModel()), access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield Server(runner.addresses[0][1], app_settings, session.token, session.csrf_token)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


_sessions = itertools.count()


async def _customer(port: int) -> tuple[str, int]:
    """One normal customer's message; its session and the turn id the reply names."""
    session = f"customer-{next(_sessions):06d}"
    status, body = await raw_request(port, b"POST", b"/api/chat", [(b"Content-Type", b"application/json")],
                                     json.dumps({"session_id": session, "text": "hello, where is my order"}).encode())
    assert status == 200, body
    return session, int(json.loads(body)["turn_id"])


def run_among_customers(server: Server, method: bytes, path: bytes, headers: list[tuple[bytes, bytes]],
                        body: bytes = b"") -> int:
    """Send one hostile request while ``NORMAL_SESSIONS`` customers chat; check every customer's
    turn is stored; return the hostile request's status (0: closed without an answer)."""
    async def together() -> tuple[int, list[tuple[str, int]]]:
        hostile = asyncio.create_task(raw_request(server.port, method, path, headers, body))
        customers = await asyncio.gather(*(_customer(server.port) for _ in range(NORMAL_SESSIONS)))
        return (await hostile)[0], customers

    status, customers = asyncio.run(together())
    database = Database.open(server.settings.database_url)
    try:
        log = ConversationLog(database)
        for session, turn_id in customers:
            assert [turn.id for turn in log.turns(f"web:{session}")] == [turn_id], f"{session}'s turn was lost"
    finally:
        database.close()
    return status


def _admin() -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {ADMIN_TOKEN}".encode()), (b"Content-Type", b"application/json")]


def _form(fields: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(name)}={quote_from_bytes(value.encode('utf-8', 'surrogatepass'))}"
                    for name, value in fields).encode()


POISON = '{"session_id": "abcdefgh", "text": "\\ud800"}'


@FAST
@given(route=JSON_ROUTES)
@example(route=(("POST", "/api/chat"), RawNumber(POISON[:-1] + ', "choice": "\\udfff"}')))
def test_any_json_at_any_json_route_is_answered_without_5xx_and_costs_no_turn(
        server: Server, route: tuple[tuple[str, str], object]) -> None:
    (method, path), body = route
    status = run_among_customers(server, method.encode(), path.encode(), _admin(), dump(body).encode())
    assert 200 <= status < 500, (method, path, status)


@FAST
@given(path=st.sampled_from(sorted(CONSOLE_FORMS)), data=st.data())
def test_any_text_in_any_console_form_field_is_answered_without_5xx(server: Server, path: str,
                                                                     data: st.DataObject) -> None:
    names = CONSOLE_FORMS[path]
    fields = [("csrf_token", server.csrf)]
    for name in data.draw(st.lists(st.sampled_from(names), max_size=len(names) + 2)) if names else []:
        fields.append((name, data.draw(FORM_TEXT, label=name)))
    cookies = f"{COOKIE}={server.cookie}"
    if path == "/console/signin":  # past the double-submit check, so the name and password are read
        token = data.draw(st.sampled_from(["form-token-0123", ""]))
        fields.append(("signin_token", token))
        cookies += f"; {SIGNIN_COOKIE}={token}"
    headers = [(b"Cookie", cookies.encode()), (b"Content-Type", b"application/x-www-form-urlencoded")]
    status = run_among_customers(server, b"POST", path.encode(), headers, _form(fields))
    assert 200 <= status < 500, (path, fields, status)


@FAST
@given(page=st.sampled_from(CONSOLE_PAGES), value=FORM_TEXT)
def test_any_text_in_any_console_query_is_answered_without_5xx(server: Server, page: str, value: str) -> None:
    path = page + quote_from_bytes(value.encode("utf-8", "surrogatepass"))
    status = run_among_customers(server, b"GET", path.encode(), [(b"Cookie", f"{COOKIE}={server.cookie}".encode())])
    assert 200 <= status < 500, (path, status)


@FAST
@given(kind=st.sampled_from(["authorization", "cookie", "csrf"]), value=HEADER_BYTES)
@example(kind="authorization", value=b"Bearer \xff\xfe")
@example(kind="cookie", value=b"\x80\x81")
def test_any_bytes_in_the_secret_headers_are_refused_without_5xx(server: Server, kind: str, value: bytes) -> None:
    if kind == "authorization":
        request = (b"GET", b"/admin/faq", [(b"Authorization", value)])
    elif kind == "cookie":
        request = (b"GET", b"/console/faq", [(b"Cookie", COOKIE.encode() + b"=" + value)])
    else:
        request = (b"POST", b"/console/faq/shipping-times/restore",
                   [(b"Cookie", f"{COOKIE}={server.cookie}".encode()), (b"X-CSRF-Token", value)])
    status = run_among_customers(server, *request)
    assert 300 <= status < 500, (kind, value, status)


@pytest.mark.parametrize("poison", [
    POISON,
    '{"session_id": "abcdefgh", "text": "ok", "choice": "\\udfff"}',
    '{"session_id": "abcdefgh", "text": "\\ud83d' + "x" * 9000 + '"}',
    '{"session_id": "abcdefgh", "text": "hi", "n": ' + "9" * 4301 + "}",
    '{"session_id": "abcdefgh", "text": ["\\ud800"]}',
])
def test_poison_message_among_normal_traffic(server: Server, poison: str) -> None:
    """A crowd of customers and the same poison message, sent many times at once: every
    customer's turn is stored, and the poison gets an answer (200 refusal or 400), never a 500."""
    async def crowd() -> tuple[list[int], list[tuple[str, int]]]:
        poisons = asyncio.gather(*(raw_request(server.port, b"POST", b"/api/chat",
                                               [(b"Content-Type", b"application/json")], poison.encode())
                                   for _ in range(10)))
        customers = await asyncio.gather(*(_customer(server.port) for _ in range(60)))
        return [status for status, _ in await poisons], customers

    statuses, customers = asyncio.run(crowd())
    assert set(statuses) <= {200, 400}, statuses
    database = Database.open(server.settings.database_url)
    try:
        log = ConversationLog(database)
        stored = {turn.id: turn.record.session_id for turn in log.turns(limit=100_000)}
    finally:
        database.close()
    assert all(stored.get(turn_id) == f"web:{session}" for session, turn_id in customers)


def test_the_suite_reaches_a_real_server(server: Server) -> None:
    """A guard: the server answers a plain request, so 'no 5xx' above is not vacuous."""
    assert run_among_customers(server, b"GET", b"/healthz", []) == 200
    assert Path(server.settings.database_url.removeprefix("sqlite:///")).is_file()
