"""``supportbot telegram ...``: register or remove the webhook with Telegram.

The token and the webhook secret come from the environment only
(``SUPPORTBOT_TELEGRAM_TOKEN``, ``SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET``), never from flags, so they
stay out of shell history and process lists.

Example::

    $ supportbot telegram set-webhook https://bot.example.com/telegram/webhook
    webhook set: https://bot.example.com/telegram/webhook
    $ supportbot telegram delete-webhook        # back to polling for development
"""
from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports PTB only when a telegram command runs
    from telegram import Bot

    from bot.settings import Settings

PREFIX = "supportbot telegram"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "telegram", help="Telegram channel: register or remove the webhook",
        description="Manage the bot's Telegram webhook. Needs SUPPORTBOT_TELEGRAM_TOKEN (and, to set "
                    "it, SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET) in the environment.")
    actions = parser.add_subparsers(dest="telegram_command", metavar="ACTION")
    set_hook = actions.add_parser(
        "set-webhook", help="tell Telegram to deliver updates to URL (webhook mode)",
        description="Register URL (the public address of POST /telegram/webhook) with Telegram, "
                    "with the secret token Telegram then sends in every request.\n\nexample:\n"
                    "  supportbot telegram set-webhook https://bot.example.com/telegram/webhook",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    set_hook.add_argument("url", help="https URL ending in /telegram/webhook")
    set_hook.add_argument("--drop-pending-updates", action="store_true",
                          help="discard updates Telegram holds for the bot")
    set_hook.set_defaults(run=run_set_webhook)
    delete_hook = actions.add_parser(
        "delete-webhook", help="stop webhook delivery (polling mode works again)",
        description="Remove the webhook, for example to develop in polling mode.\n\nexample:\n"
                    "  supportbot telegram delete-webhook",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    delete_hook.set_defaults(run=run_delete_webhook)


def run_set_webhook(args: argparse.Namespace) -> int:
    from bot.channels.telegram.channel import ALLOWED_UPDATES
    from bot.channels.telegram.webhook import WEBHOOK_PATH

    settings = _settings("set-webhook")
    if not settings.telegram_webhook_secret:
        raise SystemExit(f"{PREFIX} set-webhook: error: set SUPPORTBOT_TELEGRAM_WEBHOOK_SECRET first "
                         "(16+ letters, digits, '_' or '-'); the server checks it on every update")
    if not args.url.startswith("https://"):
        raise SystemExit(f"{PREFIX} set-webhook: error: Telegram only calls https:// URLs, got {args.url!r}")
    if not args.url.rstrip("/").endswith(WEBHOOK_PATH):
        raise SystemExit(f"{PREFIX} set-webhook: error: the bot serves updates at {WEBHOOK_PATH}; "
                         f"expected a URL ending in it, got {args.url!r}")

    async def call(bot: Bot) -> bool:
        return await bot.set_webhook(args.url, secret_token=settings.telegram_webhook_secret,
                                     allowed_updates=ALLOWED_UPDATES,
                                     drop_pending_updates=args.drop_pending_updates)

    _call_telegram("set-webhook", settings, call)
    print(f"webhook set: {args.url}")
    return 0


def run_delete_webhook(args: argparse.Namespace) -> int:
    settings = _settings("delete-webhook")

    async def call(bot: Bot) -> bool:
        return await bot.delete_webhook()

    _call_telegram("delete-webhook", settings, call)
    print("webhook deleted: the bot can poll for updates again")
    return 0


def _settings(command: str) -> Settings:
    from bot.channels.telegram.channel import check_settings
    from bot.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
        if not settings.telegram_token:
            raise SettingsError("SUPPORTBOT_TELEGRAM_TOKEN: not set; create a bot with @BotFather "
                                "and put its token in the environment")
        check_settings(settings)
    except SettingsError as error:
        raise SystemExit(f"{PREFIX} {command}: error: {error}") from None
    return settings


def _call_telegram(command: str, settings: Settings, call: Callable[[Bot], Awaitable[bool]]) -> None:
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    api = settings.telegram_api_url.rstrip("/")

    async def run() -> None:
        async with Bot(settings.telegram_token, base_url=f"{api}/bot") as bot:
            await call(bot)

    try:
        asyncio.run(run())
    except InvalidToken:  # PTB's message would contain the token
        raise SystemExit(f"{PREFIX} {command}: error: Telegram rejected SUPPORTBOT_TELEGRAM_TOKEN") from None
    except TelegramError as error:
        raise SystemExit(f"{PREFIX} {command}: error: Telegram refused: {error}") from None
