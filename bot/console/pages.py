"""Rendering console pages: the Jinja2 environment, the chat-style answer markup, notices.

Templates are autoescaped; the only markup that does not come from a template is
``chat_markup``, which escapes everything and then turns Markdown links ``[text](https://...)``
into links, exactly as the web chat shows an answer.

Example::

    return await render(request, "faq_list.html", entries=entries)
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from bot.keys import DATABASE
from knowledge.conversations.handoffs import Handoffs
from knowledge.conversations.reviews import Reviews
from knowledge.staff import ConsoleSession, StaffAccounts

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
LINK = re.compile(r"\[([^\]]+)\]\((https?://[^\s)]+)\)")
# Who is signed in. ``web.RequestKey`` is new in aiohttp 3.12; older ones take a plain string.
SESSION_KEY = (web.RequestKey("console_session", ConsoleSession) if hasattr(web, "RequestKey")
               else "console_session")

# Short notices after a change, chosen by code so a link cannot put arbitrary text on the page.
NOTICES = {
    "created": "Created. The bot answers with it now.",
    "saved": "Saved. The bot answers with the new version now.",
    "unchanged": "Nothing changed, so nothing was saved.",
    "removed": "Removed. The bot no longer answers with it; its history stays.",
    "reverted": "Reverted. The bot answers with that version now.",
    "restored": "Restored. The bot answers with it again.",
    "labelled": "Labelled. The question left the review queue.",
    "signed_out": "You are signed out.",
}


def chat_markup(text: str) -> Markup:
    """``text`` escaped, with Markdown links made into links (new tab, no referrer)."""
    parts, last = [], 0
    for match in LINK.finditer(text):
        parts.append(escape(text[last:match.start()]))
        parts.append(Markup('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>')
                     .format(match.group(2), match.group(1)))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def build_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["chat"] = chat_markup
    environment.filters["when"] = lambda iso: (iso or "")[:16].replace("T", " ")
    environment.filters["score"] = lambda value: "–" if value is None else f"{value:.2f}"
    return environment


ENVIRONMENT = web.AppKey("console_templates", jinja2.Environment)


def signed_in(request: web.Request) -> ConsoleSession:
    """The signed-in person (the auth middleware guarantees one on every page but sign-in)."""
    session: ConsoleSession = request[SESSION_KEY]
    return session


def accounts(request: web.Request) -> StaffAccounts:
    return StaffAccounts(request.config_dict[DATABASE])


def reviews(request: web.Request) -> Reviews:
    return Reviews(request.config_dict[DATABASE])


async def render(request: web.Request, template: str, status: int = 200, **context: object) -> web.Response:
    """Render a page with the layout's context: who is signed in, the CSRF token, the notice."""
    session: ConsoleSession | None = request.get(SESSION_KEY)
    counts = await asyncio.to_thread(reviews(request).pending_counts) if session else {"all": 0}
    waiting = await asyncio.to_thread(Handoffs(request.config_dict[DATABASE]).waiting_count) if session else 0
    html = request.config_dict[ENVIRONMENT].get_template(template).render(**{
        "staff": session.name if session else None,
        "csrf_token": session.csrf_token if session else "",
        "notice": NOTICES.get(request.query.get("done", ""), ""),
        "queue_size": counts["all"], "waiting_size": waiting, "path": request.path, **context})
    return web.Response(text=html, status=status, content_type="text/html")


async def problem(request: web.Request, status: int, title: str, message: str,
                  back: str = "/console/") -> web.Response:
    """A page that says why something was refused, with a way back."""
    return await render(request, "problem.html", status=status, title=title, message=message, back=back)


def see_other(location: str) -> web.HTTPSeeOther:
    """The redirect after a successful change (POST -> 303 -> GET), so reloading repeats nothing."""
    return web.HTTPSeeOther(location)
