"""Sending to Telegram: a view as a message, an edit that tolerates "not modified", a quiet delete.

Notifications pass `notify=True`, so the rate limiter (bot/ratelimit.py) serves them after every
user's own answers.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.ratelimit import Priority
from bot.ui.views import View

# The application's bot: an ExtBot, whose methods take `rate_limit_args`.
AnyBot = ExtBot[Any]


def priority(bot: AnyBot, notify: bool) -> Priority | None:
    """Notifications queue behind every user's own answers; PTB refuses the argument without a limiter."""
    return Priority.NOTIFY if notify and getattr(bot, "rate_limiter", None) is not None else None


async def send_view(bot: AnyBot, chat_id: int, view: View, *, notify: bool = False) -> Message:
    return await bot.send_message(
        chat_id,
        view.text,
        parse_mode=ParseMode.HTML,
        reply_markup=view.markup,
        rate_limit_args=priority(bot, notify),
    )


async def edit_view(
    bot: AnyBot, chat_id: int | None, message_id: int | None, view: View, *, notify: bool = False
) -> bool:
    """Edit a message the bot sent earlier (a status message); False when it is gone."""
    if chat_id is None or message_id is None:
        return False
    try:
        await bot.edit_message_text(
            view.text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=view.markup if isinstance(view.markup, InlineKeyboardMarkup) else None,
            rate_limit_args=priority(bot, notify),
        )
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    except Forbidden:
        return False
    return True


async def delete_quietly(bot: AnyBot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    with suppress(TelegramError):
        await bot.delete_message(chat_id, message_id)
