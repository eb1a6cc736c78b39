"""What `python -m bot <command> --help` says: what the command does, and the environment variables
it reads (named from Settings, so the lists follow bot/config.py)."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from bot.config import Settings

# Read only by `web` / only by `run`'s metrics listener / only by `set-webhook` and doctor's webhook line.
_WEB_ONLY = {"PORT", "TELEGRAM_WEBHOOK_SECRET", "WEBHOOK_URL", "HARBOR_WEBHOOK_SECRET", "HARBOR_WEBHOOK_POLL_SECONDS"}
_RUN_ONLY = {"METRICS_PORT"}
# The console sets these itself (bot/console/setup.py) or has no use for them.
_CONSOLE_OWN = {"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "LOCKER_POLL_SECONDS", "HOST", *_WEB_ONLY, *_RUN_ONLY}


def _all() -> list[str]:
    return [name.upper() for name in Settings.model_fields]


def _listed(names: list[str]) -> str:
    return textwrap.fill(", ".join(names), width=96, initial_indent="  ", subsequent_indent="  ")


HARBOR_NOTE = "HARBOR_CLIENT_ID and HARBOR_CLIENT_SECRET are required unless HARBOR_ENV=simulator."
SOURCES = "Each is an environment variable or a line of .env in the working directory (README: Configuration)."

_COMMANDS: dict[str, tuple[str, str, list[str], list[str]]] = {
    # command: (what it does, more, required, read)
    "run": (
        "Run the bot in one process with long polling (getUpdates), on SQLite or PostgreSQL. Migrates "
        "the database at start; stops cleanly on SIGINT and SIGTERM, finishing the updates in hand.",
        "With METRICS_PORT set it also serves GET /metrics on HOST:METRICS_PORT.",
        ["TELEGRAM_BOT_TOKEN"],
        [n for n in _all() if n not in _WEB_ONLY | {"TELEGRAM_BOT_TOKEN"}],
    ),
    "web": (
        "Serve Telegram's webhook (POST /telegram), Harbor's events (POST /harbor), GET /healthz, "
        "GET /readyz and GET /metrics on HOST:PORT. Run N of them behind a TLS proxy on one PostgreSQL "
        "database (BOT_PROCESSES=N); it never polls. Migrates at start; SIGINT and SIGTERM stop it cleanly.",
        "Register the webhook once per deploy with `python -m bot set-webhook`.",
        ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"],
        [n for n in _all() if n not in _RUN_ONLY | {"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"}],
    ),
    "set-webhook": (
        "Register {WEBHOOK_URL}/telegram with Telegram, with the secret every update must carry, and "
        "print what Telegram now holds (getWebhookInfo). A deploy step: once, not in each process.",
        "All settings are validated first, so Harbor's must be valid too.",
        ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "WEBHOOK_URL (https://)"],
        ["TELEGRAM_API_URL", "LOG_LEVEL", "LOG_FORMAT"],
    ),
    "console": (
        "Chat with the real bot in this terminal: it runs against the Telegram emulator and the Harbor "
        "simulator in this process (no token, no Harbor account), on a temporary SQLite database unless "
        "DATABASE_URL is set. Type /help inside for the console's own commands.",
        "The Telegram token and API and every HARBOR_* setting are the console's own; ADMIN_IDS holding "
        "the console user's id makes them an admin.",
        [],
        [n for n in _all() if n not in _CONSOLE_OWN and not n.startswith("HARBOR_")],
    ),
    "doctor": (
        "Check the settings, the database (it answers, its schema is at this code's head, advisory locks "
        "work on PostgreSQL), Harbor (a token, the token works, lockers near --near) and, with a token, "
        "Telegram and its webhook: one PASS/FAIL/SKIP line each. Exit 0 when all passed, 1 when one "
        "failed, 2 when the settings cannot be loaded. It changes nothing.",
        "",
        [],
        ["HARBOR_ENV", "HARBOR_API_URL", "HARBOR_TOKEN_URL", "HARBOR_CLIENT_ID", "HARBOR_CLIENT_SECRET",
         "DATABASE_URL", "TELEGRAM_BOT_TOKEN (optional: the Telegram lines)", "TELEGRAM_API_URL", "WEBHOOK_URL"],
    ),
}  # fmt: skip


def parser_options(command: str) -> dict[str, Any]:
    """description, epilog and formatter for `sub.add_parser(command, ...)`."""
    what, more, required, read = _COMMANDS[command]
    lines = []
    if required:
        lines += ["Environment it needs:", _listed(required)]
    lines += ["Environment it reads:", _listed(read)]
    if command in ("run", "web", "doctor"):
        lines.append(HARBOR_NOTE)
    lines.append(SOURCES)
    description = what + (f" {more}" if more else "")
    return {
        "description": textwrap.fill(description, width=100),
        "epilog": "\n".join(lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
