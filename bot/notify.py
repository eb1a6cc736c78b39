"""Telling people: keys, a closed delivery, and the outbox of announcements (DESIGN §8).

Announcements to anyone but the person who acted ("your item is in", "picked up", reminders, a link
claimed, a hold that ended) are recorded by the services as notices in the same transaction as the
change that causes them. `Notifier.deliver()` claims due notices (any process may; each row is
leased), renders each in its recipient's language as the delivery stands then, and sends it. A
blocked chat fails alone; a 429 or an outage puts that one message back with a delay, so nobody
else's news waits and nothing is lost or sent twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.deliveries.model import Closed, IssuedKeyView
from bot.deliveries.notices import NoticeKind
from bot.keys import LinkKey
from bot.ratelimit import Priority
from bot.ui import format as fmt
from bot.ui import handover_views as hv
from bot.ui import link_views, locales, views
from bot.ui.qr import render_qr_async
from bot.ui.texts import t
from bot.ui.views import View, button, keyboard
from storage.models import Delivery, IssuedKey, KeyKind, KeyState, OutboxMessage, OutboxState
from storage.repository import Repository
from storage.types import utcnow

log = logging.getLogger(__name__)

OUTBOX_LEASE = timedelta(seconds=30)
OUTBOX_BATCH = 50
RETRY_DELAYS = (2, 5, 15, 60, 300)  # seconds after a failed attempt (network trouble, Telegram 5xx)
MAX_ATTEMPTS = 8


def _priority(bot: Bot, notify: bool) -> Priority | None:
    """Notifications queue behind every user's own answers; PTB refuses the argument without a limiter."""
    return Priority.NOTIFY if notify and getattr(bot, "rate_limiter", None) is not None else None


async def send_view(bot: Bot, chat_id: int, view: View, *, notify: bool = False) -> Message:
    return await bot.send_message(
        chat_id,
        view.text,
        parse_mode=ParseMode.HTML,
        reply_markup=view.markup,
        rate_limit_args=_priority(bot, notify),
    )


async def edit_view(bot: Bot, chat_id: int | None, message_id: int | None, view: View, *, notify: bool = False) -> bool:
    """Edit a message the bot sent earlier (a status message); False when it is gone."""
    if chat_id is None or message_id is None:
        return False
    try:
        await bot.edit_message_text(
            view.text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=view.markup if not isinstance(view.markup, views.ReplyKeyboardMarkup) else None,
            rate_limit_args=_priority(bot, notify),
        )
    except BadRequest as exc:
        return "not modified" in str(exc).lower()
    except Forbidden:
        return False
    return True


