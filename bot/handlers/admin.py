"""Admin commands: lockers held at Harbor, deliveries and their history, releases, couriers, stats.

Every handler here, commands and buttons alike, goes through `admin_only`: a non-admin gets one
sentence and no data, and an admin gets answers only in a private chat (a group would show them to
everyone in it).
"""

from __future__ import annotations

import html
import logging
import re
import statistics
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import wraps

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.deliveries import Closed, DeliveryNotFound, DeliveryProblem, ServiceUnavailable, WrongState
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
from bot.harbor.errors import HarborError
from bot.harbor.models import Locker
from bot.menus import set_admin_menu
from bot.ptb_types import AnyHandler, Context
from bot.sending import edit_view
from bot.ui import format as fmt
from bot.ui import locales, views
from bot.ui.texts import Safe, raw, t
from bot.ui.views import View, action_is, button, callback_args, keyboard
from storage.models import CollectorKind, Delivery, DeliveryState, OutboxState, Role, User
from storage.repository import Repository

log = logging.getLogger(__name__)

RECENT = 20
PAGE_LIMIT = 3800  # Telegram allows 4096 characters a message; room is left for the truncation note
MAX_PAGES = 5  # a longer list is cut, with a note saying how much was left out
MAX_RELEASE_BUTTONS = 30

# callback data: ["arel", tower_id, locker_id] release a locker no open delivery holds;
# ["alockers"] list the lockers again; ["arelease", delivery_id] retry /release after a Harbor outage.
RELEASE_LOCKER = "arel"
LIST_LOCKERS = "alockers"
RELEASE_DELIVERY = "arelease"


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


# paging --------------------------------------------------------------------------------------


def pages(lines: Sequence[str], language: str | None) -> list[str]:
    """Join lines into messages under Telegram's limit; past MAX_PAGES the rest is left out, with a note."""
    result: list[str] = []
    current = ""
    for index, line in enumerate(lines):
        line = _fit(line)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= PAGE_LIMIT:
            current = candidate
            continue
        result.append(current)
        if len(result) == MAX_PAGES:
            result[-1] += "\n\n" + t("admin.truncated", language, count=len(lines) - index)
            return result
        current = line
    if current:
        result.append(current)
    return result


