"""The last line: stale or forged buttons, messages nobody expected, and unexpected errors."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.handlers.common import answer, bots_own, is_private, lang, reply
from bot.handlers.outage import try_again_soon
from bot.ptb_types import AnyHandler, Context
from bot.ui.texts import raw, t
from bot.ui.views import View
from storage.engine import is_outage

log = logging.getLogger(__name__)


async def stale_button(update: Update, context: Context) -> None:
    """A button from a message whose moment has passed (or one we never made)."""
    await answer(update, raw("error.stale_button", lang(update)), alert=True)
    query = update.callback_query
    message = query.message if query is not None else None
    # Drop the dead buttons so nobody taps them again (when there are any: Telegram refuses an edit
    # that changes nothing).
    if query is not None and bots_own(message, context) and getattr(message, "reply_markup", None) is not None:
        try:
            await query.edit_message_reply_markup(None)
        except Exception:
            log.debug("could not clear stale buttons", exc_info=True)


async def unexpected_message(update: Update, context: Context) -> None:
    if not is_private(update):
        return
    await reply(update, context, View(t("fallback.message", lang(update))))


async def on_error(update: object, context: Context) -> None:
    """Log with context (never key material) and tell the user that nothing was lost."""
    error = context.error
    if isinstance(error, Forbidden):  # the user blocked the bot: nobody to tell
        log.info("user blocked the bot: %s", error)
        return
    if error is not None and is_outage(error) and isinstance(update, Update):
        await try_again_soon(update, error)  # one line in the log, not a traceback per tap
        return
    if isinstance(error, RetryAfter | TimedOut | NetworkError):
        log.warning("Telegram trouble while handling an update: %s", error)
    else:
        log.error("unhandled error while handling an update", exc_info=error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await answer(update)
            await context.bot.send_message(update.effective_chat.id, t("error.unexpected", lang(update)))
        except Exception:
            log.debug("could not tell the user about the error", exc_info=True)


def handlers() -> list[AnyHandler]:
    """Catch-alls, registered after every feature's handlers."""
    return [
        CallbackQueryHandler(stale_button),
        # New messages only: an edit (a live location's stream sends dozens) is not a new question.
        MessageHandler(filters.UpdateType.MESSAGE, unexpected_message),
    ]
