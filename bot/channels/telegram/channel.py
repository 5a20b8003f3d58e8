"""The Telegram channel: a python-telegram-bot ``Application`` inside the bot's aiohttp app.

``add_telegram(app)`` does nothing unless ``SUPPORTBOT_TELEGRAM_TOKEN`` is set. Then:

- polling mode (no ``SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET``; for development): PTB's updater asks
  Telegram for updates; no public URL needed. Starting it removes a registered webhook.
- webhook mode (the secret is set; for production): the application is built without an
  updater and ``POST /telegram/webhook`` (``webhook.py``) feeds it; register the URL with
  ``supportbot telegram set-webhook URL``.

Either way the application starts after the runtime's resources (it needs the responder) and
stops before them, within ``STOP_SECONDS``: it stops taking updates, lets those in flight finish,
and drops (counting them) the chats' queued backlogs (``processor.py``). ``SUPPORTBOT_TELEGRAM_API_URL`` points
it at another Bot API server (your own, or a fake one in tests). The token never appears in
logs: request URLs that contain it are redacted.

Staff messages written in the console to a Telegram customer are sent by ``delivery.py``, which
the channel registers with the runtime's handoff desk.

Example::

    app = create_app(Settings.from_env())      # calls add_telegram(app)
    web.run_app(app)
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiohttp import web
from telegram import BotCommand, Chat, Update
from telegram.error import Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, JobQueue, MessageHandler, filters

from bot.channels.telegram.customers import MESSAGE, Customers
from bot.channels.telegram.delivery import StaffDelivery
from bot.channels.telegram.handoff import CHANNEL, StaffRelay
from bot.channels.telegram.leases import ChatLeases
from bot.channels.telegram.processor import PerChatProcessor
from bot.channels.telegram.ratelimit import FloodLimiter, Limits
from bot.channels.telegram.updates import PollingBot
from bot.channels.telegram.webhook import WebhookReceiver, add_webhook_route
from bot.keys import CONVERSATIONS, DATABASE, DESK, METRICS, RESPONDER, SETTINGS
from bot.metrics import Metrics
from bot.settings import PREFIX, Settings, SettingsError
from knowledge.claims import Claims, replica_name

# The application as ``build_application`` makes it: our bot (an ``ExtBot`` with our
# ``FloodLimiter``, whose per-call argument is an int), and PTB's default context, data and job types.
TelegramApplication: TypeAlias = Application[PollingBot, ContextTypes.DEFAULT_TYPE, dict[Any, Any], dict[Any, Any],
                                             dict[Any, Any], JobQueue[ContextTypes.DEFAULT_TYPE]]
log = logging.getLogger(__name__)
TELEGRAM = web.AppKey("telegram", Application)
LIMITS = web.AppKey("telegram_limits", Limits)  # optional: set before start to change the limits
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
MENU = [BotCommand("start", "what I can do"), BotCommand("help", "how to ask me"),
        BotCommand("human", "talk to a person")]
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
TOKEN_SHAPE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")
SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
CONCURRENT_UPDATES = 256
STOP_SECONDS = 10.0  # how long updates in flight may take to finish when the bot stops


def add_telegram(app: web.Application) -> None:
    """Serve the Telegram channel with this app when a token is configured (see module doc)."""
    settings = app[SETTINGS]
    if not settings.telegram_token:
        return
    staff_chat = check_settings(settings)
    receiver = WebhookReceiver()
    if settings.telegram_webhook_secret:
        add_webhook_route(app, receiver)

    async def channel(app: web.Application) -> AsyncIterator[None]:
        desk = app[DESK]
        relay = StaffRelay(desk, staff_chat)
        claims = Claims(app[DATABASE], replica_name())  # shared with the other replicas
        customers = Customers(app[RESPONDER], app[CONVERSATIONS], relay, desk, claims)
        receiver.claims = claims
        async with AsyncExitStack() as stack:
            stack.enter_context(TokenRedaction(settings.telegram_token))  # PTB logs URLs from the start
            application = build_application(settings, relay, customers, app.get(LIMITS, Limits()),
                                            webhook=bool(settings.telegram_webhook_secret),
                                            metrics=app[METRICS],
                                            leases=ChatLeases(claims) if settings.telegram_webhook_secret else None)
            # What staff write in the console reaches Telegram customers while the channel runs.
            desk.deliver_with(CHANNEL, StaffDelivery(application.bot, relay, lambda: application.running))
            processor = _processor(application)
            receiver.closing = lambda: processor.closing
            receiver.unreadable = app[METRICS].telegram_dropped.labels(reason="unreadable").inc
            try:
                await _start(application, stack)
            except NetworkError as error:  # Telegram unreachable: the web chat must not wait for it
                log.warning("cannot reach Telegram (%s); the web chat runs and the Telegram channel "
                            "retries every %d s", type(error).__name__, RETRY_SECONDS)
                stack.push_async_callback(_stop_retrying, _retry(application, receiver, staff_chat))
            else:
                app[TELEGRAM] = receiver.application = application
                _log_running(application, staff_chat)
            yield

    app.cleanup_ctx.append(channel)


def check_settings(settings: Settings) -> int | None:
    """Validate the Telegram settings; return the staff chat id (None when unset)."""
    if not TOKEN_SHAPE.match(settings.telegram_token):  # never echo the token itself
        raise SettingsError(f"{PREFIX}TELEGRAM_TOKEN: expected the token @BotFather gave you, "
                            "like 123456789:AAE...")
    secret = settings.telegram_webhook_secret
    if secret and not SECRET_SHAPE.match(secret):
        raise SettingsError(f"{PREFIX}TELEGRAM_WEBHOOK_SECRET: expected 16-256 letters, digits, "
                            "'_' or '-' (Telegram's rule for secret tokens)")
    if not settings.telegram_api_url.startswith(("https://", "http://")):
        raise SettingsError(f"{PREFIX}TELEGRAM_API_URL: expected an http(s) URL, "
                            f"got {settings.telegram_api_url!r}")
    staff = settings.telegram_staff_chat.strip()
    if not staff:
        return None
    if not re.fullmatch(r"-?\d{1,20}", staff):
        raise SettingsError(f"{PREFIX}TELEGRAM_STAFF_CHAT: expected a numeric chat id such as "
                            f"-1001234567890, got {staff!r}")
    return int(staff)


def build_application(settings: Settings, relay: StaffRelay, customers: Customers, limits: Limits,
                      webhook: bool, metrics: Metrics, leases: ChatLeases | None = None) -> TelegramApplication:
    """The PTB application with every handler; without an updater in webhook mode."""
    api = settings.telegram_api_url.rstrip("/")
    dropped = metrics.telegram_dropped
    bot = PollingBot(settings.telegram_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                     rate_limiter=FloodLimiter(limits, on_give_up=metrics.telegram_gave_up.inc),
                     on_unreadable=dropped.labels(reason="unreadable").inc)
    processor = PerChatProcessor(CONCURRENT_UPDATES,
                                 on_overflow=lambda chat: customers.tell_too_fast(bot, chat),
                                 on_drop=lambda reason, count: dropped.labels(reason=reason).inc(count),
                                 lease=leases.hold if leases else None)
    builder = Application.builder().bot(bot).concurrent_updates(processor)
    if webhook:
        builder = builder.updater(None)
    application: TelegramApplication = builder.build()
    if relay.staff_chat is not None:  # before the customer handlers: staff are not customers
        staff = filters.Chat(chat_id=relay.staff_chat)
        application.add_handlers([
            CommandHandler("done", relay.on_done, filters=staff & MESSAGE),
            CommandHandler(["help", "start"], relay.on_help, filters=staff & MESSAGE),
            MessageHandler(staff & MESSAGE & filters.REPLY & ~filters.COMMAND, relay.on_reply),
            MessageHandler(staff, relay.ignore),
        ])
    application.add_handlers(customers.handlers())
    application.add_error_handler(on_error)
    return application


RETRY_SECONDS = 30


def _log_running(application: TelegramApplication, staff_chat: int | None) -> None:
    log.info("Telegram channel running as @%s (%s mode%s)", application.bot.username,
             "polling" if application.updater else "webhook",
             "" if staff_chat else "; no staff chat: staff answer handed-off customers from the console")


@dataclass
class _Retry:
    task: asyncio.Task[None]
    stack: AsyncExitStack  # what a late start opened, closed on shutdown


def _retry(application: TelegramApplication, receiver: WebhookReceiver, staff_chat: int | None) -> _Retry:
    """Start the channel in the background once Telegram answers."""
    stack = AsyncExitStack()

    async def keep_trying() -> None:
        while True:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await _start(application, stack)
            except NetworkError as error:
                log.warning("still cannot reach Telegram (%s); retrying in %d s", type(error).__name__,
                            RETRY_SECONDS)
                continue
            except SettingsError as error:
                log.error("%s", error)
                return
            receiver.application = application
            _log_running(application, staff_chat)
            return

    return _Retry(asyncio.create_task(keep_trying()), stack)


async def _stop_retrying(retry: _Retry) -> None:
    retry.task.cancel()
    with suppress(asyncio.CancelledError):
        await retry.task
    await retry.stack.aclose()


async def _start(application: TelegramApplication, stack: AsyncExitStack) -> None:
    """Initialise, start and (in polling mode) poll; the stack undoes it in reverse."""
    try:
        await application.initialize()  # getMe: checks the token
    except NetworkError:
        await _close_clients(application)
        raise
    except InvalidToken:
        await _close_clients(application)
        raise SettingsError(f"{PREFIX}TELEGRAM_TOKEN: Telegram rejected the token; copy it "
                            "again from @BotFather") from None
    stack.push_async_callback(application.shutdown)
    try:
        await application.bot.set_my_commands(MENU)
    except TelegramError as error:  # the command menu is a convenience, not a reason to stop
        log.warning("could not set the bot's command menu: %s", type(error).__name__)
    await application.start()
    stack.push_async_callback(application.stop)
    # Before stop (which would wait for every queued update): drop backlogs, bound the wait.
    stack.push_async_callback(_processor(application).drain, STOP_SECONDS)
    if application.updater is not None:
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES, error_callback=_polling_failed)
        stack.push_async_callback(application.updater.stop)


def _polling_failed(error: TelegramError) -> None:
    """One line per failed poll (PTB retries with a growing pause, up to 30 s)."""
    log.warning("polling Telegram failed (%s); retrying", type(error).__name__)


def _processor(application: TelegramApplication) -> PerChatProcessor:
    processor = application.update_processor
    assert isinstance(processor, PerChatProcessor)  # build_application made it
    return processor


async def _close_clients(application: TelegramApplication) -> None:
    """Close the HTTP client a failed ``initialize`` opened for getMe (it does not undo it itself)."""
    await application.bot.request.shutdown()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update (not its text) and apologise in a private chat."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, RetryAfter):
        # The limiter logged and counted it. The reply may have partly gone out, and an apology
        # would meet the same 429: the customer is not told "something went wrong".
        return
    log.error("could not handle Telegram update %s: %s", update_id, type(error).__name__, exc_info=error)
    if not isinstance(update, Update) or isinstance(error, Forbidden):
        return
    chat = update.effective_chat
    if chat is not None and chat.type == Chat.PRIVATE:
        try:
            await context.bot.send_message(chat.id, SORRY)
        except TelegramError as failure:
            log.error("could not apologise either: %s", type(failure).__name__)


class _Redactor(logging.Filter):
    """Replaces the token in log records of the HTTP client (its URLs contain it)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), ()
        return True


class TokenRedaction:
    """While active, the loggers that see request URLs (PTB's, the HTTP client's) hide ``token``.

    A filter only applies to the logger it is attached to, not to its children, so each logger
    that logs a URL is named here; ``test_polling`` checks at DEBUG level that none is missed.
    """

    LOGGERS = ("httpx", "httpcore", "telegram", "telegram.Bot", "telegram.ext", "telegram.ext.ExtBot",
               "telegram.ext.Updater", "telegram.ext.Application")

    def __init__(self, token: str) -> None:
        self.filter = _Redactor(token)

    def __enter__(self) -> None:
        for name in self.LOGGERS:
            logger = logging.getLogger(name)
            logger.addFilter(self.filter)
            if name == "httpx" and logger.level == logging.NOTSET:
                logger.setLevel(logging.WARNING)  # a line per long poll is noise at INFO

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self.filter)
