"""The drop-off: /dropoff -> location -> nearby lockers -> size -> reserved -> key.

A persistent ConversationHandler carries the customer from the location to the reservation; the
buttons on the reservation message (key, cancel) work outside it, for as long as the delivery is open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, ReplyKeyboardRemove, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import jobs
from bot.deliveries import (
    AlreadyOpen,
    Change,
    DeliveryProblem,
    IssuedKeyView,
    ItemAlreadyInside,
    KeyStillValid,
    ServiceUnavailable,
    SizeRanOut,
    WrongState,
)
from bot.geo import Point, parse_point
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
from bot.handlers.errors import stale_button
from bot.ui import format as fmt
from bot.ui import views
from bot.ui.qr import render_qr
from bot.ui.texts import raw, t
from bot.ui.views import View, action_is

log = logging.getLogger(__name__)

ASK_LOCATION, CHOOSE_LOCATION, CHOOSE_SIZE = range(3)
END = ConversationHandler.END
POINT_KEY = "dropoff_point"


# entering ------------------------------------------------------------------------------------


async def ask_location(update: Update, context: Context) -> int:
    await answer(update)
    who = remember(update, context)
    language = lang(update)
    if not is_private(update):
        await reply(update, context, View(t("fallback.group", language)))
        return END
    open_delivery = services(context).deliveries.open_dropoff(who.id)
    if open_delivery is not None:
        await reply(update, context, views.already_open(open_delivery, language))
        return END
    await reply(update, context, View(t("dropoff.ask_location", language), views.location_request(language)))
    return ASK_LOCATION


async def restart(update: Update, context: Context) -> int:
    """'Cancel it and start over' on the already-open notice."""
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    if not await _cancel_delivery(update, context, delivery_id):
        return END
    return await ask_location(update, context)


# location -> nearby ----------------------------------------------------------------------------


def _shared_point(update: Update) -> Point | None:
    message = update.effective_message
    if message is None:
        return None
    if message.venue is not None:
        return message.venue.location.latitude, message.venue.location.longitude
    if message.location is not None:
        return message.location.latitude, message.location.longitude
    if message.text:
        return parse_point(message.text)
    return None


async def got_location(update: Update, context: Context) -> int:
    point = _shared_point(update)
    if point is None:
        return await remind_location(update, context)
    context.user_data[POINT_KEY] = list(point)  # type: ignore[index]
    await reply(update, context, View(t("dropoff.searching", lang(update)), ReplyKeyboardRemove()))
    return await _show_nearby(update, context, point)


async def retry_search(update: Update, context: Context) -> int:
    await answer(update)
    point = (context.user_data or {}).get(POINT_KEY)
    if not point:
        return await ask_location(update, context)
    return await _show_nearby(update, context, (point[0], point[1]))


async def _show_nearby(update: Update, context: Context, point: Point) -> int:
    language = lang(update)
    await _action(update, context, ChatAction.FIND_LOCATION)
    try:
        result = await services(context).deliveries.nearby(point)
    except ServiceUnavailable as exc:
        await edit_or_send(update, context, problem_view(exc, language, views.retry_button(language, "search")))
        return ASK_LOCATION
    if not result.places:
        await reply(update, context, views.nothing_nearby(result, language))
        return ASK_LOCATION
    await edit_or_send(update, context, views.nearby(result, language))
    return CHOOSE_LOCATION


def _location_or(remind: Callable[[Update, Context], Awaitable[int]]) -> Callable[[Update, Context], Awaitable[int]]:
    """While choosing, a new location (typed too) searches again; any other text gets `remind`,
    which keeps the step, so the buttons on screen keep working."""

    async def handle(update: Update, context: Context) -> int:
        if _shared_point(update) is None:
            return await remind(update, context)
        return await got_location(update, context)

    return handle


async def remind_location(update: Update, context: Context) -> int:
    language = lang(update)
    await reply(update, context, View(t("dropoff.remind_location", language), views.location_request(language)))
    return ASK_LOCATION


async def remind_choose_location(update: Update, context: Context) -> int:
    await reply(update, context, View(t("dropoff.remind_choose_location", lang(update))))
    return CHOOSE_LOCATION


async def remind_choose_size(update: Update, context: Context) -> int:
    await reply(update, context, View(t("dropoff.remind_choose_size", lang(update))))
    return CHOOSE_SIZE


# location -> sizes -----------------------------------------------------------------------------


async def chose_location(update: Update, context: Context) -> int:
    await answer(update)
    location_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    language = lang(update)
    try:
        offer = await services(context).deliveries.location_offer(location_id)
    except DeliveryProblem as exc:
        retry = views.retry_button(language, "loc", location_id)
        await edit_or_send(update, context, problem_view(exc, language, retry))
        return CHOOSE_LOCATION
    await edit_or_send(update, context, views.choose_size(offer, language))
    return CHOOSE_SIZE


async def back_to_locations(update: Update, context: Context) -> int:
    return await retry_search(update, context)


# size -> reservation ---------------------------------------------------------------------------


async def chose_size(update: Update, context: Context) -> int:
    query = update.callback_query
    assert query is not None
    assert update.effective_chat is not None
    _, location_id, size_id = query.data  # type: ignore[misc]
    language = lang(update)
    svc = services(context)
    who = remember(update, context)
    await _action(update, context, ChatAction.TYPING)
    try:
        delivery = await svc.deliveries.reserve(who.id, int(location_id), int(size_id))
    except AlreadyOpen as exc:
        # A double tap, or a second conversation: the first one's reservation stands.
        log.info("size tap while delivery %s is open: a double tap", exc.delivery.id)
        await answer(update, raw("dropoff.already_reserving", language))
        return END
    except SizeRanOut as exc:
        await answer(update)
        await edit_or_send(update, context, views.size_ran_out(exc.offer, exc.size_name, language))
        return CHOOSE_SIZE
    except DeliveryProblem as exc:
        await answer(update)
        retry = views.retry_button(language, "size", int(location_id), int(size_id))
        await edit_or_send(update, context, problem_view(exc, language, retry))
        return CHOOSE_SIZE
    await answer(update)
    assert delivery.id is not None
    assert delivery.lat is not None
    assert delivery.lon is not None
    assert context.job_queue is not None
    # The timer first: should telling the user fail, the hold still ends on time.
    jobs.schedule_deadline(context.job_queue, delivery)
    chat_id = update.effective_chat.id
    await context.bot.send_venue(
        chat_id, delivery.lat, delivery.lon, title=delivery.location_name, address=delivery.address or "—"
    )
    message = await send(context, chat_id, views.reserved(delivery, language))
    svc.deliveries.attach_status_message(delivery.id, chat_id, message.message_id)
    if query.message is not None:
        await delete_quietly(context, chat_id, query.message.message_id)
    return END


# the delivery's buttons (outside the conversation) ---------------------------------------------


async def issue_key(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    assert update.effective_chat is not None
    assert update.effective_user is not None
    language = lang(update)
    if not is_private(update):
        await answer(update, raw("key.private_only", language), alert=True)
        return
    delivery_id = int(query.data[1])  # type: ignore[index]
    svc = services(context)
    await _action(update, context, ChatAction.UPLOAD_PHOTO)
    try:
        issued = await svc.deliveries.issue_dropoff_key(delivery_id, update.effective_user.id, update.effective_chat.id)
    except KeyStillValid as exc:
        delivery = svc.deliveries.get(delivery_id)
        until = fmt.local_time(exc.record.expires_at, delivery.timezone if delivery else None)
        await answer(update, raw("key.still_valid", language, until=until), alert=True)
        return
    except DeliveryProblem as exc:
        if await _button_of_ended(update, context, exc):
            return
        await answer(update)
        await reply(update, context, problem_view(exc, language, _retry_for(exc, language, "key", delivery_id)))
        return
    await send_key(update, context, issued, language)


async def send_key(update: Update, context: Context, issued: IssuedKeyView, language: str | None) -> None:
    """Render the key as a QR photo in the person's private chat and start its expiry timer."""
    assert issued.record.id is not None
    svc = services(context)
    assert context.job_queue is not None
    # The timers first: should sending the photo fail, the key still expires and is replaceable.
    jobs.schedule_key_expiry(context.job_queue, issued.record)
    if issued.key.kind == "dropoff":  # the key replaced the hold: its deadline no longer applies
        jobs.cancel_deadline(context.job_queue, issued.delivery.id or 0)
    png = await asyncio.to_thread(render_qr, issued.key.to_json())
    caption = views.key_caption(issued.key, issued.delivery, language)
    message = await context.bot.send_photo(
        issued.record.chat_id,
        png,
        caption=caption,
        parse_mode=ParseMode.HTML,
        reply_markup=views.delivery_actions(issued.delivery, language),
    )
    svc.deliveries.attach_key_message(issued.record.id, message.message_id)
    await answer(update)


