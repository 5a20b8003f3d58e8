"""Who may use the console: sign-in, sign-out, the session cookie and CSRF checks.

Every console route but the sign-in page and the static files needs a live session: a page
asked for without one redirects to sign-in (303), a change (POST) without one is refused with
401. Every POST must carry the session's CSRF token (form field ``csrf_token``) or it is
refused with 403 before the handler runs, so nothing changes. A page script's JSON request is
refused in JSON (``{"error": ...}``) that the script shows as it is. The sign-in form itself is
protected by a double-submit token (a cookie and a form field that must match), good for
one try: the server hands it out and forgets it when it is used.

The session cookie is HttpOnly, SameSite=Strict, limited to ``/console`` and marked Secure when
the request came over HTTPS (as a trusted proxy's ``X-Forwarded-Proto`` says, with
``SUPPORTBOT_TRUST_FORWARDED_PROTO``). More than 10 sign-in attempts for one name in a quarter of
an hour are refused (429), counted before the password is checked.
"""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from bot.console.pages import SESSION_KEY, accounts, problem, render, see_other, signed_in
from bot.http import error_json, same_secret
from bot.keys import DATABASE
from knowledge.claims import Claims, replica_name
from knowledge.database import Database
from knowledge.limits import Bucket, RateLimits
from knowledge.staff import SESSION_HOURS

COOKIE = "supportbot_console"
SIGNIN_COOKIE = "supportbot_console_signin"
PUBLIC = ("/console/signin", "/console/static/")
routes = web.RouteTableDef()


class SignInThrottle:
    """At most ``attempts`` sign-in attempts per name in ``window`` seconds; then wait.

    An attempt is counted before its password is checked, so guesses sent all at once are
    counted as they arrive, not after the slow check: the eleventh of 30 simultaneous guesses
    is refused whether or not it is the right password. Signing in clears the name's count.
    The count is a token bucket in the database (``knowledge.limits``): guesses spread over the
    replicas behind a load balancer are counted together, each atomically.
    """

    def __init__(self, attempts: int = 10, window: float = 900.0) -> None:
        self.attempts, self.window = attempts, window

    async def attempt(self, database: Database, name: str) -> bool:
        """Count one attempt for ``name``; False (not counted) when it has used up its attempts."""
        hit = await asyncio.to_thread(RateLimits(database).hit, self._bucket(name))
        return hit.allowed

    async def succeeded(self, database: Database, name: str) -> None:
        await asyncio.to_thread(RateLimits(database).reset, self._bucket(name).key)

    def _bucket(self, name: str) -> Bucket:
        return Bucket(f"signin:{name[:64]}", self.attempts, self.attempts / self.window)


class SignInForms:
    """Sign-in form tokens handed out and not used yet: each is good for one try within ``max_age``
    seconds, so every guess needs a fresh form (and a replayed form post is refused). Kept in the
    database (``knowledge.claims``, by hash): a form one replica handed out works on another."""

    def __init__(self, max_age: float = 3600.0, per_address_per_minute: int = 60) -> None:
        self.max_age = max_age
        self.per_address = per_address_per_minute  # forms handed out: each is a row until it expires

    async def issue(self, database: Database, address: str) -> str | None:
        """A fresh form's token; None when ``address`` fetched too many forms lately."""
        bucket = Bucket(f"signin-forms:{address[:100]}", self.per_address, self.per_address / 60)
        if not (await asyncio.to_thread(RateLimits(database).hit, bucket)).allowed:
            return None
        token = secrets.token_urlsafe(24)
        await asyncio.to_thread(Claims(database, replica_name()).take, _form_key(token), self.max_age)
        return token

    async def use(self, database: Database, token: str) -> bool:
        """Whether ``token`` was handed out, is fresh and unused; it cannot be used again."""
        return await asyncio.to_thread(Claims(database, replica_name()).use, _form_key(token))


def _form_key(token: str) -> str:
    return "signin-form:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


THROTTLE = web.AppKey("console_throttle", SignInThrottle)
SIGNIN_FORMS = web.AppKey("console_signin_forms", SignInForms)


