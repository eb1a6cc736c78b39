"""Timers and the locker watch, on PTB's JobQueue. Every timer is derived from the database, so
`rebuild()` at start-up restores all of them: a restart loses none.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from telegram.ext import Application, ContextTypes, Job, JobQueue

from bot.deliveries import Change, Closed
from bot.handlers.common import delete_quietly, edit_message, send, services
from bot.ui import views
from storage.models import Delivery, DeliveryState, IssuedKey

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

POLL_JOB = "watch-lockers"


def _when(at: datetime) -> datetime:
    # A deadline already past (after a restart) runs at once rather than being skipped.
    return max(at, datetime.now(UTC) + timedelta(milliseconds=50))


def _replace(job_queue: JobQueue, name: str) -> None:
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()


def schedule_deadline(job_queue: JobQueue, delivery: Delivery) -> None:
    """The end of a hold: a reservation, or the grace period after a drop-off key expired."""
    name = f"deadline:{delivery.id}"
    _replace(job_queue, name)
    if delivery.reserved_until is not None:
        job_queue.run_once(_deadline, _when(delivery.reserved_until), data=delivery.id, name=name)


def schedule_key_expiry(job_queue: JobQueue, key: IssuedKey) -> None:
    name = f"key:{key.id}"
    _replace(job_queue, name)
    job_queue.run_once(_key_expired, _when(key.expires_at), data=key.id, name=name)


def cancel_deadline(job_queue: JobQueue, delivery_id: int) -> None:
    _replace(job_queue, f"deadline:{delivery_id}")


def cancel_timers(job_queue: JobQueue, delivery_id: int, keys: list[IssuedKey] | None = None) -> None:
    _replace(job_queue, f"deadline:{delivery_id}")
    _replace(job_queue, f"reminder:{delivery_id}")
    for key in keys or []:
        _replace(job_queue, f"key:{key.id}")


def start_watch(job_queue: JobQueue, interval: float) -> Job:
    _replace(job_queue, POLL_JOB)
    return job_queue.run_repeating(_poll, interval=interval, first=interval, name=POLL_JOB)


def rebuild(application: Application) -> int:
    """Re-create every timer from the database; returns how many were scheduled."""
    svc = application.bot_data["services"]
    job_queue = application.job_queue
    assert job_queue is not None
    count = 0
    for delivery in svc.repo.deliveries_in([DeliveryState.RESERVED, DeliveryState.AWAITING_DROPOFF]):
        if delivery.reserved_until is not None:
            schedule_deadline(job_queue, delivery)
            count += 1
    for key in svc.repo.active_keys():
        schedule_key_expiry(job_queue, key)
        count += 1
    count += svc.handover.rebuild_reminders(lambda d: schedule_reminder(job_queue, d))
    start_watch(job_queue, svc.settings.locker_poll_seconds)
    return count


def schedule_reminder(job_queue: JobQueue, delivery: Delivery) -> None:
    name = f"reminder:{delivery.id}"
    _replace(job_queue, name)
    if delivery.reminder_due_at is not None:
        job_queue.run_once(_reminder, _when(delivery.reminder_due_at), data=delivery.id, name=name)


# callbacks -----------------------------------------------------------------------------------


async def _deadline(context: Context) -> None:
    svc = services(context)
    assert context.job is not None
    result = await svc.deliveries.expire_if_due(int(context.job.data))  # type: ignore[arg-type]
    if isinstance(result, Closed):
        await tell_closed(context, result, views.hold_expired(result.delivery, None))
    elif isinstance(result, Change):
        await announce(context, result)


async def _key_expired(context: Context) -> None:
    svc = services(context)
    assert context.job is not None
    result = await svc.deliveries.expire_key(int(context.job.data))  # type: ignore[arg-type]
    if result is None:
        return
    record, delivery = result.record, result.delivery
    if result.renewable and delivery.state is DeliveryState.AWAITING_DROPOFF:
        # Before telling anyone: should the message fail, the grace period still ends on time.
        assert context.job_queue is not None
        schedule_deadline(context.job_queue, delivery)
    # The expired QR is removed so nobody tries it at the tower; a short note takes its place.
    await delete_quietly(context, record.chat_id, record.message_id)
    await send(context, record.chat_id, views.key_expired(record, delivery, result.renewable, None))


async def _poll(context: Context) -> None:
    svc = services(context)
    for change in await svc.deliveries.poll():
        await announce(context, change)


async def _reminder(context: Context) -> None:
    from bot.handlers.pickup import send_reminders

    assert context.job is not None
    await send_reminders(context, int(context.job.data))  # type: ignore[arg-type]


# telling people ------------------------------------------------------------------------------


async def tell_closed(context: Context, closed: Closed, view: views.View) -> None:
    """A delivery ended before the drop-off: update its status message and remove dead keys."""
    delivery = closed.delivery
    assert context.job_queue is not None
    assert delivery.id is not None
    cancel_timers(context.job_queue, delivery.id, closed.voided_keys)
    for key in closed.voided_keys:
        await delete_quietly(context, key.chat_id, key.message_id)
    if not await edit_message(context, delivery.status_chat_id, delivery.status_message_id, view):
        await send(context, delivery.status_chat_id or delivery.sender_id, view)


async def announce(context: Context, change: Change) -> None:
    from bot.handlers.pickup import announce_completed, announce_in_locker

    assert context.job_queue is not None
    assert change.delivery.id is not None
    for key in change.used_keys:
        _replace(context.job_queue, f"key:{key.id}")
        await delete_quietly(context, key.chat_id, key.message_id)
    # The "held for you" message's key and cancel buttons have had their day: keep it as a summary.
    delivery = change.delivery
    summary = views.View(views.my_item(delivery, None))
    await edit_message(context, delivery.status_chat_id, delivery.status_message_id, summary)
    if change.kind == "in_locker":
        _replace(context.job_queue, f"deadline:{change.delivery.id}")
        await announce_in_locker(context, change.delivery)
        schedule_reminder(context.job_queue, change.delivery)
    elif change.kind == "completed":
        _replace(context.job_queue, f"reminder:{change.delivery.id}")
        await announce_completed(context, change.delivery)