async def cancel_button(update: Update, context: Context) -> None:
    delivery_id = int(update.callback_query.data[1])  # type: ignore[index, union-attr]
    await _cancel_delivery(update, context, delivery_id)


async def _cancel_delivery(update: Update, context: Context, delivery_id: int) -> bool:
    language = lang(update)
    svc = services(context)
    assert update.effective_user is not None
    try:
        closed = await svc.deliveries.cancel(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        if await _button_of_ended(update, context, exc):
            return False
        await answer(update)
        await reply(update, context, problem_view(exc, language, _retry_for(exc, language, "cancel", delivery_id)))
        if isinstance(exc, ItemAlreadyInside) and exc.just_seen:
            # The watch had not noticed yet: tell it as the watch would have.
            await jobs.announce(context, Change("in_locker", exc.delivery, exc.used_keys))
        return False
    await answer(update)
    await jobs.tell_closed(context, closed, views.cancelled(closed.delivery, language))
    return True


async def _button_of_ended(update: Update, context: Context, exc: DeliveryProblem) -> bool:
    """A button of a delivery that has ended is a stale button: say so (and drop it), nothing else."""
    if update.callback_query is None or not isinstance(exc, WrongState) or exc.delivery.state.is_open:
        return False
    await stale_button(update, context)
    return True


async def resume(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    delivery = services(context).deliveries.get(int(update.callback_query.data[1]))  # type: ignore[index, union-attr]
    if delivery is None or delivery.sender_id != update.effective_user.id or not delivery.state.is_open:
        await reply(update, context, View(t("error.stale_button", lang(update))))
        return
    message = await reply(update, context, views.status(delivery, lang(update)))
    assert delivery.id is not None
    services(context).deliveries.attach_status_message(delivery.id, message.chat_id, message.message_id)


async def leave(update: Update, context: Context) -> int:
    """/cancel inside the conversation: stop asking (and give back a locker, should one be held)."""
    assert update.effective_user is not None
    if context.user_data:
        context.user_data.pop(POINT_KEY, None)
    open_delivery = services(context).deliveries.open_dropoff(update.effective_user.id)
    if open_delivery is not None and open_delivery.id is not None:
        await _cancel_delivery(update, context, open_delivery.id)
    else:
        await reply(update, context, View(t("dropoff.left", lang(update)), ReplyKeyboardRemove()))
    return END


async def cancel_command(update: Update, context: Context) -> None:
    """/cancel outside the conversation: before the drop-off, give the locker back."""
    assert update.effective_user is not None
    language = lang(update)
    deliveries = services(context).deliveries
    open_delivery = deliveries.open_dropoff(update.effective_user.id)
    if open_delivery is not None and open_delivery.id is not None:
        await _cancel_delivery(update, context, open_delivery.id)
        return
    inside = deliveries.last_dropped_off(update.effective_user.id)
    if inside is not None:
        await reply(update, context, problem_view(ItemAlreadyInside(inside), language))
        return
    await reply(update, context, View(t("dropoff.nothing_to_cancel", language), ReplyKeyboardRemove()))


async def my_deliveries(update: Update, context: Context) -> None:
    await answer(update)
    who = remember(update, context)
    language = lang(update)
    deliveries = services(context).deliveries.open_deliveries(who.id)
    if not deliveries:
        await reply(update, context, View(t("my.none", language)))
        return
    await reply(update, context, View(t("my.header", language)))
    from bot.handlers.pickup import delivery_view_for

    for delivery in deliveries:
        await reply(update, context, delivery_view_for(delivery, who.id, language))


def _retry_for(
    exc: DeliveryProblem, language: str | None, action: str, delivery_id: int
) -> InlineKeyboardButton | None:
    return views.retry_button(language, action, delivery_id) if isinstance(exc, ServiceUnavailable) else None


async def _action(update: Update, context: Context, action: str) -> None:
    if update.effective_chat is not None:
        try:
            await context.bot.send_chat_action(update.effective_chat.id, action)
        except TelegramError:  # a chat action is decoration; never fail the step for it
            log.debug("chat action failed", exc_info=True)


# wiring --------------------------------------------------------------------------------------


def conversation() -> ConversationHandler:
    location = filters.LOCATION | filters.VENUE
    not_command = ~filters.COMMAND
    return ConversationHandler(
        entry_points=[
            CommandHandler("dropoff", ask_location),
            CallbackQueryHandler(ask_location, pattern=lambda d: d == ["menu", "dropoff"]),
            CallbackQueryHandler(restart, pattern=action_is("restart")),
        ],
        states={
            ASK_LOCATION: [
                MessageHandler(location, got_location),
                MessageHandler(filters.TEXT & not_command, got_location),
                CallbackQueryHandler(retry_search, pattern=action_is("search")),
                MessageHandler(not_command, remind_location),
            ],
            CHOOSE_LOCATION: [
                CallbackQueryHandler(chose_location, pattern=action_is("loc")),
                CallbackQueryHandler(retry_search, pattern=action_is("search")),
                MessageHandler(location | (filters.TEXT & not_command), _location_or(remind_choose_location)),
                MessageHandler(not_command, remind_choose_location),
            ],
            CHOOSE_SIZE: [
                CallbackQueryHandler(chose_size, pattern=action_is("size")),
                CallbackQueryHandler(chose_location, pattern=action_is("loc")),
                CallbackQueryHandler(back_to_locations, pattern=action_is("back")),
                MessageHandler(location | (filters.TEXT & not_command), _location_or(remind_choose_size)),
                MessageHandler(not_command, remind_choose_size),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", leave),
            CommandHandler("dropoff", ask_location),
        ],
        name="dropoff",
        persistent=True,
        allow_reentry=True,
    )


def handlers() -> list[BaseHandler]:
    return [
        conversation(),
        CallbackQueryHandler(issue_key, pattern=action_is("key")),
        CallbackQueryHandler(cancel_button, pattern=action_is("cancel")),
        CallbackQueryHandler(resume, pattern=action_is("resume")),
        CommandHandler("cancel", cancel_command),
        CommandHandler("my", my_deliveries),
        CallbackQueryHandler(my_deliveries, pattern=lambda d: d == ["menu", "my"]),
    ]
