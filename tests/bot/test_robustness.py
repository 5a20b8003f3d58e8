"""Random input at the policy, the text normaliser and the HTTP API: never an exception, never a 5xx."""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.core.policy import IntentGuess, Thresholds, decide
from bot.core.routing import SEARCH, Route
from bot.core.text import normalise_text
from knowledge.faq.index import Hit
from tests.bot.service import demo_settings
from tests.fakes import KeywordModel

ANY_TEXT = st.one_of(
    st.text(),  # any Unicode, control characters and surrogates included
    st.text(alphabet=st.characters(codec="utf-8"), min_size=3000, max_size=20000),
    st.sampled_from(["<script>alert(1)</script>", "[x](javascript:alert(1))", "\x00" * 50, "\u202e\u200b",
                     "{{7*7}}", "' OR 1=1 --", "😀" * 2000, "\r\n" * 100]),
)


@given(ANY_TEXT, st.integers(min_value=1, max_value=5000))
def test_normalised_text_is_clean_and_bounded(raw: str, limit: int) -> None:
    message = normalise_text(raw, limit)
    assert (message.text == "") == (message.problem is not None)
    assert len(message.text) <= limit
    assert not any(ch in message.text for ch in "\x00\n\r\t\x1b")


scores = st.floats(min_value=-1, max_value=1, allow_nan=False)


@given(st.lists(scores, max_size=5), st.floats(0, 1), st.booleans(), st.sampled_from([SEARCH, Route("handler", "greeting"), Route("faq", "x")]),
       st.floats(0, 1), st.floats(0, 0.5), st.floats(0, 0.5))
def test_policy_always_decides(raw_scores: list[float], confidence: float, in_scope: bool, route: Route,
                               answer: float, margin: float, window: float) -> None:
    hits = [Hit(f"f{i}", s, "q") for i, s in enumerate(sorted(raw_scores, reverse=True))]
    decision = decide(IntentGuess("faq", confidence, in_scope), hits, route, Thresholds(answer, margin, window, 0.5))
    assert decision.action in ("handler", "answer", "clarify", "fallback") and decision.reason
    assert set(decision.choices) <= set(hits) and len(decision.choices) <= 3
    if decision.action == "answer" and route.kind == "search":
        assert decision.faq_id == hits[0].faq_id and hits[0].score >= answer


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a loopback port, in its own thread and event loop."""
    app_settings = demo_settings(tmp_path_factory.mktemp("robust"), rate_limit_per_minute=1_000_000,
                                 address_rate_per_minute=1_000_000)  # every example comes from 127.0.0.1
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(app_settings, model_loader=lambda s: KeywordModel()))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            json.loads(response.read())
            return response.status
    except urllib.error.HTTPError as error:
        assert json.loads(error.read())["error"]  # every refusal says why
        return error.code


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT, session=st.text(max_size=120), choice=st.one_of(st.none(), st.text(max_size=50)))
def test_http_api_never_fails_on_any_text(server_url: str, text: str, session: str, choice: str | None) -> None:
    body = json.dumps({"session_id": "robust-session-01", "text": text}).encode("utf-8", "surrogatepass")
    status = post(f"{server_url}/api/chat", body)
    assert status in (200, 400, 413)
    status = post(f"{server_url}/api/chat", json.dumps({"session_id": session, "text": text, "choice": choice}).encode())
    assert status in (200, 400, 413)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode)))
def test_http_api_never_fails_on_any_body(server_url: str, body: bytes) -> None:
    assert post(f"{server_url}/api/chat", body) in (200, 400, 413)
    assert post(f"{server_url}/api/feedback", body) in (200, 400, 404, 409, 413)
