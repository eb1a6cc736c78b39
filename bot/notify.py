"""Telling people: keys, a closed delivery, and the outbox of announcements (docs/design.md §8).

Announcements to anyone but the person who acted ("your item is in", "picked up", reminders, a link
claimed, a hold that ended) are recorded by the services as notices in the same transaction as the
change that causes them. `Notifier.deliver()` claims due notices (any process may; each row is
leased), renders each in its recipient's language as the delivery stands then, and sends it. A
blocked chat fails alone; a 429 or an outage puts that one message back with a delay, so nobody
else's news waits and nothing is lost or sent twice. The lease is renewed while the send runs (the
rate limiter may hold a send back for a RetryAfter longer than the lease) and the row is marked sent
only under the claim that sent it, so no other process sends it again meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from functools import partial

from telegram import Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.announce import Announcer
from bot.deliveries.model import Closed, IssuedKeyView
from bot.keys import LinkKey
from bot.leases import renewing
from bot.metrics import Metrics
from bot.ptb_types import BotApplication
from bot.sending import AnyBot, edit_view, send_view
from bot.ui import link_views, views
from bot.ui.qr import render_qr_async
from bot.ui.views import View
from storage.models import KeyState, OutboxMessage, OutboxState
from storage.repository import Repository

log = logging.getLogger(__name__)

OUTBOX_LEASE = timedelta(seconds=30)
OUTBOX_BATCH = 50
RETRY_DELAYS = (2, 5, 15, 60, 300)  # seconds after a failed attempt (network trouble, Telegram 5xx)
MAX_ATTEMPTS = 8


class Notifier:
    def __init__(
        self, application: BotApplication, repo: Repository, *, reminder_hours: float, metrics: Metrics | None = None
    ) -> None:
        self.application = application
        self.metrics = metrics or Metrics()
        self.repo = repo
        self.reminder_hours = reminder_hours
        self.announcer = Announcer(lambda: self.bot, repo, reminder_hours=reminder_hours)
        self.lease = OUTBOX_LEASE
        self._delivering = asyncio.Lock()
        self._kicked: set[asyncio.Task[int]] = set()

    @property
    def bot(self) -> AnyBot:
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
            markup = link_views.link_key_actions(key, issued.delivery, language)
        else:
            png = await render_qr_async(key.to_json())
            markup = views.delivery_actions(issued.delivery, language)
        caption = views.key_caption(key, issued.delivery, language)
        try:
            message = await self.bot.send_photo(
                issued.record.chat_id, png, caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError:
            await self.repo.set_key_state(issued.record.id, KeyState.VOID)
            raise
        await self.repo.set_key_message(issued.record.id, message.message_id)
        self.metrics.keys_issued.labels(issued.record.kind.value).inc()
        return message

    # a delivery closed by its sender -------------------------------------------------------

    async def tell_closed(self, closed: Closed, view: View) -> None:
        """Update the status message and remove the keys that died with the delivery."""
        delivery = closed.delivery
        for key in closed.voided_keys:
            await self.announcer.delete_key_message(key)
        if not await edit_view(self.bot, delivery.status_chat_id, delivery.status_message_id, view):
            await send_view(self.bot, delivery.status_chat_id or delivery.sender_id, view)

    # the outbox ------------------------------------------------------------------------------

    def kick(self) -> None:
        """Send what a handler just recorded now, not at the next tick (the outbox still guarantees it)."""
        # Through PTB while it runs: Application.stop() waits for such a task, so a send in flight when
        # the process stops is finished and marked sent, not left leased (and later sent again).
        deliver = self.deliver()
        task = self.application.create_task(deliver) if self.application.running else asyncio.create_task(deliver)
        self._kicked.add(task)
        task.add_done_callback(self._kicked.discard)

    async def deliver(self) -> int:
        """Send what is due, batch after batch, until nothing is; returns how many went out."""
        sent = 0
        async with self._delivering:  # one sender per process; other processes take other rows
            while True:
                batch = await self.repo.claim_outbox(lease=self.lease, limit=OUTBOX_BATCH)
                if not batch:
                    return sent
                renew = partial(self.repo.renew_outbox, batch, lease=self.lease)
                async with renewing(renew, self.lease, f"{len(batch)} announcement(s)"):
                    results = await asyncio.gather(*(self._deliver_one(row) for row in batch))
                sent += sum(results)

    async def settle(self) -> None:
        """Wait until nothing is being sent and nothing due is left (the kicked sends included)."""
        while True:
            await asyncio.gather(*self._kicked)
            if not await self.deliver() and not self._kicked:
                return

    async def _deliver_one(self, row: OutboxMessage) -> bool:
        assert row.id is not None
        try:
            await self.announcer.say(row.chat_id, json.loads(row.body))
        except RetryAfter as exc:
            delay = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            await self.repo.outbox_retry(row, after=timedelta(seconds=delay), error="RetryAfter")
            return False
        except (Forbidden, BadRequest) as exc:
            # Blocked, deleted, or a chat that never started the bot: retrying changes nothing.
            log.info("notice %s to chat %s not deliverable: %s", row.id, row.chat_id, type(exc).__name__)
            await self.repo.outbox_done(row, OutboxState.FAILED, error=type(exc).__name__)
            return False
        except TelegramError as exc:
            if row.attempts >= MAX_ATTEMPTS:
                await self.repo.outbox_done(row, OutboxState.FAILED, error=type(exc).__name__)
                return False
            delay = RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]
            await self.repo.outbox_retry(row, after=timedelta(seconds=delay), error=type(exc).__name__)
            return False
        if not await self.repo.outbox_done(row, OutboxState.SENT):
            log.warning("notice %s was sent after its lease lapsed", row.id)
        return True
