"""Handing the pickup over and collecting: links, self pickup, couriers, pickup keys, /jobs,
and the messages the locker watch and the reminders send.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.deliveries import DeliveryProblem, KeyStillValid
from bot.handlers.common import (
    answer,
    callback_id,
    callback_ids,
    edit_or_send,
    is_private,
    lang,
    private_only,
    problem_view,
    remember,
    reply,
    send,
    services,
)
from bot.handover import CollectorHoldsKey, LinkRefused, NotACourier, OwnLink
from bot.ptb_types import AnyHandler, Context
from bot.ui import format as fmt
from bot.ui import handover_views as hv
from bot.ui import views
from bot.ui.texts import Safe, raw, t
from bot.ui.views import View, action_is, button, exact, keyboard
from storage.models import CollectorKind, Delivery, Role

log = logging.getLogger(__name__)


async def tell_collector(context: Context, delivery: Delivery, language: str | None) -> None:
    """The collector learns where the item is, in one message with the key button and the way there."""
    assert delivery.collector_id is not None
    view = hv.waiting_view(delivery, language, services(context).settings.reminder_hours)
    await send(context, delivery.collector_id, view)


# deep link -----------------------------------------------------------------------------------


async def open_link(update: Update, context: Context) -> None:
    who = await remember(update, context)
    language = lang(update)
    code = (context.args or [""])[0]
    svc = services(context)
    try:
        claimed = await svc.handover.claim(code, who.id)
    except OwnLink:
        await reply(update, context, View(t("handover.own_link", language)))
        return
    except LinkRefused:
        await reply(update, context, View(t("handover.link_refused", language)))
        return
    # The claimer is served first; the sender (and a replaced collector) hear it through the outbox.
    await tell_collector(context, claimed.delivery, language)
    svc.notifier.kick()


# sender's buttons ----------------------------------------------------------------------------


def _holds_key_view(exc: CollectorHoldsKey, language: str | None, anyway: InlineKeyboardButton) -> View:
    """Ask the sender before replacing a collector whose key Harbor will honour until it expires."""
    until = fmt.local_time(exc.until, exc.delivery.timezone, lang=language)
    who = exc.holder.display_name if exc.holder else str(exc.delivery.collector_id)
    if exc.link:  # a Locker Open link works until it is used: waiting ends nothing
        text = t("handover.collector_has_link", language, who=who, locker=exc.delivery.locker_name)
        return View(text, keyboard([anyway]))
    text = t("handover.collector_has_key", language, who=who, locker=exc.delivery.locker_name, until=until)
    wait = button(raw("handover.wait_button", language), "wait", exc.delivery.id or 0)
    return View(text, keyboard([wait], [anyway]))


def _anyway(language: str | None, action: str, *args: int) -> InlineKeyboardButton:
    return button(raw("handover.anyway_button", language), action, *args)


async def wait_for_key(update: Update, context: Context) -> None:
    """'I'll wait': nothing changes; the sender is reminded until when the key works."""
    await answer(update)
    assert update.effective_user is not None
    delivery_id = callback_id(update)
    svc = services(context)
    try:
        delivery = await svc.handover.check_collector_key(delivery_id, update.effective_user.id)
    except CollectorHoldsKey as exc:
        if exc.link:
            await edit_or_send(
                update,
                context,
                View(
                    t(
                        "handover.collector_has_link",
                        lang(update),
                        who=(exc.holder.display_name if exc.holder else str(exc.delivery.collector_id)),
                        locker=exc.delivery.locker_name,
                    )
                ),
            )
            return
        until = fmt.local_time(exc.until, exc.delivery.timezone, lang=lang(update))
        await edit_or_send(update, context, View(t("handover.waiting", lang(update), until=until)))
        return
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, lang(update)))
        return
    # The key has run out meanwhile: the sender may choose now.
    await edit_or_send(update, context, hv.delivery_view_for(delivery, update.effective_user.id, lang(update)))


async def share_link(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = callback_id(update)
    language = lang(update)
    force = _forced(update)
    try:
        made = await services(context).handover.create_link(delivery_id, update.effective_user.id, force=force)
    except CollectorHoldsKey as exc:
        await reply(update, context, _holds_key_view(exc, language, _anyway(language, "link!", delivery_id)))
        return
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, language))
        return
    url = f"https://t.me/{context.bot.username}?start={made.code}"
    # In the locker's time zone, like every other time (issue 17).
    until = fmt.local_time(made.link.expires_at, made.timezone, lang=language)
    text = t("handover.link_created", language, url=url, until=until)
    markup = keyboard(
        [button(raw("handover.revoke_button", language), "revoke", delivery_id)],
        [button(raw("handover.new_link_button", language), "link", delivery_id)],
    )
    await reply(update, context, View(text, markup))


async def revoke_link(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = callback_id(update)
    svc = services(context)
    try:
        await svc.handover.revoke_links(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, lang(update)))
        return
    delivery = await svc.deliveries.get(delivery_id)
    if delivery is not None and not delivery.state.is_open:
        # Issue 17: a finished delivery's link already stopped working; say that, not "make a new one".
        state = Safe(views.state_label(delivery, lang(update)))
        await edit_or_send(
            update, context, View(t("handover.revoke_finished", lang(update), id=delivery_id, state=state))
        )
        return
    await edit_or_send(update, context, View(t("handover.revoked", lang(update))))


