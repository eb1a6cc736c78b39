"""Time passing: a hold that ends unused, a key that expires unused and its replacement, restarts in
the middle of it all, and the locker watch on its real interval.

A deadline is a column of its row (docs/design.md §8), so a test moves it into the past (as if the time had
gone by) and runs the deadlines round as the scheduler does every tick: no test waits for a timer.
"""

from __future__ import annotations

import asyncio

from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import DeliveryState
from tests.flows.harness import SF, World, decode_key, world
from tests.flows.steps import age_hold, age_key, harbor_status, reserve


async def get_key(user: UserDriver, held: ChatMessage) -> ChatMessage:
    await user.press("key", held)
    return await user.wait_for(lambda m: m.photo is not None)


async def test_a_hold_that_ends_unused_gives_the_locker_back(w: World) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    assert harbor_status(w, delivery.locker_id) == "reserved"

    await age_hold(w, delivery.id)
    await w.deadlines()
    ended = await alice.wait_for("ended unused")
    # The reservation message itself now says so, and its buttons are gone.
    assert ended.message_id == held.message_id and not ended.inline_buttons
    assert f"locker {delivery.locker_name}" in (ended.content or "").lower()
    assert harbor_status(w, delivery.locker_id) == "available"
    assert (await w.services.deliveries.get(delivery.id)).state is DeliveryState.EXPIRED
    # A new drop-off can start at once.
    await alice.command("dropoff")
    await alice.wait_for("where are you")


async def test_an_expired_key_is_replaced_by_a_note_and_a_new_key(w: World) -> None:
    alice = w.user(101, "Alice")
    photo = await get_key(alice, await reserve(alice))
    old = decode_key(photo)
    delivery = await w.services.deliveries.open_dropoff(alice.id)

    [key] = await w.services.repo.active_keys()
    # KEY_SECONDS go by, for the bot and for Harbor alike.
    await age_key(w, key.id)
    w.simulator.clock.advance(w.settings.key_seconds + 1)
    await w.deadlines()
    note = await alice.wait_for("expired unused")
    assert all(m.photo is None for m in alice.bot_messages)  # the expired QR is gone
    assert f"locker {delivery.locker_name}" in (note.content or "").lower()
    assert any("new drop-off key" in b.lower() for b in note.buttons)
    # The customer gets another hold period to ask for a new key.
    again = await w.services.deliveries.get(delivery.id)
    assert again.state is DeliveryState.AWAITING_DROPOFF
    assert again.reserved_until > w.services.deliveries.now()  # the deadline is the row's own column

    await alice.press("new drop-off key", note)
    new = decode_key(await alice.wait_for(lambda m: m.photo is not None))
    tokens = w.simulator.issued_tokens()
    assert len(tokens) == 2
    assert (new.payload, new.payload_auth) == (tokens[1]["payload"], tokens[1]["payload_auth"])
    assert new.payload != old.payload and new.locker_id == old.locker_id
    assert tokens[1]["state"] == "live"
    assert tokens[1]["client_info"] == tokens[0]["client_info"]  # both for this delivery
    # The tower refuses the old one.
    refused = await w.use_at_tower(old)
    assert refused.status_code in (401, 410), refused.text  # expired: its token, and its SDK token too
    assert harbor_status(w, delivery.locker_id) == "rented"


async def test_a_restart_mid_conversation_keeps_the_buttons_working(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    nearby = await alice.wait_for("free lockers within")

    await w.restart()  # a new process: conversation state and button data come from the database

    await alice.press("Yerba Buena", nearby)
    sizes = await alice.wait_for("which locker size")
    assert "Yerba Buena" in (sizes.content or "")
    await alice.press("medium", sizes)
    held = await alice.wait_for("is held for you")
    assert "Yerba Buena" in (held.content or "") and "(medium)" in (held.content or "")


async def test_deadlines_that_passed_while_the_bot_was_down_fire_after_a_restart(w: World) -> None:
    alice, bob = w.user(101, "Alice"), w.user(102, "Bob")

    async def bob_gets_a_key() -> ChatMessage:
        return await get_key(bob, await reserve(bob))

    _, bob_key = await asyncio.gather(reserve(alice), bob_gets_a_key())
    alice_delivery = await w.services.deliveries.open_dropoff(alice.id)
    [bob_key_record] = await w.services.repo.active_keys()

    await w.stop()
    await age_hold(w, alice_delivery.id)
    await age_key(w, bob_key_record.id)
    await w.start()

    # Nothing to rebuild: the deadlines are the rows' own columns; the new process's first tick
    # finds them due (no test hand here).
    await alice.wait_for("ended unused", timeout=5)
    await bob.wait_for("expired unused", timeout=5)
    assert bob_key.message_id not in {m.message_id for m in bob.chat}
    assert harbor_status(w, alice_delivery.locker_id) == "available"
    assert (await w.services.deliveries.get(alice_delivery.id)).state is DeliveryState.EXPIRED


async def test_the_watch_on_its_own_interval_sees_the_item_go_in(database_url: str) -> None:
    async with world(database_url, locker_poll_seconds=0.2) as w:
        alice = w.user(101, "Alice")
        photo = await get_key(alice, await reserve(alice))
        used = await w.use_at_tower(decode_key(photo))
        assert used.status_code == 200, used.text

        inside = await alice.wait_for("is in locker", timeout=3)  # nobody ran the watch by hand
        assert any("pickup link" in b.lower() for b in inside.buttons)
        delivery = (await w.services.deliveries.open_deliveries(alice.id))[0]
        assert delivery.state is DeliveryState.IN_LOCKER
