"""The first handler every update meets (group -3): over a user's budget, it goes no further."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.handlers.common import answer, is_private, lang, reply, services
from bot.metrics import Outcome, mark_update
from bot.ptb_types import AnyHandler, Context
from bot.throttle import Verdict
from bot.ui.texts import raw, t
from bot.ui.views import View

log = logging.getLogger(__name__)
GROUP = -3  # before the language (-2), the admin menu (-1) and every feature (0)


async def budget(update: Update, context: Context) -> None:
    user = update.effective_user
    if user is None:
        return
    verdict = services(context).budget.update(user.id)
    if verdict is Verdict.ALLOW:
        return
    mark_update(Outcome.THROTTLED)
    if verdict is Verdict.WARN:
        services(context).metrics.throttled.inc()
        log.info("user %s is over their update budget; dropping updates for a while", user.id)
        # One notice per run of excess updates; in a group, nothing (the group did not ask).
        if update.callback_query is not None:
            await answer(update, raw("throttle.slow_down", lang(update)), alert=True)
        elif is_private(update) and update.effective_message is not None:
            await reply(update, context, View(t("throttle.slow_down", lang(update))))
    raise ApplicationHandlerStop


def handlers() -> list[AnyHandler]:
    return [TypeHandler(Update, budget)]
