"""Reminders: an item that waited REMINDER_HOURS; the timer lives in the database, so restarts keep it."""

from __future__ import annotations

from datetime import timedelta

from storage.models import DeliveryState
from tests.flows.harness import World
from tests.flows.steps import get_pickup_key, item_in_locker, repository, settled, share_link


async def test_reminder_fires_after_a_restart(w: World) -> None:
    alice, bob = w.user(101, "Alice"), w.user(202, "Bob")
    delivery_id, inside = await item_in_locker(w, alice)
    due = (await w.services.deliveries.get(delivery_id)).reminder_due_at
    assert timedelta(hours=23, minutes=59) < due - w.services.deliveries.now() <= timedelta(hours=24)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    await bob.wait_for("waiting for you")

    # The bot is down while the day passes; when it comes back the reminder is due at once.
    await w.stop()
    async with repository(w) as repo:
        (await repo.update_delivery(delivery_id, reminder_due_at=due - timedelta(hours=24, seconds=1)))
    alice.mark()
    bob.mark()
    await w.start()
    reminded = await bob.wait_for("reminder")
    assert "Civic Center" in reminded.content and any("key" in b.lower() for b in reminded.buttons)
    told = await alice.wait_for("has not been collected")
    assert "Civic Center" in told.content

    # Once only: another restart brings no second reminder.
    await w.restart()
    await settled(w)
    assert len([m for m in bob.bot_messages if "reminder" in (m.content or "").lower()]) == 1

    # The reminder's key button works like any other.
    key = await get_pickup_key(w, bob, reminded)
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is complete")


async def test_reminder_reaches_the_sender_collecting_herself(w: World) -> None:
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    await alice.press("myself", inside)
    await alice.wait_for("pick it up yourself")
    # REMINDER_HOURS go by: the reminder is due, and the deadlines round (every tick) sends it.
    async with repository(w) as repo:
        await repo.update_delivery(delivery_id, reminder_due_at=w.services.deliveries.now() - timedelta(seconds=1))
    await w.deadlines()
    reminded = await alice.wait_for("reminder")
    assert "Civic Center" in reminded.content
    await settled(w)
    assert not [m for m in alice.bot_messages if "has not been collected" in (m.content or "")]
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.IN_LOCKER
