"""The staff console, mounted at ``/console`` in the bot's own aiohttp application.

A sub-application with its own middleware (sign-in and CSRF, ``bot.console.auth``) and
security headers; it reaches the bot's store, conversation log, brain and responder through
the parent application's keys.

Pages: ``/console/`` overview, ``/console/inbox`` (conversations waiting for a person),
``/console/faq`` (list, create, edit, history), ``/console/try``, ``/console/review`` (queue
and similar questions), ``/console/routing`` (what the bot does with each intent), ``/console/retraining`` (runs,
bundles, roll back, retrain, undo or change a label), sign-in and sign-out.

Example::

    app = create_app(settings)      # calls add_console(app)
"""
from __future__ import annotations

from aiohttp import web

from bot.console import auth, faq_pages, inbox, overview, retraining, review, routing, tryout
from bot.console.auth import SIGNIN_FORMS, THROTTLE, SignInForms, SignInThrottle
from bot.console.pages import ENVIRONMENT, STATIC, build_environment

# Pages use only their own scripts and styles; nothing may frame them.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def build_console() -> web.Application:
    """The console as an application of its own, to be mounted at ``/console``."""
    console = web.Application(middlewares=[auth.require_staff])
    console[ENVIRONMENT] = build_environment()
    console[THROTTLE] = SignInThrottle()
    console[SIGNIN_FORMS] = SignInForms()
    for module in (auth, overview, inbox, faq_pages, tryout, review, routing, retraining):
        console.add_routes(module.routes)
    retraining.add_retraining(console)  # the background retraining the page starts, stopped on shutdown
    console.router.add_static("/static/", STATIC, name="console-static")
    console.on_response_prepare.append(_secure_headers)
    return console


def add_console(app: web.Application) -> None:
    """Mount the console at ``/console`` (and send ``/console`` itself to ``/console/``)."""
    app.router.add_get("/console", _to_console, name="console-root")
    app.add_subapp("/console", build_console())


async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/")


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
