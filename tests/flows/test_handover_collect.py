"""Self pickup and the courier path, and double taps on every handover button."""

from __future__ import annotations

import asyncio

from sandbox.telegram_driver import UserDriver
from storage.models import CollectorKind, DeliveryState
from tests.flows.harness import ADMIN_ID, World
from tests.flows.steps import get_pickup_key, harbor_token_for, item_in_locker, pickup_tokens, settled


async def make_courier(w: World, user_id: int, name: str, username: str) -> UserDriver:
    courier = w.user(user_id, name, username=username)
    await courier.command("start")
    await courier.wait_for("what would you like")
    admin = w.user(ADMIN_ID, "Ada")
    await admin.command("courier", f"add @{username}")
    await admin.wait_for("is now a courier")
    await courier.wait_for("you are now a courier")
    return courier


async def test_self_pickup(w: World) -> None:
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    await alice.press("myself", inside)
    await alice.wait_for("pick it up yourself")
    waiting = await alice.wait_for("waiting for you")
    assert "small" in waiting.content and "Civic Center" in waiting.content
    assert any(b.url and "destination=" in b.url for row in waiting.inline_buttons for b in row)
    delivery = await w.services.deliveries.get(delivery_id)
    assert (delivery.collector_kind, delivery.collector_id) == (CollectorKind.SELF, alice.id)

    key = await get_pickup_key(w, alice, waiting)
    assert harbor_token_for(w, key)["locker_id"] == delivery.locker_id
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.AWAITING_PICKUP
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    done = await alice.wait_for("is complete")
    assert f"#{delivery_id}" in done.content
    told = [m for m in alice.bot_messages if "is complete" in (m.content or "") or "thank you" in (m.content or "")]
    assert len(told) == 1  # the sender collecting herself is told once
    assert (await w.services.deliveries.get(delivery_id)).state is DeliveryState.COMPLETED
    assert w.simulator.locker(delivery.locker_id)["status"]["name"] == "available"


async def test_courier_gets_the_job_and_collects_from_jobs(w: World) -> None:
    carl = await make_courier(w, 401, "Carl", "carl")
    alice = w.user(101, "Alice")
    await carl.command("jobs")
    await carl.wait_for("no open pickups")

    delivery_id, inside = await item_in_locker(w, alice)
    await alice.press("courier", inside)
    chooser = await alice.wait_for("which courier")
    assert chooser.buttons == ["Carl (@carl)"]
    await alice.press("Carl", chooser)
    await alice.wait_for("will collect the item")
    job = await carl.wait_for("new pickup job")
    assert f"#{delivery_id}" in job.content and "Alice" in job.content
    waiting = await carl.wait_for("waiting for you")
    assert any("key" in b.lower() for b in waiting.buttons)

    await carl.command("jobs")
    listed = await carl.wait_for(f"#{delivery_id}")
    assert "Civic Center" in listed.content and any("key" in b.lower() for b in listed.buttons)
    key = await get_pickup_key(w, carl, listed)
    assert harbor_token_for(w, key)["state"] == "live"

    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is complete")
    await carl.wait_for("collected from locker")
    await carl.command("jobs")
    await carl.wait_for("no open pickups")


async def test_before_any_courier_is_registered(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("jobs")
    answer = await alice.wait_for("for couriers")
    assert not answer.buttons
    _, inside = await item_in_locker(w, alice)
    await alice.press("courier", inside)
    await alice.wait_for("no couriers registered")


async def test_double_taps_assign_one_collector_and_issue_one_key(w: World) -> None:
    carl = await make_courier(w, 401, "Carl", "carl")
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)

    # Two taps on "Carl" at once: Carl gets the job once, Alice is told once.
    await alice.press("courier", inside)
    chooser = await alice.wait_for("which courier")
    await asyncio.gather(alice.press("Carl", chooser), alice.press("Carl", chooser))
    waiting = await carl.wait_for("waiting for you")
    await alice.wait_for("will collect the item")
    await settled(w)
    jobs = [m for m in carl.bot_messages if "new pickup job" in (m.content or "").lower()]
    assert len(jobs) == 1
    assert len([m for m in alice.bot_messages if "will collect the item" in (m.content or "")]) == 1, alice.transcript()
    events = [e.kind for e in (await w.services.repo.events(delivery_id))]
    assert events.count("collector_courier") == 1, events

    # Two taps on the key button at once: one Harbor token, one QR; the other tap is told the key is valid.
    answers = await asyncio.gather(carl.press("pickup key", waiting), carl.press("pickup key", waiting))
    await carl.wait_for(lambda m: m.photo is not None)
    assert len(pickup_tokens(w)) == 1
    assert len([m for m in carl.bot_messages if m.photo]) == 1
    assert any(a and a.show_alert and "still valid" in (a.text or "") for a in answers)


async def test_double_tap_on_pick_up_myself(w: World) -> None:
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    await asyncio.gather(alice.press("myself", inside), alice.press("myself", inside))
    await alice.wait_for("waiting for you")
    await settled(w)
    assert len([m for m in alice.bot_messages if "waiting for you" in (m.content or "")]) == 1
    assert len([m for m in alice.bot_messages if "pick it up yourself" in (m.content or "")]) == 1
    assert [e.kind for e in (await w.services.repo.events(delivery_id))].count("collector_self") == 1