async def delete_quietly(bot: Bot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    with suppress(TelegramError):
        await bot.delete_message(chat_id, message_id)


class Notifier:
    def __init__(self, application: Application, repo: Repository, *, reminder_hours: float) -> None:
        self.application = application
        self.repo = repo
        self.reminder_hours = reminder_hours
        self._delivering = asyncio.Lock()
        self._kicked: set[asyncio.Task[int]] = set()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    # keys --------------------------------------------------------------------------------------

    async def send_key(self, issued: IssuedKeyView, language: str | None) -> Message:
        """The key as a QR photo in its holder's private chat. A key whose photo never arrived is void,
        so the next tap makes a new one instead of pointing at a message that isn't there."""
        assert issued.record.id is not None
        key = issued.key
        if isinstance(key, LinkKey):
            # A button that opens the link on this phone; the QR of the same link for a second phone.
            png = await render_qr_async(key.qr_text())
            caption = link_views.link_caption(key, issued.delivery, language)
            markup = link_views.link_key_actions(key, issued.delivery, language)
        else:
            png = await render_qr_async(key.to_json())
            caption = views.key_caption(key, issued.delivery, language)
            markup = views.delivery_actions(issued.delivery, language)
        try:
            message = await self.bot.send_photo(
                issued.record.chat_id, png, caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError:
            await self.repo.set_key_state(issued.record.id, KeyState.VOID)
            raise
        await self.repo.set_key_message(issued.record.id, message.message_id)
        return message

    # a delivery closed by its sender -------------------------------------------------------

    async def tell_closed(self, closed: Closed, view: View) -> None:
        """Update the status message and remove the keys that died with the delivery."""
        delivery = closed.delivery
        for key in closed.voided_keys:
            await delete_quietly(self.bot, key.chat_id, key.message_id)
        if not await edit_view(self.bot, delivery.status_chat_id, delivery.status_message_id, view):
            await send_view(self.bot, delivery.status_chat_id or delivery.sender_id, view)

    # the outbox ------------------------------------------------------------------------------

    def kick(self) -> None:
        """Send what a handler just recorded now, not at the next tick (the outbox still guarantees it)."""
        task = asyncio.create_task(self.deliver())
        self._kicked.add(task)
        task.add_done_callback(self._kicked.discard)

    async def deliver(self) -> int:
        """Send what is due, batch after batch, until nothing is; returns how many went out."""
        sent = 0
        async with self._delivering:  # one sender per process; other processes take other rows
            while True:
                batch = await self.repo.claim_outbox(now=utcnow(), lease=OUTBOX_LEASE, limit=OUTBOX_BATCH)
                if not batch:
                    return sent
                results = await asyncio.gather(*(self._deliver_one(row) for row in batch))
                sent += sum(results)

    async def _deliver_one(self, row: OutboxMessage) -> bool:
        assert row.id is not None
        try:
            await self._render_and_send(row.chat_id, json.loads(row.body))
        except RetryAfter as exc:
            delay = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            await self.repo.outbox_retry(row.id, at=utcnow() + timedelta(seconds=delay), error="RetryAfter")
            return False
        except (Forbidden, BadRequest) as exc:
            # Blocked, deleted, or a chat that never started the bot: retrying changes nothing.
            log.info("notice %s to chat %s not deliverable: %s", row.id, row.chat_id, type(exc).__name__)
            await self.repo.outbox_done(row.id, OutboxState.FAILED, error=type(exc).__name__)
            return False
        except TelegramError as exc:
            if row.attempts >= MAX_ATTEMPTS:
                await self.repo.outbox_done(row.id, OutboxState.FAILED, error=type(exc).__name__)
                return False
            delay = RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]
            await self.repo.outbox_retry(row.id, at=utcnow() + timedelta(seconds=delay), error=type(exc).__name__)
            return False
        await self.repo.outbox_done(row.id, OutboxState.SENT)
        return True

    async def _render_and_send(self, chat_id: int, body: dict[str, Any]) -> None:
        kind = NoticeKind(body["kind"])
        delivery = await self.repo.get_delivery(int(body["delivery_id"]))
        if delivery is None:
            return
        user = await self.repo.get_user(chat_id)
        language = locales.of(user)  # the recipient's, not the language of whoever caused the notice
        bot = self.bot
        if kind is NoticeKind.IN_LOCKER:
            await self._retire_keys(delivery, KeyKind.DROPOFF)
            # The "held for you" message's key and cancel buttons have had their day: keep it as a summary.
            summary = View(views.my_item(delivery, language))
            await edit_view(bot, delivery.status_chat_id, delivery.status_message_id, summary, notify=True)
            await send_view(bot, chat_id, hv.in_locker_view(delivery, language), notify=True)
        elif kind is NoticeKind.COMPLETED:
            await self._retire_keys(delivery, KeyKind.PICKUP)
            if chat_id == delivery.sender_id:
                text = t(
                    "watch.completed_sender", language, id=delivery.id, locker=delivery.locker_name,
                    name=delivery.location_name,
                )  # fmt: skip
            else:
                text = t(
                    "pickup.completed_collector", language, locker=delivery.locker_name, name=delivery.location_name
                )
            await send_view(bot, chat_id, View(text), notify=True)
        elif kind is NoticeKind.REMINDER:
            values = {"locker": delivery.locker_name, "name": delivery.location_name, "address": delivery.address}
            if body.get("role") == "collector":
                key = keyboard([button(t("pickup.key_button", language), "pkey", delivery.id or 0)])
                await send_view(
                    bot, chat_id, View(t("pickup.reminder_collector", language, **values), key), notify=True
                )
            else:
                await send_view(bot, chat_id, View(t("pickup.reminder_sender", language, **values)), notify=True)
        elif kind is NoticeKind.HOLD_EXPIRED:
            view = views.hold_expired(delivery, language)
            if not await edit_view(bot, delivery.status_chat_id, delivery.status_message_id, view, notify=True):
                await send_view(bot, chat_id, view, notify=True)
        elif kind is NoticeKind.KEY_EXPIRED:
            key = await self.repo.get_key(int(body["key_id"]))
            if key is None:
                return
            # The expired QR is removed so nobody tries it at the tower; a short note takes its place.
            await delete_quietly(bot, key.chat_id, key.message_id)
            fresh = await self.repo.get_delivery(key.delivery_id) or delivery
            renewable = bool(body.get("renewable")) and fresh.state.is_open
            await send_view(bot, chat_id, views.key_expired(key, fresh, renewable, language), notify=True)
        elif kind is NoticeKind.RELEASED:
            for key in await self.repo.keys_of(delivery.id or 0, states=[KeyState.VOID]):
                await self._delete_key_message(key)
            text = t(
                "pickup.released", language, locker=delivery.locker_name, name=delivery.location_name, id=delivery.id
            )
            await send_view(bot, chat_id, View(text), notify=True)
        elif kind is NoticeKind.LINK_EXPIRED:
            if delivery.state.is_open:
                await send_view(bot, chat_id, hv.link_expired_view(delivery, language), notify=True)
        elif kind is NoticeKind.CLAIMED:
            who = await self._name(body["claimer"])
            text = t("handover.claimed_sender", language, who=who, locker=delivery.locker_name)
            if body.get("until"):
                until = fmt.local_time(datetime.fromisoformat(body["until"]), delivery.timezone, lang=language)
                previous = await self._name(body["previous"])
                text += "\n" + t("handover.previous_key_live", language, who=previous, until=until)
            await send_view(bot, chat_id, View(text), notify=True)
        elif kind is NoticeKind.COURIER_GONE:
            if not delivery.state.is_open:
                return
            who = await self._name(body["courier"])
            text = t("handover.courier_gone", language, who=who, id=delivery.id, locker=delivery.locker_name)
            if body.get("until"):
                until = fmt.local_time(datetime.fromisoformat(body["until"]), delivery.timezone, lang=language)
                text += "\n" + t("handover.previous_key_live", language, who=who, until=until)
            await send_view(bot, chat_id, View(text, hv.handover_buttons(delivery, language)), notify=True)
        elif kind is NoticeKind.UNASSIGNED:
            for key_id in body.get("key_ids", []):
                key = await self.repo.get_key(int(key_id))
                if key is not None:
                    await self._delete_key_message(key)
            text = t(
                "pickup.unassigned", language, id=delivery.id, locker=delivery.locker_name, name=delivery.location_name
            )
            if body.get("until"):
                # Harbor cannot revoke a token: the holder is asked not to use it, and told the truth.
                until = fmt.local_time(datetime.fromisoformat(body["until"]), delivery.timezone, lang=language)
                text += "\n" + t("pickup.unassigned_key_live", language, until=until)
            await send_view(bot, chat_id, View(text), notify=True)
        elif kind is NoticeKind.COURIER_JOB:
            if delivery.collector_id != chat_id or not delivery.state.is_open:
                return  # reassigned or closed before the courier heard of it
            sender = await self.repo.get_user(delivery.sender_id)
            intro = t("pickup.courier_job", language, id=delivery.id, sender=sender.display_name if sender else "")
            await send_view(
                bot, chat_id, hv.waiting_view(delivery, language, self.reminder_hours, intro=intro), notify=True
            )

    async def _name(self, user_id: object) -> str:
        user = await self.repo.get_user(int(str(user_id)))
        return user.display_name if user else str(user_id)

    async def _retire_keys(self, delivery: Delivery, kind: KeyKind) -> None:
        for key in await self.repo.keys_of(delivery.id or 0, kind=kind, states=[KeyState.USED]):
            await self._delete_key_message(key)

    async def _delete_key_message(self, key: IssuedKey) -> None:
        await delete_quietly(self.bot, key.chat_id, key.message_id)
