"""`python -m bot run` (long polling), `web` (webhooks, many processes) and `set-webhook` (a deploy step),
with clear words when settings are missing. All stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys
from urllib.parse import urlsplit

import uvicorn
from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError

from bot import logs
from bot.app import Overrides, build_application
from bot.config import ConfigError, Settings, load_settings
from bot.web import create_web_app
from bot.web_metrics import serve_metrics_with
from bot.web_serve import SignalServer
from bot.webhook_guard import plain_bot, refusal, registered_webhook
from storage.engine import redacted

# What the bot handles: messages (commands, locations, links) and button presses. Edited messages
# (a live location's stream) are not input.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

log = logging.getLogger("bot")


def _settings(*, web: bool = False) -> Settings | None:
    logs.setup()
    try:
        settings = load_settings()
        settings.require_telegram_token()
        if web:
            settings.require_webhook_secret()
    except ConfigError as exc:
        print(f"harbor-bot cannot start: {exc}", file=sys.stderr)
        return None
    logs.setup_from_settings(settings)
    return settings


def main(*, drop_webhook: bool = False) -> int:
    settings = _settings()
    if settings is None:
        return 2
    try:
        webhook = "" if drop_webhook else asyncio.run(registered_webhook(settings))
    except InvalidToken:
        webhook = ""  # said in the words below, when polling starts
    except NetworkError as exc:
        print(f"harbor-bot cannot reach Telegram at {settings.telegram_api_url}: {exc}", file=sys.stderr)
        return 1
    if webhook:
        print(refusal(webhook), file=sys.stderr)
        return 2
    application = build_application(settings)
    if settings.metrics_port is not None:
        serve_metrics_with(application, settings.host, settings.metrics_port)
    log.info("Harbor: %s (%s); database: %s", settings.harbor_env.value, settings.harbor_urls[0], _db(settings))
    try:
        # Polling deletes a registered webhook (only reached with --drop-webhook, or when none is set).
        # run_polling stops cleanly on SIGINT, SIGTERM and SIGABRT, finishing the updates in hand.
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        print(
            "harbor-bot cannot start: Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather.", file=sys.stderr
        )
        return 2
    except NetworkError as exc:
        print(f"harbor-bot cannot reach Telegram at {settings.telegram_api_url}: {exc}", file=sys.stderr)
        return 1
    return 0


def web() -> int:
    """Serve /telegram, /harbor, /healthz and /readyz on HOST:PORT; never calls getUpdates."""
    settings = _settings(web=True)
    if settings is None:
        return 2
    application = build_application(settings, Overrides(polling=False))
    log.info("web on %s:%s; Harbor: %s; database: %s", settings.host, settings.port, settings.harbor_env.value,
             _db(settings))  # fmt: skip
    config = uvicorn.Config(
        create_web_app(application), host=settings.host, port=settings.port, log_config=None, proxy_headers=True
    )
    SignalServer(config).run()  # SIGINT/SIGTERM: a graceful stop, then exit 0 without a traceback
    return 0


async def _set_webhook(settings: Settings, max_connections: int, drop_pending: bool) -> str:
    async with plain_bot(settings) as bot:
        url = f"{settings.webhook_url}/telegram"
        await bot.set_webhook(
            url,
            secret_token=settings.require_webhook_secret().get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=max_connections,
            drop_pending_updates=drop_pending,
        )
        info = await bot.get_webhook_info()
        return (
            f"webhook set: {info.url} (pending updates: {info.pending_update_count}, max connections: "
            f"{info.max_connections})"
        )


def set_webhook(*, max_connections: int = 40, drop_pending: bool = False) -> int:
    """Register {WEBHOOK_URL}/telegram with the secret: once per deploy, not by each process."""
    settings = _settings(web=True)
    if settings is None:
        return 2
    if not settings.webhook_url or not (settings.webhook_url.startswith("https://") or _loopback(settings.webhook_url)):
        print("harbor-bot: WEBHOOK_URL must be the public https:// base of the `web` processes.", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(_set_webhook(settings, max_connections, drop_pending)))
    except TelegramError as exc:
        print(f"harbor-bot: Telegram refused the webhook: {exc}", file=sys.stderr)
        return 1
    return 0


def _loopback(url: str) -> bool:
    """An http:// webhook on this machine: only the sandbox's emulator takes it (Telegram wants https)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and (
        parts.hostname in ("localhost", "::1") or (parts.hostname or "").startswith("127.")
    )


def _db(settings: Settings) -> str:
    return redacted(settings.database_url)
