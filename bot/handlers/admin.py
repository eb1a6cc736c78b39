"""Admin commands: lockers held at Harbor, deliveries and their history, releases, couriers, stats.

Every handler here, commands and buttons alike, goes through `admin_only`: a non-admin gets one
sentence and no data, and an admin gets answers only in a private chat (a group would show them to
everyone in it).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from contextlib import suppress
from functools import wraps

from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.admin import ITEM_INSIDE, LockerInUse, Released
from bot.deliveries import DeliveryNotFound, DeliveryProblem, ServiceUnavailable, WrongState
from bot.handlers.common import (
    Handler,
    answer,
    callback_id,
    is_private,
    lang,
    problem_view,
    remember,
    reply,
    send,
    services,
)
from bot.handover import UnknownUser
from bot.menus import set_admin_menu
from bot.ptb_types import AnyHandler, Context
from bot.sending import edit_view
from bot.ui import admin_views, locales, views
from bot.ui.admin_views import (
    LIST_LOCKERS,
    RELEASE_CONFIRMED,
    RELEASE_DELIVERY,
    RELEASE_KEPT,
    RELEASE_LOCKER,
    state_name,
    state_named,
)
from bot.ui.texts import raw, t
from bot.ui.views import View, action_is, button, callback_args, keyboard
from storage.models import DeliveryState

log = logging.getLogger(__name__)


# the guard -----------------------------------------------------------------------------------


def admin_only(handler: Handler) -> Handler:
    """Check the user is an admin before anything else; everyone else gets one sentence."""

    @wraps(handler)
    async def guarded(update: Update, context: Context) -> None:
        user = update.effective_user
        language = lang(update)
        if user is None or not services(context).is_admin(user.id):
            await _refuse(update, context, t("admin.only", language))
            return
        await remember(update, context)
        if not is_private(update):
            await _refuse(update, context, t("admin.private_only", language))
            return
        await handler(update, context)

    return guarded


async def _refuse(update: Update, context: Context, text: str) -> None:
    if update.effective_chat is None:  # a button on an inline message: no chat to write to
        await answer(update, html.unescape(text), alert=True)
        return
    await answer(update)
    await reply(update, context, View(text))


async def reply_pages(
    update: Update, context: Context, lines: Sequence[str], markup: InlineKeyboardMarkup | None = None
) -> None:
    chunks = admin_views.pages(lines, lang(update))
    for number, chunk in enumerate(chunks, start=1):
        await reply(update, context, View(chunk, markup if number == len(chunks) else None))


def _delivery_id(args: Sequence[str] | None) -> int | None:
    if not args or len(args) != 1:
        return None
    text = args[0].lstrip("#")
    return int(text) if text.isdigit() else None


# /lockers ------------------------------------------------------------------------------------


async def lockers_command(update: Update, context: Context) -> None:
    await answer(update)
    language = lang(update)
    try:
        report = await services(context).admin.lockers()
    except ServiceUnavailable as exc:
        log.warning("/lockers: Harbor did not answer: %s", exc)
        retry = views.retry_button(language, LIST_LOCKERS)
        await reply(update, context, problem_view(exc, language, retry))
        return
    if not report.held:
        await reply(update, context, View(t("admin.lockers_none", language)))
        return
    lines, markup = admin_views.lockers_lines(report, language)
    await reply_pages(update, context, lines, markup)


async def release_locker_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    language = lang(update)
    tower_id, locker_id = (str(a) for a in callback_args(query.data))
    await answer(update)
    try:
        await services(context).admin.release_locker(tower_id, int(locker_id))
    except LockerInUse as exc:  # a delivery took it since the list was made: /release is the way
        await reply(update, context, View(admin_views.locker_in_use(exc.delivery, locker_id, tower_id, language)))
        return
    except ServiceUnavailable as exc:
        retry = button(raw("error.retry_button", language), RELEASE_LOCKER, tower_id, locker_id)
        await reply(update, context, problem_view(exc, language, retry))
        return
    await _drop_button(update)
    await reply(update, context, View(t("admin.locker_released", language, locker=locker_id, tower=tower_id)))


async def _drop_button(update: Update) -> None:
    """Take the pressed release button off the list message (the rest stay)."""
    query = update.callback_query
    message = query.message if query else None
    markup = getattr(message, "reply_markup", None)
    if query is None or markup is None:
        return
    rows = [[b for b in row if b.callback_data != query.data] for row in markup.inline_keyboard]
    if sum(map(len, rows)) == sum(map(len, markup.inline_keyboard)):
        return  # the button is not on this message (a forged press): an edit would change nothing
    with suppress(TelegramError):
        await query.edit_message_reply_markup(keyboard(*rows))


# /deliveries, /delivery ----------------------------------------------------------------------


async def deliveries_command(update: Update, context: Context) -> None:
    """`/deliveries`: the latest; `/deliveries <state>` (its code or its words); else a person or a locker."""
    language = lang(update)
    given = " ".join(context.args or [])
    admin = services(context).admin
    state = state_named(given) if given else None
    if given and state is None:
        search = await admin.search(given)
        await reply_pages(update, context, admin_views.search_lines(search, language))
        return
    found = await admin.deliveries(state)
    await reply_pages(update, context, admin_views.deliveries_lines(found, state, language))


async def delivery_command(update: Update, context: Context) -> None:
    language = lang(update)
    delivery_id = _delivery_id(context.args)
    if delivery_id is None:
        await reply(update, context, View(t("admin.delivery_usage", language)))
        return
    history = await services(context).admin.history(delivery_id)
    if history is None:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
        return
    await reply_pages(update, context, admin_views.delivery_lines(history, language))


# /release ------------------------------------------------------------------------------------


async def release_command(update: Update, context: Context) -> None:
    """`/release <id>`: at once before the drop-off; with an item in the locker, only after a yes."""
    language = lang(update)
    delivery_id = _delivery_id(context.args)
    if delivery_id is None:
        await reply(update, context, View(t("admin.release_usage", language)))
        return
    await _ask_or_release(update, context, delivery_id)


async def release_retry(update: Update, context: Context) -> None:
    """The retry button after a Harbor outage (or an older /release button): the same as /release."""
    delivery_id = callback_id(update)
    await answer(update)
    await _ask_or_release(update, context, delivery_id)


async def release_confirmed(update: Update, context: Context) -> None:
    """The yes button: releases only if the delivery is still in the state the admin was asked about."""
    query = update.callback_query
    assert query is not None
    delivery_id, state_value = callback_args(query.data)
    await answer(update)
    try:
        asked = DeliveryState(str(state_value))
    except ValueError:  # forged data: nothing to act on
        return
    await _drop_keyboard(update)
    await _release(update, context, int(delivery_id), asked)


async def release_kept(update: Update, context: Context) -> None:
    language = lang(update)
    delivery_id = callback_id(update)
    await answer(update)
    await _drop_keyboard(update)
    delivery = await services(context).admin.delivery(delivery_id)
    if delivery is None:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
        return
    text = t("admin.release_kept", language, id=delivery_id, state=state_name(delivery.state, language))
    await reply(update, context, View(text))


async def _drop_keyboard(update: Update) -> None:
    """An answered question loses its buttons (a second tap would only repeat or contradict it)."""
    query = update.callback_query
    if query is not None and query.message is not None:
        with suppress(TelegramError):
            await query.edit_message_reply_markup(None)


async def _ask_or_release(update: Update, context: Context, delivery_id: int) -> None:
    language = lang(update)
    delivery = await services(context).admin.delivery(delivery_id)
    if delivery is None:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
    elif not delivery.state.is_open:
        text = t("admin.release_not_open", language, id=delivery_id, state=state_name(delivery.state, language))
        await reply(update, context, View(text))
    elif delivery.state in ITEM_INSIDE:
        await reply(update, context, View(*admin_views.release_question(delivery, language)))
    else:  # nothing inside: nobody loses an item, so no question (and a moved-on state asks then)
        await _release(update, context, delivery_id, delivery.state)


async def _release(update: Update, context: Context, delivery_id: int, expect: DeliveryState) -> None:
    language = lang(update)
    admin = services(context).admin
    assert update.effective_user is not None
    try:
        done = await admin.release(delivery_id, update.effective_user.id, expect=expect)
    except DeliveryNotFound:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
        return
    except WrongState as exc:
        now = exc.delivery
        if not now.state.is_open:
            text = t("admin.release_not_open", language, id=delivery_id, state=state_name(now.state, language))
            await reply(update, context, View(text))
            return
        # It moved on since the admin was asked: say so and ask again; nothing was released.
        text = t("admin.release_changed", language, id=delivery_id, state=state_name(now.state, language))
        question, markup = admin_views.release_question(now, language)
        await reply(update, context, View(f"{text}\n\n{question}", markup))
        return
    except DeliveryProblem as exc:  # Harbor did not answer: nothing changed
        retry = views.retry_button(language, RELEASE_CONFIRMED, delivery_id, expect.value)
        await reply(update, context, problem_view(exc, language, retry))
        return
    unreachable = await _tell_released(context, done)
    await reply(update, context, View(admin_views.released(done.delivery, unreachable, language)))


async def _tell_released(context: Context, done: Released) -> list[str]:
    """The sender and the collector hear it through the outbox (recorded with the release); sent now,
    so the admin learns whom it could not reach. The status message loses its dead buttons."""
    svc = services(context)
    delivery = done.delivery
    status = views.status(delivery, locales.of(done.sender))
    await edit_view(context.bot, delivery.status_chat_id, delivery.status_message_id, status)
    await svc.notifier.deliver()
    assert delivery.id is not None
    return await svc.admin.unreachable_after_release(delivery.id)


# couriers ------------------------------------------------------------------------------------


async def courier_command(update: Update, context: Context) -> None:
    language = lang(update)
    args = context.args or []
    if len(args) != 2 or args[0].lower() not in ("add", "remove"):
        await reply(update, context, View(t("admin.courier_usage", language)))
        return
    on = args[0].lower() == "add"
    ref = args[1]
    try:
        change = await services(context).admin.set_courier(ref, on)
    except UnknownUser:
        await reply(update, context, View(t("admin.unknown_user", language, ref=ref)))
        return
    text = admin_views.courier_changed(change, on, language)
    if change.changed:
        user = change.user
        try:
            await send(context, user.id, View(admin_views.courier_note(on, locales.of(user))))
        except TelegramError as exc:
            log.info("courier %s not told about the change: %s", user.id, exc)
            text += "\n" + t("admin.courier_unreachable", language)
    await reply(update, context, View(text))


async def couriers_command(update: Update, context: Context) -> None:
    language = lang(update)
    couriers = await services(context).admin.couriers()
    if not couriers:
        await reply(update, context, View(t("admin.couriers_none", language)))
        return
    await reply_pages(update, context, admin_views.courier_lines(couriers, language))


# /stats --------------------------------------------------------------------------------------


async def stats_command(update: Update, context: Context) -> None:
    stats = await services(context).admin.stats()
    await reply(update, context, View(admin_views.stats_text(stats, lang(update))))


# the admin's command menu ----------------------------------------------------------------------

MENU_SET = "admin_menu_set"  # bot_data: ids of admins whose scoped menu is set in this run


async def give_admin_menu(update: Update, context: Context) -> None:
    """An admin's menu can only be scoped to a chat that exists: set it on their first message."""
    user = update.effective_user
    if user is None or not is_private(update) or not services(context).is_admin(user.id):
        return
    if user.id in context.bot_data.get(MENU_SET, ()):
        return
    if await set_admin_menu(context.bot, user.id, lang(update)):
        context.bot_data.setdefault(MENU_SET, set()).add(user.id)


def menu_handler() -> AnyHandler:
    return MessageHandler(filters.ChatType.PRIVATE, give_admin_menu)


# wiring --------------------------------------------------------------------------------------


def handlers() -> list[AnyHandler]:
    return [
        CommandHandler("lockers", admin_only(lockers_command)),
        CommandHandler("deliveries", admin_only(deliveries_command)),
        CommandHandler("delivery", admin_only(delivery_command)),
        CommandHandler("release", admin_only(release_command)),
        CommandHandler("courier", admin_only(courier_command)),
        CommandHandler("couriers", admin_only(couriers_command)),
        CommandHandler("stats", admin_only(stats_command)),
        CallbackQueryHandler(admin_only(release_locker_button), pattern=action_is(RELEASE_LOCKER, str, int)),
        CallbackQueryHandler(admin_only(lockers_command), pattern=action_is(LIST_LOCKERS)),
        CallbackQueryHandler(admin_only(release_retry), pattern=action_is(RELEASE_DELIVERY, int)),
        CallbackQueryHandler(admin_only(release_confirmed), pattern=action_is(RELEASE_CONFIRMED, int, str)),
        CallbackQueryHandler(admin_only(release_kept), pattern=action_is(RELEASE_KEPT, int)),
    ]
