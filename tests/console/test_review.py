"""The review queue: filters, one-click labels, attach and new entry from a question, groups."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot.settings import Settings
from knowledge.conversations.log import ConversationLog, TurnRecord
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.faq.store import FaqStore
from tests.bot.test_chat_api import say
from tests.console.helpers import NAME, follow, queue_turns


def _reviews(settings: Settings) -> Reviews:
    return Reviews(Database.open(settings.database_url))


def _thumbs_down(settings: Settings, text: str) -> int:
    log = ConversationLog(Database.open(settings.database_url))
    (turn_id,) = log.record([TurnRecord("web:thumbs-0001", "web", text, "answer", "An answer.", 2.0,
                                        intent="faq", confidence=0.9, faq_id="gift-cards", faq_score=0.9)])
    log.add_feedback(turn_id, "web:thumbs-0001", -1)
    return turn_id


async def _label(client: TestClient, csrf: str, turns: list[int], kind: str, **form: str):
    data = [("csrf_token", csrf), ("kind", kind), *[("turn", str(t)) for t in turns], *form.items()]
    return await client.post("/console/review/label", data=data, allow_redirects=False)


async def test_queue_is_newest_first_with_filters(client: TestClient, settings: Settings, csrf: str) -> None:
    fallback, handoff, low = queue_turns(settings, ("do you have a loyalty card", "fallback"),
                                         ("talk to a human", "handoff"), ("refund or return", "clarify"))
    down = _thumbs_down(settings, "gift cards for kids")
    page = await follow(client, "/console/review")
    order = [page.index(f'id="turn-{t}"') for t in (down, low, handoff, fallback)]
    assert order == sorted(order)
    assert 'All <span class="badge">4</span>' in page
    for reason, turn in (("fallback", fallback), ("handoff", handoff), ("low_confidence", low),
                         ("thumbs_down", down)):
        page = await follow(client, f"/console/review?reason={reason}")
        assert [t for t in (fallback, handoff, low, down) if f'id="turn-{t}"' in page] == [turn]
        assert 'aria-current="page"' in page
    assert (await client.get("/console/review?reason=bogus")).status == 400


async def test_label_with_intent_out_of_scope_or_dismiss(client: TestClient, settings: Settings, csrf: str) -> None:
    a, b, c = queue_turns(settings, ("track NW-123", "fallback"), ("tell me a joke", "fallback"), ("asdf", "fallback"))
    response = await _label(client, csrf, [a], "intent", intent="order_status", back="fallback")
    assert response.status == 303
    assert response.headers["Location"] == "/console/review?reason=fallback&done=labelled"
    assert (await _label(client, csrf, [b], "out_of_scope")).status == 303
    assert (await _label(client, csrf, [c], "dismissed")).status == 303
    reviews = _reviews(settings)
    assert reviews.pending() == []
    assert [(x.turn_id, x.kind, x.value, x.author) for x in reviews.labels()] == [
        (c, "dismissed", None, NAME), (b, "out_of_scope", None, NAME), (a, "intent", "order_status", NAME)]
    assert list(reviews.labels_since("2000-01-01")) == [
        ("track NW-123", "intent", "order_status"), ("tell me a joke", "out_of_scope", None),
        ("asdf", "dismissed", None)]
    assert "Nothing waits for review" in await follow(client, "/console/review?done=labelled")


async def test_attach_adds_a_phrasing_that_the_bot_answers_at_once(client: TestClient, settings: Settings,
                                                                   csrf: str) -> None:
    (turn,) = queue_turns(settings, ("can my  kid\nbuy a voucher", "fallback"))
    page = await follow(client, "/console/review")
    assert 'list="faq-entries"' in page and '<option value="gift-cards">Do you sell gift cards?</option>' in page
    response = await _label(client, csrf, [turn], "faq", faq_id="gift-cards")
    assert response.status == 303
    entry = FaqStore(Database.open(settings.database_url)).get("gift-cards")
    assert entry.alternatives[-1] == "can my kid buy a voucher" and entry.updated_by == NAME
    assert (await say(client, "can my kid buy a voucher"))["faq_id"] == "gift-cards"
    assert [(x.kind, x.value) for x in _reviews(settings).labels()] == [("faq", "gift-cards")]


async def test_refused_labels_change_nothing(client: TestClient, settings: Settings, csrf: str) -> None:
    (turn,) = queue_turns(settings, ("do you have a loyalty card", "fallback"))
    store = FaqStore(Database.open(settings.database_url))
    before = store.kb_revision()
    assert (await _label(client, csrf, [turn], "faq", faq_id="no-such-entry")).status == 404
    assert (await _label(client, csrf, [turn], "faq", faq_id="")).status == 400
    assert (await _label(client, csrf, [turn], "intent", intent="has spaces")).status == 400
    assert (await _label(client, csrf, [turn], "bogus")).status == 400
    assert (await _label(client, csrf, [], "dismissed")).status == 400
    assert (await _label(client, csrf, [turn, 999], "dismissed")).status == 404  # all or nothing
    assert store.kb_revision() == before and _reviews(settings).labels() == []
    assert (await _label(client, csrf, [turn], "dismissed")).status == 303
    again = await _label(client, csrf, [turn], "faq", faq_id="gift-cards")  # someone else was first
    assert again.status == 409 and "not waiting for review" in await again.text()
    assert store.kb_revision() == before


async def test_a_turn_that_does_not_exist_is_named_as_such(client: TestClient, settings: Settings,
                                                           csrf: str) -> None:
    """A made-up turn number is not "labelled by someone else": the page says there is no such turn."""
    (turn,) = queue_turns(settings, ("do you have a loyalty card", "fallback"))
    for form in ({"kind": "dismissed"}, {"kind": "intent", "intent": "loyalty"},
                 {"kind": "faq", "faq_id": "gift-cards"}):
        response = await _label(client, csrf, [turn, 999999], **form)
        text = await response.text()
        assert response.status == 404 and "there is no turn 999999" in text, text
        assert "not waiting for review" not in text
    created = await client.post("/console/create", data=[
        ("csrf_token", csrf), ("faq_id", "loyalty-card"), ("question", "Do you have a loyalty card?"),
        ("answer", "Not yet."), ("enabled", "on"), ("turn", str(turn)), ("turn", "999999")])
    assert created.status == 404 and "there is no turn 999999" in await created.text()
    assert "loyalty-card" not in {e.faq_id for e in FaqStore(Database.open(settings.database_url)).list()}
    assert _reviews(settings).labels() == [] and [t.id for t in _reviews(settings).pending()] == [turn]


async def test_new_entry_from_queued_questions(client: TestClient, settings: Settings, csrf: str) -> None:
    first, second = queue_turns(settings, ("do you have a loyalty card", "fallback"),
                                ("loyalty card?", "clarify"))
    page = await follow(client, f"/console/create?turn={first}&turn={second}")
    assert 'value="loyalty card?"' in page  # the newest question is the suggested question
    assert "do you have a loyalty card</textarea>" in page
    assert f'name="turn" value="{first}"' in page
    data = [("csrf_token", csrf), ("faq_id", "loyalty-card"), ("question", "Do you have a loyalty card?"),
            ("alternatives", "do you have a loyalty card\nloyalty card?"), ("answer", "Not yet."),
            ("enabled", "on"), ("turn", str(first)), ("turn", str(second))]
    response = await client.post("/console/create", data=data, allow_redirects=False)
    assert response.status == 303
    assert (await say(client, "loyalty card?"))["faq_id"] == "loyalty-card"
    labels = _reviews(settings).labels()
    assert sorted((x.turn_id, x.kind, x.value) for x in labels) == [
        (first, "new_faq", "loyalty-card"), (second, "new_faq", "loyalty-card")]
    again = await client.post("/console/create", data=[*data[:1], ("faq_id", "loyalty-2"), *data[2:]],
                              allow_redirects=False)
    assert again.status == 409  # those questions were labelled already: no second entry
    assert "loyalty-2" not in {e.faq_id for e in FaqStore(Database.open(settings.database_url)).list()}


async def test_similar_questions_are_grouped_and_labelled_at_once(client: TestClient, settings: Settings,
                                                                  csrf: str) -> None:
    ids = queue_turns(settings, ("do you have a loyalty card", "fallback"), ("are you hiring", "fallback"),
                      ("do you have a loyalty card?", "fallback"), ("loyalty card, do you have one", "clarify"),
                      ("talk to a human", "handoff"))
    page = await follow(client, "/console/review/similar?threshold=0.5")
    assert "4 questions the bot fell back on" in page  # the handoff is not an unanswered question
    assert "3 questions like" in page
    group = [ids[0], ids[2], ids[3]]
    assert all(f'name="turn" value="{t}" id="member-{t}" checked' in page for t in group)
    response = await _label(client, csrf, group, "intent", intent="loyalty", back="similar")
    assert response.headers["Location"] == "/console/review/similar?done=labelled"
    assert {t.id for t in _reviews(settings).pending()} == {ids[1], ids[4]}
    assert "1 question like" in await follow(client, "/console/review/similar")
    assert (await client.get("/console/review/similar?threshold=2")).status == 400
    assert (await client.get("/console/review/similar?threshold=abc")).status == 400


async def test_cards_can_be_trusted_labels_context_and_no_weak_prefill(client: TestClient, settings: Settings,
                                                                        csrf: str) -> None:
    """A pressed button shows its label, a card shows the conversation around it, a request for
    a person is pre-labelled human_handoff, and no FAQ entry is filled in below the answer
    threshold."""
    session = "context-check-01"
    for text in ("hello", "How long does delivery take?", "zzz qqq unknown words", "still nothing"):
        await say(client, text, session)
    await client.post("/api/chat", json={"session_id": session, "choice": "human"})
    page = await follow(client, "/console/review")
    log = ConversationLog(Database.open(settings.database_url))
    turns = log.turns(f"web:{session}")
    pressed, unanswered = turns[-1], turns[2]
    assert pressed.record.text == "Talk to a person", "the button's label, not its payload"
    card = page[page.index(f'id="turn-{pressed.id}"'):]
    card = card[:card.index("</li>\n", card.index('class="label-form"'))]
    assert 'value="human_handoff"' in card, "a request for a person is pre-labelled"
    other = page[page.index(f'id="turn-{unanswered.id}"'):]
    other = other[:other.index('class="label-form"')]
    assert "The conversation around it" in other and "How long does delivery take?" in other
    assert "Closest entry" not in other, "nothing weak is filled in"
    assert 'name="faq_id" list="faq-entries" autocomplete="off" autocapitalize="none" value=""' in page


def _card(page: str, turn_id: int) -> str:
    """The review card of turn ``turn_id`` on the queue page, up to the end of its label form."""
    card = page[page.index(f'id="turn-{turn_id}"'):]
    return card[:card.index("</form>")]


async def test_only_a_request_for_a_person_is_pre_labelled_human_handoff(client: TestClient, settings: Settings,
                                                                        csrf: str) -> None:
    """Three misses in a row call a person in, as designed; that third message is an unanswered
    question, not a request for a person: no pre-filled label that would teach gibberish as one."""
    for text in ("asdfgh", "qwerty zxcv", "blorp flim"):
        reply = await say(client, text, "missed-three-01")
    assert reply["action"] == "handoff"
    await say(client, "can I talk to a person", "asked-person-01")
    log = ConversationLog(Database.open(settings.database_url))
    escalated, asked = log.turns("web:missed-three-01")[-1], log.turns("web:asked-person-01")[-1]
    (accepted,) = log.record([TurnRecord("web:said-yes-0001", "web", "yes", "handoff", "I've asked a colleague.",
                                         2.0, intent="affirm", confidence=0.95, needs_review=True)])
    page = await follow(client, "/console/review?reason=handoff")
    card = _card(page, escalated.id)
    assert 'value="human_handoff"' not in card and "A request for a person" not in card
    assert 'name="intent" list="intent-labels" autocomplete="off" autocapitalize="none" value=""' in card
    assert "handed the customer to a person after 3 unanswered messages in a row" in card
    card = _card(page, asked.id)
    assert "A request for a person" in card and 'value="human_handoff" data-enter="intent"' in card
    card = _card(page, accepted)  # "yes" to the offer of a person: labelled as read, never as a request
    assert "A request for a person" in card and 'value="affirm" data-enter="intent"' in card


async def test_a_doubted_answer_is_queued_as_possibly_wrong(client: TestClient, settings: Settings, csrf: str) -> None:
    """An answer the customer asks again right after, and a random sample of answers, go to
    review as "possibly wrong"; an answer nobody doubts does not."""
    await say(client, "How long does delivery take?", "doubt-check-0001")
    await say(client, "hello", "doubt-check-0001")  # moves on: the answer stands
    await say(client, "How long does delivery take?", "doubt-check-0002")
    await say(client, "how long does delivery take???", "doubt-check-0002")  # asked again: doubted
    queued = _reviews(settings).pending("possibly_wrong")
    assert [(t.text, t.reason) for t in queued] == [("How long does delivery take?", "possibly_wrong")]
    assert queued[0].id == ConversationLog(Database.open(settings.database_url)).turns("web:doubt-check-0002")[0].id
    page = await follow(client, "/console/review?reason=possibly_wrong")
    assert 'Possibly wrong <span class="badge">1</span>' in page


async def test_a_sample_of_answers_is_queued_for_a_check(tmp_path, aiohttp_client) -> None:
    from bot.app import create_app
    from tests.bot.service import demo_settings
    from tests.fakes import KeywordModel

    settings = demo_settings(tmp_path, review_sample_rate=1.0)
    client = await aiohttp_client(create_app(settings, model_loader=lambda s: KeywordModel()))
    await say(client, "How long does delivery take?", "sampled-0001")
    await say(client, "hello", "sampled-0001")
    assert [t.reason for t in _reviews(settings).pending()] == ["possibly_wrong"], "answers only"
