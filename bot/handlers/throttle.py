"""The per-user budget, checked when an update arrives, before it is recorded (bot/inbox.py): over
its sender's budget, it goes no further, so a flood costs neither a database write nor a place in the
sender's queue, and delays nobody else."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.handlers.common import answer, is_private, lang, update_kind
from bot.metrics import Metrics, Outcome
from bot.throttle import UserBudget, Verdict
from bot.ui.texts import raw, t

log = logging.getLogger(__name__)


async def admit(update: Update, budget: UserBudget, metrics: Metrics) -> bool:
    """True when the update is within its sender's budget; else False, after one "slow down" notice
    per run of excess updates (in a group, nothing: the group did not ask)."""
    user = update.effective_user
    if user is None:
        return True
    verdict = budget.update(user.id)
    if verdict is Verdict.ALLOW:
        return True
    metrics.updates.labels(update_kind(update), Outcome.THROTTLED.value).inc()
    if verdict is Verdict.WARN:
        metrics.throttled.inc()
        log.info("user %s is over their update budget; dropping updates for a while", user.id)
        if update.callback_query is not None:
            await answer(update, raw("throttle.slow_down", lang(update)), alert=True)
        elif is_private(update) and update.effective_chat is not None:
            with suppress(TelegramError):
                await update.get_bot().send_message(
                    update.effective_chat.id, t("throttle.slow_down", lang(update)), parse_mode=ParseMode.HTML
                )
    return False
