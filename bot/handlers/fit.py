""" "It didn't fit": on the drop-off key and on "your item is in", one tap for the next size up.

Buttons: `fit:<delivery>` (ask; may need the customer to confirm an occupied-reading locker is empty),
`fitok:<delivery>` (confirmed), `fitsize:<delivery>:<size>:<confirmed>` (a size from the offer),
`fitnear:<delivery>` (give the locker back and search around the location), `fitno:<delivery>` (keep it).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.deliveries import DeliveryProblem, WrongState
from bot.deliveries.fit import ConfirmEmpty, NoBiggerSize
from bot.handlers.common import (
    answer,
    callback_id,
    callback_ids,
    edit_or_send,
    is_private,
    lang,
    problem_view,
    reply,
    services,
    show_current,
)
from bot.handlers.dropoff import search_near
from bot.ptb_types import AnyHandler, Context
from bot.sending import edit_view
from bot.ui import link_views, views
from bot.ui.texts import raw
from bot.ui.views import action_is

log = logging.getLogger(__name__)


async def didnt_fit(update: Update, context: Context) -> None:
    await _refit(update, context, callback_id(update), confirmed=False)


async def confirmed_empty(update: Update, context: Context) -> None:
    await _refit(update, context, callback_id(update), confirmed=True)


async def chose_size(update: Update, context: Context) -> None:
    delivery_id, size_id, confirmed = callback_ids(update)
    await _refit(update, context, delivery_id, confirmed=bool(confirmed), size_id=size_id)


async def _refit(
    update: Update, context: Context, delivery_id: int, *, confirmed: bool, size_id: int | None = None
) -> None:
    assert update.effective_user is not None and update.effective_chat is not None
    language = lang(update)
    if not is_private(update):
        await answer(update, raw("key.private_only", language), alert=True)
        return
    svc = services(context)
    try:
        refitted = await svc.fit.didnt_fit(
            delivery_id, update.effective_user.id, update.effective_chat.id, confirmed=confirmed, size_id=size_id
        )
    except ConfirmEmpty as exc:
        await answer(update)
        await reply(update, context, link_views.fit_confirm(exc.delivery, language))
        return
    except NoBiggerSize as exc:
        await answer(update)
        await reply(update, context, link_views.no_bigger(exc.delivery, exc.offer, confirmed, language))
        return
    except WrongState as exc:
        await answer(update, raw("error.moved_on", language))
        await show_current(update, context, exc.delivery)
        return
    except DeliveryProblem as exc:
        await answer(update)
        await reply(update, context, problem_view(exc, language, views.retry_button(language, "fit", delivery_id)))
        return
    delivery = refitted.issued.delivery
    for key in refitted.voided_keys:  # the old locker's QR must not be tried at the tower
        await svc.notifier.announcer.delete_key_message(key)
    # The status message now names the new locker; the new key follows it.
    status = views.status(delivery, language)
    if not await edit_view(context.bot, delivery.status_chat_id, delivery.status_message_id, status):
        message = await reply(update, context, status)
        assert delivery.id is not None
        await svc.deliveries.attach_status_message(delivery.id, message.chat_id, message.message_id)
    moved = link_views.refitted(
        refitted.old_locker, refitted.old_size, delivery, language, old_link_live=refitted.old_link_live
    )
    await reply(update, context, moved)
    await svc.notifier.send_key(refitted.issued, language)
    await answer(update)  # the button's progress bar ran until the new key was on its way


async def keep(update: Update, context: Context) -> None:
    """ "No, my item is inside": nothing changes; the message shows where the delivery stands."""
    await answer(update)
    assert update.effective_user is not None
    delivery = await services(context).deliveries.get(callback_id(update))
    if delivery is None or delivery.sender_id != update.effective_user.id:
        return
    await show_current(update, context, delivery)


async def nearby(update: Update, context: Context) -> None:
    """Nothing bigger here: give the locker back (as a cancel does) and search around the location."""
    assert update.effective_user is not None
    svc = services(context)
    delivery_id = callback_id(update)
    language = lang(update)
    try:
        closed = await svc.deliveries.cancel(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await answer(update)
        await edit_or_send(update, context, problem_view(exc, language))
        return
    await answer(update)
    await svc.notifier.tell_closed(closed, views.cancelled(closed.delivery, language))
    delivery = closed.delivery
    if delivery.lat is not None and delivery.lon is not None:
        await search_near(update, context, (delivery.lat, delivery.lon))


def handlers() -> list[AnyHandler]:
    return [
        CallbackQueryHandler(didnt_fit, pattern=action_is("fit", int)),
        CallbackQueryHandler(confirmed_empty, pattern=action_is("fitok", int)),
        CallbackQueryHandler(chose_size, pattern=action_is("fitsize", int, int, int)),
        CallbackQueryHandler(keep, pattern=action_is("fitno", int)),
        CallbackQueryHandler(nearby, pattern=action_is("fitnear", int)),
    ]
