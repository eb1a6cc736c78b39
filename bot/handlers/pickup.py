"""Handing the pickup over and collecting: links, self pickup, couriers, pickup keys, /jobs,
and the messages the locker watch and the reminders send.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.deliveries import DeliveryProblem, KeyStillValid
from bot.handlers.common import (
    Context,
    answer,
    delete_quietly,
    edit_or_send,
    is_private,
    lang,
    problem_view,
    remember,
    reply,
    send,
    services,
)
from bot.handlers.dropoff import send_key
from bot.handover import Dropped, LinkRefused, NotACourier, OwnLink
from bot.ui import format as fmt
from bot.ui import views
from bot.ui.texts import raw, t
from bot.ui.views import View, action_is, button, keyboard
from storage.models import CollectorKind, Delivery, DeliveryState, Role

log = logging.getLogger(__name__)


# views ---------------------------------------------------------------------------------------


def handover_buttons(delivery: Delivery, language: str | None) -> views.InlineKeyboardMarkup | None:
    did = delivery.id or 0
    return keyboard(
        [button(raw("handover.link_button", language), "link", did)],
        [button(raw("handover.self_button", language), "self", did)],
        [button(raw("handover.courier_button", language), "couriers", did)],
    )


def in_locker_view(delivery: Delivery, language: str | None) -> View:
    text = t(
        "watch.in_locker", language, locker=delivery.locker_name, name=delivery.location_name, address=delivery.address
    )
    return View(text, handover_buttons(delivery, language))


def waiting_view(delivery: Delivery, language: str | None, stay_hours: float) -> View:
    text = t(
        "pickup.waiting",
        language,
        locker=delivery.locker_name,
        size=delivery.size_name,
        name=delivery.location_name,
        address=delivery.address,
        stay=fmt.duration(stay_hours * 3600),
    )
    return View(text, keyboard([button(raw("pickup.key_button", language), "pkey", delivery.id or 0)]))


def delivery_view_for(delivery: Delivery, user_id: int, language: str | None) -> View:
    """A delivery as one person sees it in /my: the actions that person can take now."""
    summary = views.my_item(delivery, language)
    if delivery.state in (DeliveryState.IN_LOCKER, DeliveryState.AWAITING_PICKUP):
        key = [button(raw("pickup.key_button", language), "pkey", delivery.id or 0)]
        if delivery.sender_id == user_id:
            markup = handover_buttons(delivery, language)
            rows = [*(markup.inline_keyboard if markup else ()), key]
            return View(summary, keyboard(*rows))
        return View(summary, keyboard(key))
    return View(summary, views.delivery_actions(delivery, language))


# sent by the locker watch and timers ---------------------------------------------------------


async def announce_in_locker(context: Context, delivery: Delivery) -> None:
    await send(context, delivery.sender_id, in_locker_view(delivery, None))


async def announce_completed(context: Context, delivery: Delivery) -> None:
    await send(
        context,
        delivery.sender_id,
        View(
            t("watch.completed_sender", None, id=delivery.id, locker=delivery.locker_name, name=delivery.location_name)
        ),
    )
    if delivery.collector_id and delivery.collector_id != delivery.sender_id:
        text = t("pickup.completed_collector", None, locker=delivery.locker_name, name=delivery.location_name)
        await send(context, delivery.collector_id, View(text))


async def send_reminders(context: Context, delivery_id: int) -> None:
    delivery = await services(context).handover.due_reminder(delivery_id)
    if delivery is None:
        return
    values = {"locker": delivery.locker_name, "name": delivery.location_name, "address": delivery.address}
    collector = delivery.collector_id or delivery.sender_id
    key = keyboard([button(raw("pickup.key_button", None), "pkey", delivery.id or 0)])
    await send(context, collector, View(t("pickup.reminder_collector", None, **values), key))
    if collector != delivery.sender_id:
        await send(context, delivery.sender_id, View(t("pickup.reminder_sender", None, **values)))


async def tell_collector(context: Context, delivery: Delivery, *, job: bool = False) -> None:
    svc = services(context)
    assert delivery.collector_id is not None and delivery.lat is not None and delivery.lon is not None
    if job:
        sender = svc.repo.get_user(delivery.sender_id)
        who = sender.display_name if sender else str(delivery.sender_id)
        await send(context, delivery.collector_id, View(t("pickup.courier_job", None, id=delivery.id, sender=who)))
    await context.bot.send_venue(
        delivery.collector_id, delivery.lat, delivery.lon, title=delivery.location_name, address=delivery.address or "—"
    )
    await send(context, delivery.collector_id, waiting_view(delivery, None, svc.settings.reminder_hours))


async def tell_dropped(context: Context, delivery: Delivery, dropped: Dropped | None) -> None:
    """The collector a new handover replaced: their key QR goes, and they are told why."""
    if dropped is None:
        return
    for key in dropped.keys:
        await delete_quietly(context, key.chat_id, key.message_id)
    text = t("pickup.unassigned", None, id=delivery.id, locker=delivery.locker_name, name=delivery.location_name)
    try:
        await send(context, dropped.user_id, View(text))
    except TelegramError as exc:  # blocked the bot: nothing more to do for them
        log.info("delivery %s: replaced collector %s not told: %s", delivery.id, dropped.user_id, exc)


# deep link -----------------------------------------------------------------------------------


async def open_link(update: Update, context: Context) -> None:
    who = remember(update, context)
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
    delivery = claimed.delivery
    await send(
        context,
        delivery.sender_id,
        View(t("handover.claimed_sender", None, who=claimed.claimer.display_name, locker=delivery.locker_name)),
    )
    await tell_collector(context, delivery)
    await tell_dropped(context, delivery, claimed.dropped)


# sender's buttons ----------------------------------------------------------------------------


async def share_link(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    language = lang(update)
    try:
        made = await services(context).handover.create_link(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, language))
        return
    url = f"https://t.me/{context.bot.username}?start={made.code}"
    text = t("handover.link_created", language, url=url, until=fmt.local_datetime(made.link.expires_at))
    markup = keyboard(
        [button(raw("handover.revoke_button", language), "revoke", delivery_id)],
        [button(raw("handover.new_link_button", language), "link", delivery_id)],
    )
    await reply(update, context, View(text, markup))


async def revoke_link(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    try:
        await services(context).handover.revoke_links(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, lang(update)))
        return
    await edit_or_send(update, context, View(t("handover.revoked", lang(update))))


async def pick_up_myself(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    try:
        assigned = await services(context).handover.pick_up_myself(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        await reply(update, context, problem_view(exc, lang(update)))
        return
    if assigned.changed:
        await reply(update, context, View(t("handover.self_done", lang(update))))
        await tell_collector(context, assigned.delivery)
        await tell_dropped(context, assigned.delivery, assigned.dropped)


async def list_couriers(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    language = lang(update)
    try:
        couriers = services(context).handover.courier_choice(delivery_id, update.effective_user.id)
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
    _, delivery_id, courier_id = update.callback_query.data  # type: ignore[misc, union-attr]
    language = lang(update)
    try:
        assigned = await services(context).handover.send_to_courier(
            int(delivery_id), update.effective_user.id, int(courier_id)
        )
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
    await tell_collector(context, assigned.delivery, job=True)
    await tell_dropped(context, assigned.delivery, assigned.dropped)


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
    delivery_id = int(query.data[1])  # type: ignore[index]
    svc = services(context)
    try:
        await context.bot.send_chat_action(update.effective_chat.id, ChatAction.UPLOAD_PHOTO)
        issued = await svc.handover.issue_pickup_key(delivery_id, update.effective_user.id, update.effective_chat.id)
    except KeyStillValid as exc:
        delivery = svc.deliveries.get(delivery_id)
        until = fmt.local_time(exc.record.expires_at, delivery.timezone if delivery else None)
        await answer(update, raw("key.still_valid", language, until=until), alert=True)
        return
    except DeliveryProblem as exc:
        await answer(update)
        await reply(update, context, problem_view(exc, language))
        return
    await send_key(update, context, issued, language)


async def jobs_command(update: Update, context: Context) -> None:
    who = remember(update, context)
    language = lang(update)
    svc = services(context)
    user = svc.repo.get_user(who.id)
    if user is None or user.role is not Role.COURIER:
        await reply(update, context, View(t("jobs.not_courier", language)))
        return
    pickups = [d for d in svc.handover.pickups_for(who.id) if d.collector_kind is CollectorKind.COURIER]
    if not pickups:
        await reply(update, context, View(t("jobs.none", language)))
        return
    await reply(update, context, View(t("jobs.header", language)))
    for delivery in pickups:
        waiting = waiting_view(delivery, language, svc.settings.reminder_hours)
        await reply(update, context, View(views.my_item(delivery, language) + "\n" + waiting.text, waiting.markup))


def handlers() -> list[BaseHandler]:
    return [
        CommandHandler("start", open_link, filters=filters.ChatType.PRIVATE, has_args=True),
        CallbackQueryHandler(share_link, pattern=action_is("link")),
        CallbackQueryHandler(revoke_link, pattern=action_is("revoke")),
        CallbackQueryHandler(pick_up_myself, pattern=action_is("self")),
        CallbackQueryHandler(list_couriers, pattern=action_is("couriers")),
        CallbackQueryHandler(choose_courier, pattern=action_is("courier")),
        CallbackQueryHandler(pickup_key, pattern=action_is("pkey")),
        CommandHandler("jobs", jobs_command),
    ]
