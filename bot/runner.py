"""`python -m bot run`: long polling until SIGTERM/SIGINT, with clear words when settings are missing."""

from __future__ import annotations

import logging
import sys

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot import logs
from bot.config import ConfigError, load_settings

log = logging.getLogger("bot")


def main() -> int:
    logs.setup()
    try:
        settings = load_settings()
        settings.require_telegram_token()
    except ConfigError as exc:
        print(f"harbor-bot cannot start: {exc}", file=sys.stderr)
        return 2
    from bot.app import build_application

    application = build_application(settings)
    log.info("Harbor: %s (%s); database: %s", settings.harbor_env.value, settings.harbor_urls[0], _db(settings))
    try:
        # run_polling stops cleanly on SIGINT, SIGTERM and SIGABRT, finishing the updates in hand.
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken:
        print("harbor-bot cannot start: Telegram refused TELEGRAM_BOT_TOKEN; check it with @BotFather.",
              file=sys.stderr)
        return 2
    except NetworkError as exc:
        print(f"harbor-bot cannot reach Telegram at {settings.telegram_api_url}: {exc}", file=sys.stderr)
        return 1
    return 0


def _db(settings: object) -> str:
    from storage.engine import redacted

    return redacted(settings.database_url)  # type: ignore[attr-defined]
