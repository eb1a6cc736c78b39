"""`python -m bot run` and a registered webhook are two ways to get the same updates: only one may be
live. PTB's polling deletes a webhook without a word, which would take every update away from the
`web` processes; so `run` first asks Telegram (getWebhookInfo) and refuses while one is set, unless
the operator said `--drop-webhook`."""

from __future__ import annotations

from telegram import Bot

from bot.config import Settings


def plain_bot(settings: Settings) -> Bot:
    """A Bot for one-off deploy calls (no Application, no rate limiter)."""
    return Bot(
        settings.require_telegram_token().get_secret_value(),
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
    )


async def registered_webhook(settings: Settings) -> str:
    """The webhook URL Telegram pushes updates to ("" when none is set: polling may run)."""
    async with plain_bot(settings) as bot:
        return (await bot.get_webhook_info()).url or ""


def refusal(url: str) -> str:
    """The one sentence `run` prints when a webhook is set."""
    return (
        f"harbor-bot will not poll: Telegram sends this bot's updates to the webhook {url} (the `web` "
        "processes); run `python -m bot web` instead, or `python -m bot run --drop-webhook` to delete the "
        "webhook and poll here."
    )