@web.middleware
async def require_staff(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Find the session of the console cookie; refuse or redirect without one; check CSRF."""
    if request.path.startswith(PUBLIC):
        return await handler(request)
    session = await asyncio.to_thread(accounts(request).session, request.cookies.get(COOKIE, ""))
    changing = request.method not in ("GET", "HEAD", "OPTIONS")
    if session is None:
        if changing and _from_script(request):
            return _refused(401, "Your session has expired: sign in again.")
        if changing:
            return await problem(request, 401, "Please sign in",
                                 "Your session has ended, so nothing was changed. Sign in and try again.",
                                 back="/console/signin")
        raise see_other("/console/signin?" + urlencode({"next": request.path_qs}))
    request[SESSION_KEY] = session
    if changing:
        form = await request.post()
        given = str(form.get("csrf_token", "")) or request.headers.get("X-CSRF-Token", "")
        if not same_secret(given, session.csrf_token) and _from_script(request):
            return _refused(403, "This page's security token is out of date (were you signed in again?), so "
                                 "nothing was changed: reload the page and try again.")
        if not same_secret(given, session.csrf_token):
            return await problem(request, 403, "Refused",
                                 "This change did not carry this session's security token, so nothing "
                                 "was changed. Go back, reload the page and try again.")
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _from_script(request: web.Request) -> bool:
    """A page script's request (it sends JSON), which reads a refusal's reason from JSON, not a page."""
    return request.content_type == "application/json"


def _refused(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=error_json(reason), content_type="application/json")


@routes.get("/signin")
async def signin_page(request: web.Request) -> web.Response:
    return await _signin_form(request, 200, "")


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    given, expected = str(form.get("signin_token", "")), request.cookies.get(SIGNIN_COOKIE, "")
    database = request.config_dict[DATABASE]
    if not expected or not same_secret(given, expected) or not await request.config_dict[SIGNIN_FORMS].use(database, given):
        return await _signin_form(request, 403, "The sign-in form expired. Please try again.")
    name, password = str(form.get("name", "")).strip().lower(), str(form.get("password", ""))
    throttle = request.config_dict[THROTTLE]
    if not await throttle.attempt(database, name):  # counted now (atomically), before the slow check
        # Said for any name, with or without an account: the page never tells which names exist.
        return await _signin_form(request, 429, "Too many wrong passwords for this name. Wait a quarter of an "
                                  "hour and try again.", name=name, reset=name or "NAME")
    session = await asyncio.to_thread(accounts(request).sign_in, name, password)
    if session is None:
        return await _signin_form(request, 401, "Wrong name or password.", name=name)
    await throttle.succeeded(database, name)
    response = web.Response(status=303, headers={"Location": _safe_next(str(form.get("next", "")))})
    response.set_cookie(COOKIE, session.token, max_age=SESSION_HOURS * 3600, path="/console",
                        httponly=True, samesite="Strict", secure=request.secure)
    response.del_cookie(SIGNIN_COOKIE, path="/console/signin")
    return response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    signed_in(request)  # the middleware checked the session and the CSRF token
    await asyncio.to_thread(accounts(request).sign_out, request.cookies.get(COOKIE, ""))
    response = web.Response(status=303, headers={"Location": "/console/signin?done=signed_out"})
    response.del_cookie(COOKIE, path="/console")
    return response


async def _signin_form(request: web.Request, status: int, error: str, name: str = "",
                       reset: str = "") -> web.Response:
    """The sign-in page; ``reset``: the name whose password the page says how to reset."""
    token = await request.config_dict[SIGNIN_FORMS].issue(request.config_dict[DATABASE], request.remote or "")
    if token is None:
        raise web.HTTPTooManyRequests(text="Too many sign-in pages from your address. Wait a minute.")
    next_url = request.query.get("next", "")
    if request.method == "POST":
        next_url = str((await request.post()).get("next", ""))
    response = await render(request, "signin.html", status=status, error=error, name=name, reset=reset,
                            signin_token=token, next=_safe_next(next_url))
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, path="/console/signin",
                        httponly=True, samesite="Strict", secure=request.secure)
    return response


def _safe_next(location: str) -> str:
    """Only a console page of this site: never ``//evil.example`` or another origin, and only
    printable ASCII without spaces (a line break would end the Location header early)."""
    if location.startswith("/console/") and not location.startswith("/console//") and "\\" not in location \
            and location.isascii() and location.isprintable() and " " not in location:
        return location
    return "/console/"