async def pick_up_myself(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = callback_id(update)
    try:
        assigned = await services(context).handover.pick_up_myself(
            delivery_id, update.effective_user.id, force=_forced(update)
        )
    except CollectorHoldsKey as exc:
        language = lang(update)
        await reply(update, context, _holds_key_view(exc, language, _anyway(language, "self!", delivery_id)))
        return
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, lang(update)))
        return
    if assigned.changed:
        await reply(update, context, View(t("handover.self_done", lang(update))))
        await tell_collector(context, assigned.delivery, lang(update))
        services(context).notifier.kick()  # a replaced collector hears it


async def list_couriers(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = callback_id(update)
    language = lang(update)
    try:
        couriers = await services(context).handover.courier_choice(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, language))
        return
    if not couriers:
        await reply(update, context, View(t("handover.no_couriers", language)))
        return
    rows = [[button(c.display_name, "courier", delivery_id, c.id)] for c in couriers]
    await reply(update, context, View(t("handover.choose_courier", language), keyboard(*rows)))


async def choose_courier(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id, courier_id = callback_ids(update)
    language = lang(update)
    try:
        assigned = await services(context).handover.send_to_courier(
            int(delivery_id), update.effective_user.id, int(courier_id), force=_forced(update)
        )
    except CollectorHoldsKey as exc:
        anyway = _anyway(language, "courier!", delivery_id, courier_id)
        await reply(update, context, _holds_key_view(exc, language, anyway))
        return
    except NotACourier:
        await reply(update, context, View(t("handover.not_a_courier", language)))
        return
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, language))
        return
    if not assigned.changed:
        return
    who = assigned.collector.display_name
    text = t("handover.courier_assigned_sender", language, who=who, locker=assigned.delivery.locker_name)
    await edit_or_send(update, context, View(text))
    services(context).notifier.kick()  # the courier (and a replaced collector) hear it


# collector's buttons -------------------------------------------------------------------------


async def pickup_key(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and update.effective_user is not None and update.effective_chat is not None
    language = lang(update)
    # Only in the presser's own private chat: a key shown in a group (or anyone else's chat) is
    # everyone's key.
    if not is_private(update) or update.effective_chat.id != update.effective_user.id:
        await answer(update, raw("key.private_only", language), alert=True)
        return
    delivery_id = callback_id(update)
    svc = services(context)
    try:
        issued = await svc.handover.issue_pickup_key(delivery_id, update.effective_user.id, update.effective_chat.id)
    except KeyStillValid as exc:
        until = fmt.local_time(exc.record.expires_at, exc.delivery.timezone, lang=language)
        await answer(update, raw("key.still_valid", language, until=until), alert=True)
        return
    except DeliveryProblem as exc:
        await answer(update)
        await reply(update, context, problem_view(exc, language))
        return
    await svc.notifier.send_key(issued, language)
    await answer(update)


async def jobs_command(update: Update, context: Context) -> None:
    who = await remember(update, context)
    language = lang(update)
    svc = services(context)
    user = await svc.repo.get_user(who.id)
    if user is None or user.role is not Role.COURIER:
        await reply(update, context, View(t("jobs.not_courier", language)))
        return
    pickups = [d for d in await svc.handover.pickups_for(who.id) if d.collector_kind is CollectorKind.COURIER]
    if not pickups:
        await reply(update, context, View(t("jobs.none", language)))
        return
    await reply(update, context, View(t("jobs.header", language)))
    for delivery in pickups:
        waiting = hv.waiting_view(delivery, language, svc.settings.reminder_hours)
        await reply(update, context, View(views.my_item(delivery, language) + "\n" + waiting.text, waiting.markup))


async def my_deliveries(update: Update, context: Context) -> None:
    await answer(update)
    who = await remember(update, context)
    language = lang(update)
    svc = services(context)
    deliveries = await svc.deliveries.open_deliveries(who.id)
    if not deliveries:
        await reply(update, context, View(t("my.none", language)))
    else:
        await reply(update, context, View(t("my.header", language)))
        for delivery in deliveries:
            await reply(update, context, hv.delivery_view_for(delivery, who.id, language))
    # Issue 17: the latest finished ones too, marked as such, in one message.
    finished = await svc.repo.finished_deliveries_of(who.id)
    if finished:
        await reply(update, context, views.finished_list(finished, language))


def _forced(update: Update) -> bool:
    """The '!' actions are the 'hand it over now' answer to a collector's live key."""
    query = update.callback_query
    return bool(query and query.data and query.data.split(":", 1)[0].endswith("!"))


def handlers() -> list[AnyHandler]:
    # Everything here shows a delivery, a link or a key: private chats only (private_only answers
    # elsewhere with one line).
    return [
        CommandHandler("start", open_link, filters=filters.ChatType.PRIVATE, has_args=True),
        CallbackQueryHandler(private_only(share_link), pattern=action_is("link", int)),
        CallbackQueryHandler(private_only(share_link), pattern=action_is("link!", int)),
        CallbackQueryHandler(private_only(revoke_link), pattern=action_is("revoke", int)),
        CallbackQueryHandler(private_only(pick_up_myself), pattern=action_is("self", int)),
        CallbackQueryHandler(private_only(pick_up_myself), pattern=action_is("self!", int)),
        CallbackQueryHandler(private_only(wait_for_key), pattern=action_is("wait", int)),
        CallbackQueryHandler(private_only(list_couriers), pattern=action_is("couriers", int)),
        CallbackQueryHandler(private_only(choose_courier), pattern=action_is("courier", int, int)),
        CallbackQueryHandler(private_only(choose_courier), pattern=action_is("courier!", int, int)),
        CallbackQueryHandler(pickup_key, pattern=action_is("pkey", int)),
        CommandHandler("jobs", private_only(jobs_command)),
        CommandHandler("my", private_only(my_deliveries)),
        CallbackQueryHandler(private_only(my_deliveries), pattern=exact("menu:my")),
    ]