def _fit(line: str) -> str:
    """A single line longer than a message (never in practice) becomes cut plain text."""
    if len(line) <= PAGE_LIMIT:
        return line
    plain = html.unescape(re.sub(r"<[^>]+>", "", line))
    return html.escape(plain[: PAGE_LIMIT // 2] + "…", quote=False)


async def reply_pages(
    update: Update, context: Context, lines: Sequence[str], markup: InlineKeyboardMarkup | None = None
) -> None:
    chunks = pages(lines, lang(update))
    for number, chunk in enumerate(chunks, start=1):
        await reply(update, context, View(chunk, markup if number == len(chunks) else None))


# small helpers -------------------------------------------------------------------------------


async def _who(repo: Repository, user_id: int | None, cache: dict[int, str], language: str | None) -> str:
    if user_id is None:
        return raw("admin.actor_system", language)
    if user_id not in cache:
        user = await repo.get_user(user_id)
        cache[user_id] = f"{user.display_name} [{user_id}]" if user else str(user_id)
    return cache[user_id]


def _delivery_id(args: Sequence[str] | None) -> int | None:
    if not args or len(args) != 1:
        return None
    text = args[0].lstrip("#")
    return int(text) if text.isdigit() else None


def _harbor_down(language: str | None, retry: InlineKeyboardButton | None = None) -> View:
    return problem_view(ServiceUnavailable("harbor"), language, retry)


# /lockers ------------------------------------------------------------------------------------


async def lockers_command(update: Update, context: Context) -> None:
    await answer(update)
    language = lang(update)
    svc = services(context)
    try:
        held = await svc.harbor.assigned_lockers()
    except HarborError as exc:
        log.warning("/lockers: Harbor did not answer: %s", exc)
        await reply(update, context, _harbor_down(language, views.retry_button(language, LIST_LOCKERS)))
        return
    if not held:
        await reply(update, context, View(t("admin.lockers_none", language)))
        return
    owners = await svc.repo.open_by_locker()
    held = sorted(held, key=lambda lk: (lk.tower_id, lk.id))
    lines: list[str] = []
    orphans: list[Locker] = []
    for locker in held:
        values = {
            "locker": locker.name,
            "size": locker.type.name,
            "tower": locker.tower_id,
            "status": locker.status.name,
        }
        owner = owners.get((locker.tower_id.lower(), locker.id))
        if owner is None:
            orphans.append(locker)
            lines.append(t("admin.locker_orphan", language, **values))
        else:
            owned = {"id": owner.id, "state": owner.state.value, "name": owner.location_name}
            lines.append(t("admin.locker_line", language, **values, **owned))
    header = t("admin.lockers_header", language, count=len(held), orphans=len(orphans))
    rows = [
        [
            button(
                raw("admin.release_locker_button", language, locker=lk.name, tower=lk.tower_id[:8]),
                RELEASE_LOCKER,
                lk.tower_id,
                lk.id,
            )
        ]
        for lk in orphans[:MAX_RELEASE_BUTTONS]
    ]
    if len(orphans) > MAX_RELEASE_BUTTONS:
        lines.append(t("admin.more_orphans", language, shown=MAX_RELEASE_BUTTONS))
    await reply_pages(update, context, [header, "", *lines], keyboard(*rows))


async def release_locker_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    language = lang(update)
    tower_id, locker_id = (str(a) for a in callback_args(query.data))
    await answer(update)
    svc = services(context)
    owner = (await svc.repo.open_by_locker()).get((tower_id.lower(), int(locker_id)))
    if owner is not None:  # a delivery took it since the list was made: /release is the way
        await reply(
            update,
            context,
            View(
                t("admin.locker_in_use", language, locker=owner.locker_name or locker_id, tower=tower_id, id=owner.id)
            ),
        )
        return
    try:
        await svc.handover.release_locker(tower_id, int(locker_id))
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
    with suppress(TelegramError):
        await query.edit_message_reply_markup(keyboard(*rows))


# /deliveries, /delivery ----------------------------------------------------------------------


def _state_arg(value: str) -> DeliveryState | None:
    try:
        return DeliveryState(value.strip().lower().replace("-", "_"))
    except ValueError:
        return None


async def deliveries_command(update: Update, context: Context) -> None:
    language = lang(update)
    svc = services(context)
    args = context.args or []
    state: DeliveryState | None = None
    if args:
        state = _state_arg(" ".join(args))
        if state is None:
            valid = ", ".join(s.value for s in DeliveryState)
            await reply(update, context, View(t("admin.bad_state", language, given=" ".join(args), states=valid)))
            return
    recent = await svc.repo.recent_deliveries(state=state, limit=RECENT)
    if not recent:
        key = "admin.deliveries_none_state" if state else "admin.deliveries_none"
        await reply(update, context, View(t(key, language, state=state.value if state else "")))
        return
    if state is None:
        header = t("admin.deliveries_header", language, count=len(recent))
    else:
        header = t("admin.deliveries_header_state", language, count=len(recent), state=state.value)
    names: dict[int, str] = {}
    lines = [header, ""]
    for delivery in recent:
        lines.append(
            t(
                "admin.delivery_line",
                language,
                id=delivery.id,
                state=delivery.state.value,
                name=delivery.location_name,
                locker=delivery.locker_name or "—",
                size=delivery.size_name,
                created=fmt.local_datetime(delivery.created_at, delivery.timezone),
                sender=await _who(svc.repo, delivery.sender_id, names, language),
            )
        )
    lines += ["", t("admin.deliveries_footer", language)]
    await reply_pages(update, context, lines)


def _stamp(when: datetime | None, tz_name: str | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(fmt.zone(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


async def delivery_lines(repo: Repository, delivery: Delivery, language: str | None) -> list[str]:
    names: dict[int, str] = {}
    tz = delivery.timezone
    collector = raw("admin.nobody", language)
    if delivery.collector_id is not None:
        kind = delivery.collector_kind.value if delivery.collector_kind else "?"
        collector = raw(
            "admin.collector", language, who=await _who(repo, delivery.collector_id, names, language), kind=kind
        )
    card = t(
        "admin.delivery_card",
        language,
        id=delivery.id,
        state=delivery.state.value,
        name=delivery.location_name,
        address=delivery.address or "—",
        locker=delivery.locker_name or "—",
        size=delivery.size_name,
        tower=delivery.tower_id or "—",
        sender=await _who(repo, delivery.sender_id, names, language),
        collector=collector,
        created=_stamp(delivery.created_at, tz),
        updated=_stamp(delivery.updated_at, tz),
        tz=fmt.zone(tz).key,
    )
    assert delivery.id is not None
    events = await repo.events(delivery.id)
    lines = [card, "", t("admin.events_header", language, count=len(events))]
    if not events:
        lines.append(t("admin.events_none", language))
    for event in events:
        values = {
            "at": _stamp(event.at, tz),
            "actor": await _who(repo, event.actor_id, names, language),
            "kind": event.kind,
        }
        if event.detail:
            lines.append(t("admin.event_line_detail", language, **values, detail=event.detail))
        else:
            lines.append(t("admin.event_line", language, **values))
    return lines


async def delivery_command(update: Update, context: Context) -> None:
    language = lang(update)
    delivery_id = _delivery_id(context.args)
    if delivery_id is None:
        await reply(update, context, View(t("admin.delivery_usage", language)))
        return
    repo = services(context).repo
    delivery = await repo.get_delivery(delivery_id)
    if delivery is None:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
        return
    await reply_pages(update, context, await delivery_lines(repo, delivery, language))


# /release ------------------------------------------------------------------------------------


async def release_command(update: Update, context: Context) -> None:
    delivery_id = _delivery_id(context.args)
    if delivery_id is None:
        await reply(update, context, View(t("admin.release_usage", lang(update))))
        return
    await _release(update, context, delivery_id)


async def release_retry(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    delivery_id = callback_id(update)
    await answer(update)
    await _release(update, context, delivery_id)


async def _release(update: Update, context: Context, delivery_id: int) -> None:
    language = lang(update)
    svc = services(context)
    assert update.effective_user is not None
    try:
        closed = await svc.handover.release(delivery_id, update.effective_user.id)
    except DeliveryNotFound:
        await reply(update, context, View(t("admin.delivery_not_found", language, id=delivery_id)))
        return
    except WrongState as exc:
        text = t("admin.release_not_open", language, id=delivery_id, state=exc.delivery.state.value)
        await reply(update, context, View(text))
        return
    except DeliveryProblem as exc:  # Harbor did not answer: nothing changed
        retry = views.retry_button(language, RELEASE_DELIVERY, delivery_id)
        await reply(update, context, problem_view(exc, language, retry))
        return
    delivery = closed.delivery
    unreachable = await _tell_released(context, closed)
    text = t(
        "admin.released",
        language,
        id=delivery.id,
        state=delivery.state.value,
        locker=delivery.locker_name or "—",
        name=delivery.location_name,
    )
    if unreachable:
        text += "\n" + t("admin.notify_failed", language, who=", ".join(unreachable))
    await reply(update, context, View(text))


async def _tell_released(context: Context, closed: Closed) -> list[str]:
    """The sender and the collector hear it through the outbox (recorded with the release); sent now,
    so the admin learns whom it could not reach. The status message loses its dead buttons."""
    svc = services(context)
    delivery = closed.delivery
    sender = await svc.repo.get_user(delivery.sender_id)
    status = views.status(delivery, locales.of(sender))
    await edit_view(context.bot, delivery.status_chat_id, delivery.status_message_id, status)
    await svc.notifier.deliver()
    prefix = f"released:{delivery.id}:"
    return [
        str(row.chat_id)
        for row in await svc.repo.outbox()
        if row.dedupe_key.startswith(prefix) and row.state is OutboxState.FAILED
    ]


# couriers ------------------------------------------------------------------------------------


async def courier_command(update: Update, context: Context) -> None:
    language = lang(update)
    args = context.args or []
    if len(args) != 2 or args[0].lower() not in ("add", "remove"):
        await reply(update, context, View(t("admin.courier_usage", language)))
        return
    on = args[0].lower() == "add"
    ref = args[1]
    handover = services(context).handover
    try:
        before = await handover.find_user(ref)
    except UnknownUser:
        await reply(update, context, View(t("admin.unknown_user", language, ref=ref)))
        return
    was_courier = before.role is Role.COURIER
    if was_courier == on:
        key = "admin.courier_already" if on else "admin.courier_not"
        await reply(update, context, View(t(key, language, who=before.display_name)))
        return
    jobs = [d.id for d in await handover.pickups_for(before.id) if d.collector_kind is CollectorKind.COURIER]
    user = await handover.set_courier(str(before.id), on)
    if on:
        text = t("admin.courier_added", language, who=user.display_name)
    else:
        text = t("admin.courier_removed", language, who=user.display_name)
        if jobs:  # set_courier gave them back to their senders
            ids = ", ".join(f"#{i}" for i in jobs)
            text += "\n" + t("admin.courier_open_jobs", language, count=len(jobs), ids=ids)
    try:
        note = "admin.courier_welcome" if on else "admin.courier_goodbye"
        await send(context, user.id, View(t(note, locales.of(user))))
    except TelegramError as exc:
        log.info("courier %s not told about the change: %s", user.id, exc)
        text += "\n" + t("admin.courier_unreachable", language)
    await reply(update, context, View(text))


def courier_lines(couriers: Sequence[User], language: str | None) -> list[str]:
    lines = [t("admin.couriers_header", language, count=len(couriers)), ""]
    lines += [t("admin.courier_line", language, who=c.display_name, id=c.id) for c in couriers]
    return lines


async def couriers_command(update: Update, context: Context) -> None:
    language = lang(update)
    couriers = await services(context).handover.couriers()
    if not couriers:
        await reply(update, context, View(t("admin.couriers_none", language)))
        return
    await reply_pages(update, context, courier_lines(couriers, language))


# /stats --------------------------------------------------------------------------------------


async def stats_text(repo: Repository, held: int | None, language: str | None, *, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    today_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = now - timedelta(days=7)
    today = await repo.count_by_state(since=today_start)
    week = await repo.count_by_state(since=week_start)
    rows = [
        t("admin.stats_state_line", language, state=s.value, today=today.get(s, 0), week=week.get(s, 0))
        for s in DeliveryState
        if week.get(s, 0) or today.get(s, 0)
    ]
    if rows:
        rows.append(t("admin.stats_total", language, today=sum(today.values()), week=sum(week.values())))
    else:
        rows.append(t("admin.stats_no_deliveries", language))
    durations = await repo.pickup_durations(since=week_start)
    if durations:
        typical = fmt.duration(statistics.median(durations), language)
        median = t("admin.stats_median", language, median=typical, count=len(durations))
    else:
        median = t("admin.stats_no_pickups", language)
    lockers = str(held) if held is not None else t("admin.stats_unknown", language)
    return t("admin.stats", language, states=Safe("\n".join(rows)), median=Safe(median), held=Safe(lockers))


async def stats_command(update: Update, context: Context) -> None:
    svc = services(context)
    held: int | None
    try:
        held = len(await svc.harbor.assigned_lockers())
    except HarborError as exc:
        log.warning("/stats: Harbor did not answer: %s", exc)
        held = None
    await reply(update, context, View(await stats_text(svc.repo, held, lang(update))))


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
    ]
