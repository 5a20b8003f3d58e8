"""FAQ pages: list with search and tag filter, create, edit, remove, history with diffs, revert.

Every change goes through ``bot.admin.faq_changes.change_faq`` (as the admin API's do), so it is
attributed to the signed-in person in the revision history and the bot answers with it
before the page comes back. An edit carries the revision it was based on; if someone changed
the entry meanwhile, the page shows both versions and what differs instead of overwriting.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web

from bot.admin.faq_changes import change_faq, error_status
from bot.console.faq_forms import EntryForm, diff_lines, problems_by_field
from bot.console.pages import problem, render, reviews, see_other, signed_in
from bot.http import parse_number
from bot.keys import DATABASE, KEEPER, RESPONDER, STORE
from knowledge.conversations.labelcheck import phrasing_owners
from knowledge.conversations.reviews import NoSuchTurn, NotPending, QueuedTurn, repeat_key
from knowledge.errors import EditConflict, EntryNotFound, InvalidEntry, KnowledgeError
from knowledge.faq.entry import FaqEntry, validate_entry
from knowledge.faq.related import RelatedLinks
from knowledge.faq.store import FaqStore

routes = web.RouteTableDef()


def _store(request: web.Request) -> FaqStore:
    return request.config_dict[STORE]


@routes.get("/faq")
async def faq_list(request: web.Request) -> web.Response:
    search, tag = request.query.get("q", "").strip(), request.query.get("tag", "")
    removed = request.query.get("removed") == "1"
    entries = await asyncio.to_thread(_store(request).list, removed)
    tags = sorted({t for e in entries for t in e.tags}, key=str.lower)
    shown = [e for e in entries if (not tag or tag in e.tags) and _matches(e, search)]
    removed_ids: set[str] = set()
    if removed:
        live = {e.faq_id for e in await asyncio.to_thread(_store(request).list)}
        removed_ids = {e.faq_id for e in entries} - live
    return await render(request, "faq_list.html", entries=shown, total=len(entries), tags=tags,
                        search=search, tag=tag, removed=removed, removed_ids=removed_ids)


def _matches(entry: FaqEntry, search: str) -> bool:
    words = search.lower().split()
    text = " ".join((entry.faq_id, *entry.phrasings(), entry.answer, *entry.tags)).lower()
    return all(word in text for word in words)


@routes.get("/create")
async def create_page(request: web.Request) -> web.Response:
    turns = await _turns(request, _ids(request.query.getall("turn", [])))
    texts = [" ".join(t.text.split()) for t in turns]
    form = EntryForm(question=texts[0] if texts else "", alternatives="\n".join(texts[1:]))
    return await render(request, "faq_form.html", form=form, creating=True, problems={},
                        warnings=[], turns=turns)


@routes.post("/create")
async def create(request: web.Request) -> web.Response:
    posted = await request.post()
    form, staff = EntryForm.from_form(posted), signed_in(request).name
    wanted = _ids(posted.getall("turn", []))
    turns = await _turns(request, wanted)
    try:
        entry = form.entry()
        if len(turns) != len(wanted):  # refuse early if someone else labelled them meanwhile
            await asyncio.to_thread(reviews(request).check_queued, wanted)  # or if there is no such turn
            raise NotPending(f"question(s) {sorted(set(wanted) - {t.id for t in turns})} are not waiting "
                             "for review any more (someone else may have labelled them); nothing was saved")
        await change_faq(request, _store(request).add, entry, staff)
    except (InvalidEntry, NotPending) as error:
        problems = problems_by_field(error.problems) if isinstance(error, InvalidEntry) else {"form": [str(error)]}
        status = 400 if isinstance(error, InvalidEntry) else 404 if isinstance(error, NoSuchTurn) else 409
        return await render(request, "faq_form.html", status=status,
                            form=form, creating=True, problems=problems, warnings=[], turns=turns)
    except KnowledgeError as error:
        return await render(request, "faq_form.html", status=error_status(error), form=form, creating=True,
                            problems={"faq_id": [str(error)]}, warnings=[], turns=turns)
    if turns:
        try:
            await asyncio.to_thread(reviews(request).label, [t.id for t in turns], "new_faq", entry.faq_id, staff)
        except NotPending:
            pass  # the entry exists now either way; someone else labelled the turns first
    raise see_other(f"/console/faq/{entry.faq_id}?done=created")


@routes.get("/faq/{faq_id}")
async def edit_page(request: web.Request) -> web.Response:
    entry = await _entry(request)
    warnings = [p.message for p in validate_entry(entry) if p.severity == "warning"]
    warnings += _shared_with_others(entry, await asyncio.to_thread(request.config_dict[STORE].list))
    related = await asyncio.to_thread(RelatedLinks(request.config_dict[DATABASE]).get, entry.faq_id)
    brain = request.config_dict[KEEPER].current
    related_questions = request.config_dict[RESPONDER].related
    suggested = related_questions.for_answer(brain, entry.faq_id) if related_questions else []
    return await render(request, "faq_form.html", form=EntryForm.from_entry(entry), creating=False,
                        problems={}, warnings=warnings, entry=entry, turns=[], related=related,
                        related_now=[brain.entries[f] for f in suggested if f in brain.entries])


def _shared_with_others(entry: FaqEntry, entries: Iterable[FaqEntry]) -> list[str]:
    """A warning for each phrasing of ``entry`` that another enabled entry has too: the bot can
    only offer the two as a tie for it."""
    if not entry.enabled:
        return []
    owners = phrasing_owners([e for e in entries if e.faq_id != entry.faq_id])
    return [f"'{phrasing}' is also a phrasing of {' and '.join(sorted(others))}: customers who ask it are "
            "offered these entries to choose from. Keep it in one of them."
            for phrasing in entry.phrasings() if (others := owners.get(repeat_key(phrasing)))]


@routes.post("/faq/{faq_id}/related")
async def set_related(request: web.Request) -> web.Response:
    """Per entry: which related questions follow its answer (automatic, none, or pinned ones first)."""
    entry = await _entry(request)
    form = await request.post()
    pinned = [part for part in str(form.get("pinned", "")).replace(",", " ").split() if part]
    links = RelatedLinks(request.config_dict[DATABASE])
    known = set(request.config_dict[KEEPER].current.entries)
    try:
        await asyncio.to_thread(links.set, entry.faq_id, str(form.get("mode", "")), pinned,
                                signed_in(request).name, known)
    except InvalidEntry as error:
        return await problem(request, 400, "Not saved", "; ".join(p.message for p in error.problems),
                             back=f"/console/faq/{entry.faq_id}")
    related_questions = request.config_dict[RESPONDER].related
    if related_questions is not None:
        await related_questions.refresh()  # here at once; other replicas within 30 s
    raise see_other(f"/console/faq/{entry.faq_id}?done=saved")


@routes.post("/faq/{faq_id}")
async def edit(request: web.Request) -> web.Response:
    faq_id, staff = request.match_info["faq_id"], signed_in(request).name
    form = EntryForm.from_form({**(await request.post()), "faq_id": faq_id})
    current = await _entry(request)
    if form.base_revision is None:
        return await problem(request, 400, "Refused", "The form did not say which revision it was based on.",
                             back=f"/console/faq/{faq_id}")
    if form.base_revision == current.revision and current.same_content(form.entry()):
        raise see_other(f"/console/faq/{faq_id}?done=unchanged")
    try:
        await change_faq(request, _store(request).edit, faq_id, form.base_revision, staff, **form.changes())
    except EditConflict:
        return await _conflict(request, form)
    except InvalidEntry as error:
        return await render(request, "faq_form.html", status=400, form=form, creating=False,
                            problems=problems_by_field(error.problems), warnings=[], entry=current, turns=[])
    except KnowledgeError as error:
        return await problem(request, error_status(error), "Not saved", str(error), back=f"/console/faq/{faq_id}")
    raise see_other(f"/console/faq/{faq_id}?done=saved")


async def _conflict(request: web.Request, form: EntryForm) -> web.Response:
    """Both versions and what differs; saving again is based on the version saved now."""
    current = await _entry(request)
    history = await asyncio.to_thread(_store(request).history, current.faq_id)
    changed_by = [r for r in history if r.revision > (form.base_revision or 0)]
    mine = form.entry()
    return await render(request, "faq_conflict.html", status=409, entry=current, mine=mine,
                        form=EntryForm.from_form({**_form_fields(form), "base_revision": str(current.revision)}),
                        changed_by=changed_by, changes=diff_lines(current, mine),
                        creating=False, problems={}, warnings=[])


def _form_fields(form: EntryForm) -> dict[str, object]:
    fields: dict[str, object] = {"faq_id": form.faq_id, "question": form.question,
                                 "alternatives": form.alternatives, "answer": form.answer,
                                 "tags": form.tags, "language": form.language}
    return {**fields, "enabled": "on"} if form.enabled else fields


@routes.post("/faq/{faq_id}/remove")
async def remove(request: web.Request) -> web.Response:
    faq_id = request.match_info["faq_id"]
    raw = str((await request.post()).get("base_revision", ""))
    try:
        await change_faq(request, _store(request).remove, faq_id, signed_in(request).name, parse_number(raw))
    except EditConflict as error:
        return await problem(request, 409, "Not removed", f"{error}.", back=f"/console/faq/{faq_id}")
    except KnowledgeError as error:
        return await problem(request, error_status(error), "Not removed", str(error), back="/console/faq")
    raise see_other(f"/console/faq/{faq_id}/history?done=removed")


@routes.get("/faq/{faq_id}/history")
async def history(request: web.Request) -> web.Response:
    faq_id = request.match_info["faq_id"]
    try:
        revisions = await asyncio.to_thread(_store(request).history, faq_id)
    except EntryNotFound as error:
        return await problem(request, 404, "Not found", str(error), back="/console/faq")
    shown = [(r, diff_lines(r.before, r.after)) for r in reversed(revisions)]
    return await render(request, "faq_history.html", faq_id=faq_id, revisions=shown,
                        latest=revisions[-1].revision, removed=revisions[-1].after is None)


@routes.post("/faq/{faq_id}/revert")
async def revert(request: web.Request) -> web.Response:
    faq_id = request.match_info["faq_id"]
    revision = parse_number(str((await request.post()).get("revision", "")))
    if revision is None:
        return await problem(request, 400, "Not reverted", "Which revision? The form did not say.",
                             back=f"/console/faq/{faq_id}/history")
    try:
        entry = await change_faq(request, _store(request).revert, faq_id, revision, signed_in(request).name)
    except KnowledgeError as error:
        return await problem(request, error_status(error), "Not reverted", str(error),
                             back=f"/console/faq/{faq_id}/history")
    raise see_other(f"/console/faq/{faq_id}?done=reverted" if entry else
                    f"/console/faq/{faq_id}/history?done=removed")


@routes.post("/faq/{faq_id}/restore")
async def restore(request: web.Request) -> web.Response:
    faq_id = request.match_info["faq_id"]
    try:
        await change_faq(request, _store(request).restore, faq_id, signed_in(request).name)
    except KnowledgeError as error:
        return await problem(request, error_status(error), "Not restored", str(error),
                             back=f"/console/faq/{faq_id}/history")
    raise see_other(f"/console/faq/{faq_id}?done=restored")


async def _entry(request: web.Request) -> FaqEntry:
    try:
        return await asyncio.to_thread(_store(request).get, request.match_info["faq_id"])
    except EntryNotFound as error:
        raise web.HTTPNotFound(text=await _not_found_html(request, str(error)), content_type="text/html") from None


async def _not_found_html(request: web.Request, message: str) -> str:
    response = await problem(request, 404, "Not found", message, back="/console/faq")
    return response.text or ""


def _ids(raw: Iterable[object]) -> list[int]:
    """Turn ids from a query or form (a stray upload or a word is left out), at most 100."""
    return sorted({number for number in map(parse_number, map(str, raw)) if number is not None})[:100]


async def _turns(request: web.Request, ids: list[int]) -> list[QueuedTurn]:
    """The queued turns among ``ids``, newest first (labelled ones are left out)."""
    return await asyncio.to_thread(reviews(request).pending, None, 100, ids) if ids else []
