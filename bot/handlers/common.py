"""Helpers every handler uses: the services, who is talking, and turning problems into answers."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError

from bot.deliveries import (
    DeliveryNotFound,
    DeliveryProblem,
    HoldLimitReached,
    ItemAlreadyInside,
    LocationNotFound,
    LockerLost,
    LockerStillInUse,
    Person,
    ServiceUnavailable,
    WrongState,
)
from bot.ptb_types import Context
from bot.services import Services
from bot.ui import locales, views
from bot.ui.handover_views import delivery_view_for
from bot.ui.texts import Safe, t
from bot.ui.views import View, callback_args, keyboard
from storage.models import Delivery

log = logging.getLogger(__name__)


def services(context: Context) -> Services:
    return cast(Services, context.application.bot_data["services"])


def person(update: Update) -> Person:
    user = update.effective_user
    assert user is not None
    return Person(user.id, user.first_name, user.last_name, user.username, user.language_code)


# What the person behind the update chose with /language, loaded once per update by the language
# handler (bot/handlers/language.py, group -2). PTB runs all of an update's handlers in one task, and
# each update in a task of its own, so this is that update's value and no other's.
_chosen_language: ContextVar[str | None] = ContextVar("chosen_language", default=None)


def use_chosen_language(language: str | None) -> None:
    _chosen_language.set(language)


def lang(update: Update) -> str:
    """The language to answer this update in: the stored choice, else the Telegram client's, else English."""
    telegram = update.effective_user.language_code if update.effective_user else None
    return locales.resolve(_chosen_language.get(), telegram)


async def remember(update: Update, context: Context) -> Person:
    who = person(update)
    await services(context).deliveries.remember(who)
    return who


def callback_ids(update: Update) -> list[int]:
    """The numeric arguments of the pressed button (its handler's pattern has checked their form)."""
    query = update.callback_query
    return [a for a in callback_args(query.data if query else None) if isinstance(a, int)]


def callback_id(update: Update) -> int:
    return callback_ids(update)[0]


# A chat action is for an answer that takes a while; a fast one only costs a Bot API call.
CHAT_ACTION_AFTER = 1.0


@asynccontextmanager
async def chat_action(update: Update, context: Context, action: str) -> AsyncIterator[None]:
    """Show `action` ("typing…", "sending photo…") only if the block is still running after a second.

    Not for a pressed button: Telegram clients show a progress bar on it until the bot answers the
    callback query, so the handler answers it once its reply is out and the bar says "working" for
    free. A chat action there would only be one more call in the queue of Telegram's rate limit.
    """
    chat = update.effective_chat
    if chat is None or update.callback_query is not None:
        yield
        return

    async def later() -> None:
        await asyncio.sleep(CHAT_ACTION_AFTER)
        with suppress(TelegramError):  # decoration: never fail the step for it
            await context.bot.send_chat_action(chat.id, action)

    task = asyncio.create_task(later())
    try:
        yield
    finally:
        task.cancel()


async def show_current(update: Update, context: Context, delivery: Delivery) -> None:
    """Put the delivery's current status (and the actions that make sense now) where its button was."""
    user_id = update.effective_user.id if update.effective_user else 0
    await edit_or_send(update, context, delivery_view_for(delivery, user_id, lang(update)))


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]


def private_only(handler: Handler) -> Handler:
    """Deliveries, links and keys are shown only in the person's own private chat: in a group, the
    answer (a one-time pickup link, a key button) would be everyone's. Elsewhere: one line, nothing else."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: Context) -> None:
        if is_private(update):
            await handler(update, context)
            return
        text = t("fallback.group", lang(update))
        if update.callback_query is not None:
            await answer(update, text, alert=True)
        elif update.effective_chat is not None:
            await reply(update, context, View(text))

    return guarded


async def send(context: Context, chat_id: int, view: View) -> Message:
    return await context.bot.send_message(chat_id, view.text, parse_mode=ParseMode.HTML, reply_markup=view.markup)


async def reply(update: Update, context: Context, view: View) -> Message:
    chat = update.effective_chat
    assert chat is not None
    return await send(context, chat.id, view)


async def edit_or_send(update: Update, context: Context, view: View) -> Message | bool:
    """Edit the message whose button was pressed; send a new one if it cannot be edited."""
    query = update.callback_query
    if query is not None and bots_own(query.message, context) and not getattr(query.message, "photo", None):
        assert query.message is not None
        if _same(query.message, view):
            return True  # Telegram refuses an edit that changes nothing
        try:
            return await query.edit_message_text(view.text, parse_mode=ParseMode.HTML, reply_markup=inline(view))
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True
            log.info("could not edit message, sending a new one: %s", exc)
    return await reply(update, context, view)


def bots_own(message: object, context: Context) -> bool:
    """Is this a message the bot sent (the only kind it may edit)? A forged press can name any message."""
    sender = getattr(message, "from_user", None)
    return sender is not None and sender.id == context.bot.id


def inline(view: View) -> InlineKeyboardMarkup | None:
    """The buttons an edit can carry: Telegram edits only inline keyboards into a message."""
    return view.markup if isinstance(view.markup, InlineKeyboardMarkup) else None


def _same(message: object, view: View) -> bool:
    """Would editing `message` into `view` change nothing? (Compared on text and buttons.)"""
    current = getattr(message, "reply_markup", None)
    return getattr(message, "text_html", None) == view.text and current == view.markup


# The button press this update's task answered already (see _chosen_language for why a ContextVar is
# this update's own). A path that answers twice (a helper answers, then the caller's `finally` does)
# would make a call Telegram rejects ("query is too old ... or query ID is invalid"): the first stands.
_answered_query: ContextVar[str | None] = ContextVar("answered_query", default=None)


def answered(update: Update) -> bool:
    """Whether this update's button press was answered already."""
    query = update.callback_query
    return query is not None and _answered_query.get() == query.id


async def answer(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Answer the pressed button (stops its spinner) once; a second answer for it does nothing."""
    query = update.callback_query
    if query is None or answered(update):
        return
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError:
        return  # not answered (a network hiccup): a later answer may still go through
    _answered_query.set(query.id)


def update_kind(update: object) -> str:
    """A few kinds, so the label stays small: what the person did."""
    if not isinstance(update, Update):
        return "other"
    if update.callback_query is not None:
        return "button"
    message = update.message
    if message is None:
        return "other"
    if message.location is not None or message.venue is not None:
        return "location"
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    return "message"


def problem_view(exc: DeliveryProblem, language: str | None, retry: InlineKeyboardButton | None = None) -> View:
    """The friendly answer to each problem the delivery service can raise."""
    if isinstance(exc, ServiceUnavailable):
        return views.harbor_down(language, retry)
    if isinstance(exc, DeliveryNotFound):
        return View(t("error.not_found", language))
    if isinstance(exc, LocationNotFound):
        return View(t("error.location_gone", language))
    if isinstance(exc, LockerLost):
        return views.locker_lost(exc.delivery, language)
    if isinstance(exc, LockerStillInUse):
        return View(t("link.locker_in_use", language, locker=exc.locker_name), keyboard([retry]) if retry else None)
    if isinstance(exc, HoldLimitReached):
        return View(t("dropoff.hold_limit", language, locker=exc.delivery.locker_name, name=exc.delivery.location_name))
    if isinstance(exc, ItemAlreadyInside):
        return View(t("dropoff.item_inside", language, locker=exc.delivery.locker_name))
    if isinstance(exc, WrongState):
        return View(t("error.wrong_state", language, state=Safe(views.state_label(exc.delivery, language))))
    log.error("no view for problem %r", exc)
    return View(t("error.unexpected", language))
