"""The drop-off: /dropoff -> location -> nearby lockers -> size -> reserved -> key.

The step a customer is in lives in the database (storage ChatState), written before the answer is
sent, so the next update finds it on any process however fast it comes (docs/design.md §8). Every button is
self-describing (`loc:42`, `size:42:2`, `key:7`) and works whenever what it names is still open; a
location shared at any moment in a private chat starts a search near it.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import InlineKeyboardButton, Message, ReplyKeyboardRemove, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.deliveries import (
    AlreadyOpen,
    DeliveryProblem,
    ItemAlreadyInside,
    KeyStillValid,
    ServiceUnavailable,
    SizeRanOut,
    WrongState,
)
from bot.deliveries.directory import SHOWN_QUERY_CHARS, ListLoading
from bot.deliveries.links import NoLockerOfSize
from bot.geo import Point, out_of_range, parse_point
from bot.handlers.common import (
    answer,
    callback_id,
    callback_ids,
    chat_action,
    edit_or_send,
    is_private,
    lang,
    problem_view,
    remember,
    reply,
    services,
    show_current,
)
from bot.handlers.errors import unexpected_message
from bot.ptb_types import AnyHandler, Context
from bot.ui import find_views, link_views, views
from bot.ui import format as fmt
from bot.ui.texts import raw, t
from bot.ui.views import View, action_is, exact
from storage.models import DropoffStep

log = logging.getLogger(__name__)

Step = DropoffStep
NEW_MESSAGE = filters.UpdateType.MESSAGE  # edits (a live location's stream) are not new input
PRIVATE_INPUT = filters.ChatType.PRIVATE & NEW_MESSAGE


# entering ------------------------------------------------------------------------------------


async def ask_location(update: Update, context: Context) -> None:
    await answer(update)
    who = await remember(update, context)
    language = lang(update)
    if not is_private(update):
        await reply(update, context, View(t("fallback.group", language)))
        return
    assert update.effective_chat is not None
    started = await services(context).repo.start_search(who.id, update.effective_chat.id)
    if started.open_dropoff is not None:
        await reply(update, context, views.already_open(started.open_dropoff, language))
        return
    await reply(update, context, find_views.ask_place(language))
    # A message of its own: the prompt's keyboard is Telegram's "share my location" (a reply keyboard).
    places = find_views.used_places(started.used_places, language)
    if places is not None:
        await reply(update, context, places)


async def restart(update: Update, context: Context) -> None:
    """'Cancel it and start over' on the already-open notice."""
    if await _cancel_delivery(update, context, callback_id(update)):
        await ask_location(update, context)


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


async def got_location(update: Update, context: Context) -> None:
    """A location or venue, at any moment: search near it (and forget any earlier step)."""
    point = _shared_point(update)
    assert point is not None
    await _search_from(update, context, point)


async def _search_from(update: Update, context: Context, point: Point) -> None:
    assert update.effective_chat is not None
    await services(context).repo.set_chat_state(update.effective_chat.id, Step.CHOOSE_LOCATION, point=point)
    searching = await reply(update, context, View(t("dropoff.searching", lang(update)), ReplyKeyboardRemove()))
    try:
        await _show_nearby(update, context, point)
    finally:
        await _delete(context, searching)  # "Looking for…" has done its job once the answer is there


async def _search_typed(update: Update, context: Context, text: str) -> None:
    """A typed place (name, street, city, ZIP): matched against Harbor's list in the database, free
    lockers asked live for the few shown (bot/deliveries/directory.py)."""
    assert update.effective_chat is not None
    language = lang(update)
    svc = services(context)
    if not await _may_search(update, context):
        return
    query = " ".join(text.split())[:SHOWN_QUERY_CHARS]
    searching = await reply(
        update, context, View(t("dropoff.searching_for", language, query=query), ReplyKeyboardRemove())
    )
    try:
        async with chat_action(update, context, ChatAction.FIND_LOCATION):
            result = await svc.directory.find(text)
        if result.point is not None:
            # No location by that name, but the address is somewhere: the lockers around it.
            await svc.repo.set_chat_state(update.effective_chat.id, Step.CHOOSE_LOCATION, point=result.point)
            await reply(update, context, View(t("dropoff.geocoded", language, query=result.query)))
            await _show_nearby(update, context, result.point, budgeted=False)
            return
        if result.places:
            top = result.places[0]
            # "Other locations" from the sizes then searches around the best match.
            await svc.repo.set_chat_state(update.effective_chat.id, Step.CHOOSE_LOCATION, point=(top.lat, top.lon))
        else:
            await svc.repo.set_chat_state(update.effective_chat.id, Step.ASK_LOCATION)
        await reply(update, context, find_views.found(result, language))
    except ServiceUnavailable as exc:
        await reply(update, context, problem_view(exc, language))
    except ListLoading:
        await reply(update, context, View(t("dropoff.list_loading", language), views.location_request(language)))
    finally:
        await _delete(context, searching)


async def _delete(context: Context, message: Message) -> None:
    with suppress(TelegramError):
        await context.bot.delete_message(message.chat_id, message.message_id)


async def in_step(update: Update, context: Context) -> None:
    """Any other message in a private chat: what it means depends on the step the chat is in."""
    assert update.effective_chat is not None
    state = await services(context).repo.chat_state(update.effective_chat.id)
    if state is None:
        await unexpected_message(update, context)
        return
    point = _shared_point(update)
    if point is not None:
        await _search_from(update, context, point)
        return
    language = lang(update)
    text = update.effective_message.text if update.effective_message else None
    if text and out_of_range(text):
        await reply(update, context, View(t("dropoff.out_of_range", language), views.location_request(language)))
        return
    if text and text.strip():
        # Typed at any step of the search (a list shown, or the sizes): a new search for that place.
        await _search_typed(update, context, text)
        return
    if state.step is Step.ASK_LOCATION:
        await reply(update, context, View(t("dropoff.remind_place", language), views.location_request(language)))
    elif state.step is Step.CHOOSE_LOCATION:
        await reply(update, context, View(t("dropoff.remind_choose_place", language)))
    else:
        await reply(update, context, View(t("dropoff.remind_choose_size", language)))


async def search_near(update: Update, context: Context, point: Point) -> None:
    """A new search around `point` (from elsewhere: "other locations nearby" when nothing bigger is free)."""
    await _search_from(update, context, point)


async def retry_search(update: Update, context: Context) -> None:
    """'Try again' after an outage, and 'back' from the sizes: search around the point shared last."""
    assert update.effective_chat is not None
    repo = services(context).repo
    try:
        state = await repo.chat_state(update.effective_chat.id)
        if state is None or state.lat is None or state.lon is None:
            await ask_location(update, context)
            return
        await repo.set_chat_state(update.effective_chat.id, Step.CHOOSE_LOCATION, keep_point=True)
        await _show_nearby(update, context, (state.lat, state.lon))
    finally:
        await answer(update)  # the button's progress bar ran while Harbor searched


async def _may_search(update: Update, context: Context) -> bool:
    """Each search costs Harbor calls: one person gets a few a minute (a per-process budget)."""
    user = update.effective_user
    if user is None or services(context).budget.search(user.id):
        return True
    await reply(update, context, View(t("throttle.searches", lang(update))))
    return False


async def _show_nearby(update: Update, context: Context, point: Point, *, budgeted: bool = True) -> None:
    language = lang(update)
    if budgeted and not await _may_search(update, context):
        return
    async with chat_action(update, context, ChatAction.FIND_LOCATION):
        try:
            result = await services(context).search.nearby(point)
        except ServiceUnavailable as exc:
            await edit_or_send(update, context, problem_view(exc, language, views.retry_button(language, "search")))
            return
    if not result.places:
        assert update.effective_chat is not None
        await services(context).repo.set_chat_state(update.effective_chat.id, Step.ASK_LOCATION)
        await reply(update, context, views.nothing_nearby(result, language))
        return
    await edit_or_send(update, context, views.nearby(result, language))


# location -> sizes -----------------------------------------------------------------------------


async def chose_location(update: Update, context: Context) -> None:
    try:
        await _offer_sizes(update, context, callback_id(update))
    finally:
        await answer(update)  # the button's progress bar ran while Harbor listed the lockers


async def _offer_sizes(update: Update, context: Context, location_id: int) -> None:
    language = lang(update)
    svc = services(context)
    if not await _may_search(update, context):
        return
    try:
        offer = await svc.search.location_offer(location_id)
    except DeliveryProblem as exc:
        retry = views.retry_button(language, "loc", location_id)
        await edit_or_send(update, context, problem_view(exc, language, retry))
        return
    if is_private(update):
        assert update.effective_chat is not None
        await svc.repo.set_chat_state(update.effective_chat.id, Step.CHOOSE_SIZE, keep_point=True)
    await edit_or_send(update, context, views.choose_size(offer, language))


# size -> reservation ---------------------------------------------------------------------------


async def chose_size(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    assert update.effective_chat is not None
    location_id, size_id = callback_ids(update)
    language = lang(update)
    if not is_private(update):
        await answer(update, raw("key.private_only", language), alert=True)
        return
    if not await _may_search(update, context):  # a size tap reads the location's lockers at Harbor too
        await answer(update)
        return
    svc = services(context)
    who = await remember(update, context)
    chat_id = update.effective_chat.id
    # The size list is edited into the hold below: it is the status message from the start.
    pressed = query.message.message_id if query.message is not None else None
    try:
        delivery, issued = await svc.deliveries.reserve_with_key(
            who.id, location_id, size_id, chat_id, status_message_id=pressed
        )
    except AlreadyOpen as exc:
        # A double tap, or a second search: the first one's reservation stands.
        log.info("size tap while delivery %s is open: a double tap", exc.delivery.id)
        await answer(update, raw("dropoff.already_reserving", language))
        return
    except SizeRanOut as exc:
        await answer(update)
        await edit_or_send(update, context, views.size_ran_out(exc.offer, exc.size_name, language))
        return
    except DeliveryProblem as exc:
        await answer(update)
        retry = views.retry_button(language, "size", location_id, size_id)
        await edit_or_send(update, context, problem_view(exc, language, retry))
        return
    assert delivery.id is not None
    # The shared point has done its job; the reservation message carries everything from here. (An
    # SDK-key reservation with its status message forgot it in its own transaction.)
    if issued is not None or pressed is None:
        await svc.repo.clear_chat_state(chat_id)
    if issued is None:
        view = views.reserved_with_place(delivery, language)
    else:
        view = link_views.link_held(delivery, issued.record.expires_at, language)
    message = await edit_or_send(update, context, view)
    await answer(update)  # the button's progress bar ran until the hold was on screen
    if not isinstance(message, bool) and message.message_id != delivery.status_message_id:
        await svc.deliveries.attach_status_message(delivery.id, chat_id, message.message_id)
    if issued is not None:  # KEY_MODE=link: the request that holds the locker is the key
        await svc.notifier.send_key(issued, language)


# the delivery's buttons ----------------------------------------------------------------------


async def issue_key(update: Update, context: Context) -> None:
    assert update.effective_chat is not None
    assert update.effective_user is not None
    language = lang(update)
    if not is_private(update):
        await answer(update, raw("key.private_only", language), alert=True)
        return
    delivery_id = callback_id(update)
    svc = services(context)
    try:
        issued = await svc.deliveries.issue_dropoff_key(delivery_id, update.effective_user.id, update.effective_chat.id)
    except KeyStillValid as exc:
        until = fmt.local_time(exc.record.expires_at, exc.delivery.timezone, lang=language)
        await answer(update, raw("key.still_valid", language, until=until), alert=True)
        return
    except NoLockerOfSize as exc:  # KEY_MODE=link: Harbor has none of that size for a new link
        await answer(update)
        await reply(update, context, link_views.no_locker_for_link(exc.delivery, exc.offer, language))
        return
    except DeliveryProblem as exc:
        if await _show_moved_on(update, context, exc):
            return
        await answer(update)
        await reply(update, context, problem_view(exc, language, _retry_for(exc, language, "key", delivery_id)))
        return
    await svc.notifier.send_key(issued, language)
    await answer(update)  # the button's progress bar ran until the key was on its way


async def cancel_button(update: Update, context: Context) -> None:
    await _cancel_delivery(update, context, callback_id(update))


async def _cancel_delivery(update: Update, context: Context, delivery_id: int) -> bool:
    language = lang(update)
    svc = services(context)
    assert update.effective_user is not None
    try:
        closed = await svc.deliveries.cancel(delivery_id, update.effective_user.id)
    except DeliveryProblem as exc:
        if await _show_moved_on(update, context, exc):
            return False
        await answer(update)
        await reply(update, context, problem_view(exc, language, _retry_for(exc, language, "cancel", delivery_id)))
        return False
    await answer(update)
    if update.effective_chat is not None:
        await svc.repo.clear_chat_state(update.effective_chat.id)
    await services(context).notifier.tell_closed(closed, views.cancelled(closed.delivery, language))
    return True


async def _show_moved_on(update: Update, context: Context, exc: DeliveryProblem) -> bool:
    """A button of a delivery that has moved on shows where it stands now, with what can be done now."""
    if update.callback_query is None or not isinstance(exc, WrongState):
        return False
    await answer(update, raw("error.moved_on", lang(update)))
    await show_current(update, context, exc.delivery)
    return True


async def resume(update: Update, context: Context) -> None:
    await answer(update)
    assert update.effective_user is not None
    svc = services(context)
    delivery = await svc.deliveries.get(callback_id(update))
    if delivery is None or delivery.sender_id != update.effective_user.id:
        await reply(update, context, View(t("error.not_found", lang(update))))
        return
    message = await reply(update, context, views.status(delivery, lang(update)))
    if delivery.state.is_open:
        assert delivery.id is not None
        await svc.deliveries.attach_status_message(delivery.id, message.chat_id, message.message_id)


async def cancel_command(update: Update, context: Context) -> None:
    """/cancel: leave the current step; before the drop-off, give the held locker back."""
    assert update.effective_user is not None and update.effective_chat is not None
    language = lang(update)
    svc = services(context)
    was_asking = await svc.repo.chat_state(update.effective_chat.id) is not None
    await svc.repo.clear_chat_state(update.effective_chat.id)
    open_delivery = await svc.deliveries.open_dropoff(update.effective_user.id)
    if open_delivery is not None and open_delivery.id is not None:
        await _cancel_delivery(update, context, open_delivery.id)
        return
    if was_asking:
        await reply(update, context, View(t("dropoff.left", language), ReplyKeyboardRemove()))
        return
    inside = await svc.deliveries.last_dropped_off(update.effective_user.id)
    if inside is not None:
        await reply(update, context, problem_view(ItemAlreadyInside(inside), language))
        return
    await reply(update, context, View(t("dropoff.nothing_to_cancel", language), ReplyKeyboardRemove()))


def _retry_for(
    exc: DeliveryProblem, language: str | None, action: str, delivery_id: int
) -> InlineKeyboardButton | None:
    return views.retry_button(language, action, delivery_id) if isinstance(exc, ServiceUnavailable) else None


# wiring --------------------------------------------------------------------------------------


def handlers() -> list[AnyHandler]:
    location = PRIVATE_INPUT & (filters.LOCATION | filters.VENUE)
    return [
        CommandHandler("dropoff", ask_location),
        CallbackQueryHandler(ask_location, pattern=exact("menu:dropoff")),
        CallbackQueryHandler(restart, pattern=action_is("restart", int)),
        MessageHandler(location, got_location),
        CallbackQueryHandler(retry_search, pattern=action_is("search")),
        CallbackQueryHandler(retry_search, pattern=action_is("back")),
        CallbackQueryHandler(chose_location, pattern=action_is("loc", int)),
        CallbackQueryHandler(chose_size, pattern=action_is("size", int, int)),
        CallbackQueryHandler(issue_key, pattern=action_is("key", int)),
        CallbackQueryHandler(cancel_button, pattern=action_is("cancel", int)),
        CallbackQueryHandler(resume, pattern=action_is("resume", int)),
        CommandHandler("cancel", cancel_command),
    ]


def step_handler() -> AnyHandler:
    """Registered after every other feature's handlers: text and other messages in a private chat."""
    return MessageHandler(PRIVATE_INPUT & ~filters.COMMAND, in_step)
