"""The database is away for a moment (issue 19): whatever the person did is answered at once, once,
with "try again in a moment", and one log line says why; nothing was changed, so trying again is safe."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import Update
from telegram.error import TelegramError

from bot.handlers.common import answer, answered, lang
from bot.ui.texts import raw, t

log = logging.getLogger(__name__)


async def try_again_soon(update: Update, why: BaseException) -> None:
    """Tell the person behind `update` to try again: the button's answer (unless the handler answered it
    already: Telegram refuses a second answer), else a message in the chat."""
    log.warning("update %s not handled, the database is away: %s", update.update_id, _first_line(why))
    text_lang = lang(update)
    if update.callback_query is not None and not answered(update):
        await answer(update, raw("error.try_again_soon", text_lang), alert=True)
        return
    chat = update.effective_chat
    if chat is not None:
        with suppress(TelegramError):
            await update.get_bot().send_message(chat.id, t("error.try_again_soon", text_lang))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
