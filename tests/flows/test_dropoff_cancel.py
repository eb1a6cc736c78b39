"""Changing one's mind: /dropoff while a drop-off is open, /cancel (and the cancel button) at every
step, and /my listing what is open with the actions that make sense.
"""

from __future__ import annotations

import pytest

from sandbox.telegram_driver import ChatMessage, UserDriver
from storage.models import DeliveryState
from tests.flows.harness import SF, World, decode_key
from tests.flows.steps import harbor_status, reserve


def held_by_bot(w: World) -> list[int]:
    return [lk["id"] for lk in w.simulator.assigned_lockers(w.settings.harbor_client_id)]


# /dropoff while one is open ----------------------------------------------------------------------


async def test_dropoff_while_one_is_open_offers_to_resume_it(w: World) -> None:
    alice = w.user(101, "Alice")
    await reserve(alice)
    delivery = await w.services.deliveries.open_dropoff(alice.id)

    await alice.command("dropoff")
    offer = await alice.wait_for("already have a drop-off under way")
    assert f"locker {delivery.locker_name}" in (offer.content or "").lower()
    assert any("continue" in b.lower() for b in offer.buttons)
    assert any("start over" in b.lower() for b in offer.buttons)

    await alice.press("continue", offer)
    resumed = await alice.wait_for("is held for you")
    await alice.press("key", resumed)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    assert decode_key(photo).locker_id == delivery.locker_id
    assert held_by_bot(w) == [delivery.locker_id]


async def test_dropoff_while_one_is_open_can_start_over(w: World) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    first = await w.services.deliveries.open_dropoff(alice.id)

    await alice.command("dropoff")
    await alice.wait_for("already have a drop-off under way")
    await alice.press("start over")
    await alice.wait_for("where are you")
    # The first reservation was given back at Harbor and its message says so.
    assert harbor_status(w, first.locker_id) == "available"
    assert (await w.services.deliveries.get(first.id)).state is DeliveryState.CANCELLED
    assert "cancelled" in (next(m for m in alice.chat if m.message_id == held.message_id).content or "").lower()

    await alice.share_location(*SF)
    await alice.wait_for("free lockers within")
    await alice.press("Civic Center")
    await alice.wait_for("which locker size")
    await alice.press("large")
    await alice.wait_for("is held for you")
    second = await w.services.deliveries.open_dropoff(alice.id)
    assert second.id != first.id and second.size_name == "large"
    assert held_by_bot(w) == [second.locker_id]


# /cancel during the conversation ------------------------------------------------------------------


@pytest.mark.parametrize("step", ["asking for a location", "choosing a location", "choosing a size"])
async def test_cancel_leaves_the_conversation_at_every_step(w: World, step: str) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    if step != "asking for a location":
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within")
    if step == "choosing a size":
        await alice.press("Civic Center")
        await alice.wait_for("which locker size")

    await alice.command("cancel")
    stopped = await alice.next_reply()
    assert "stopped" in (stopped.content or "").lower(), stopped.describe()
    assert stopped.remove_keyboard and alice.reply_keyboard is None

    # Out of the steps: a text is not taken for an answer to a question no longer asked...
    await alice.send_text("hello")
    fallback = await alice.next_reply()
    assert "/dropoff" in (fallback.content or ""), fallback.describe()
    assert not w.harbor_requests("POST", "reservations")
    # ...and /cancel again has nothing left to cancel.
    await alice.command("cancel")
    assert "nothing to cancel" in ((await alice.next_reply()).content or "").lower()
    # A location shared at any moment starts a new search (docs/design.md §8), so nobody is ever stuck.
    await alice.share_location(*SF)
    await alice.wait_for("free lockers within")


# /cancel and the cancel button after the reservation ------------------------------------------------


async def _cancel(alice: UserDriver, how: str, message: ChatMessage) -> None:
    if how == "command":
        await alice.command("cancel")
    else:
        await alice.press("cancel", message)


@pytest.mark.parametrize("how", ["command", "button"])
async def test_cancel_after_the_reservation_gives_the_locker_back(w: World, how: str) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    delivery = await w.services.deliveries.open_dropoff(alice.id)

    await _cancel(alice, how, held)
    cancelled = await alice.wait_for("cancelled")
    assert f"locker {delivery.locker_name}" in (cancelled.content or "").lower()
    assert "given back" in (cancelled.content or "")
    assert not cancelled.inline_buttons  # no key button for a cancelled delivery
    assert harbor_status(w, delivery.locker_id) == "available"
    assert held_by_bot(w) == []
    assert (await w.services.deliveries.get(delivery.id)).state is DeliveryState.CANCELLED


@pytest.mark.parametrize("how", ["command", "button"])
async def test_cancel_after_the_key_releases_the_locker(w: World, how: str) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    await alice.press("key", held)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    key = decode_key(photo)
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    assert harbor_status(w, delivery.locker_id) == "rented"

    await _cancel(alice, how, photo)
    await alice.wait_for("cancelled")
    assert harbor_status(w, delivery.locker_id) == "available"
    assert held_by_bot(w) == []
    assert (await w.services.deliveries.get(delivery.id)).state is DeliveryState.CANCELLED
    # The key is gone from the chat, and the tower refuses it.
    assert all(m.photo is None for m in alice.bot_messages)
    refused = await w.use_at_tower(key)
    assert refused.status_code >= 400
    assert harbor_status(w, delivery.locker_id) == "available"


async def test_cancel_once_the_item_is_in_is_refused_kindly(w: World) -> None:
    alice = w.user(101, "Alice")
    held = await reserve(alice)
    await alice.press("key", held)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    used = await w.use_at_tower(decode_key(photo))
    assert used.status_code == 200, used.text

    # Before the watch noticed: the cancel finds the item inside and says so instead.
    await alice.command("cancel")
    refused = await alice.wait_for("can no longer be cancelled")
    assert f"locker {delivery.locker_name}" in (refused.content or "").lower()
    inside = await alice.wait_for("is in locker")
    assert any("pickup link" in b.lower() for b in inside.buttons)
    assert (await w.services.deliveries.get(delivery.id)).state is DeliveryState.IN_LOCKER
    assert all(m.photo is None for m in alice.bot_messages)  # the used key is gone

    # Once it is known to be in: the command says the same, and the old message lost its buttons.
    await alice.command("cancel")
    await alice.wait_for("can no longer be cancelled")
    old = next(m for m in alice.bot_messages if m.message_id == held.message_id)
    assert old.buttons == [] and "in the locker" in old.content
    assert harbor_status(w, delivery.locker_id) == "occupied"
    assert (await w.services.deliveries.get(delivery.id)).state is DeliveryState.IN_LOCKER


# /my -------------------------------------------------------------------------------------------


async def test_my_lists_open_deliveries_with_their_state_and_actions(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("my")
    assert "no open deliveries" in ((await alice.next_reply()).content or "").lower()

    # One item already in a locker, one locker reserved.
    held = await reserve(alice)
    await alice.press("key", held)
    used = await w.use_at_tower(decode_key(await alice.wait_for(lambda m: m.photo is not None)))
    assert used.status_code == 200
    await w.watch()
    await alice.wait_for("is in locker")
    await reserve(alice, "medium")
    inside, reserved = sorted((await w.services.deliveries.open_deliveries(alice.id)), key=lambda d: d.id)

    await alice.command("my")
    await alice.wait_for(f"#{reserved.id}")
    listed = {m.content.split()[0]: m for m in alice.bot_messages[-2:] if m.content}
    first, second = listed[f"#{inside.id}"], listed[f"#{reserved.id}"]

    assert "in the locker" in (first.content or "") and f"locker {inside.locker_name}" in (first.content or "")
    first_actions = " | ".join(first.buttons).lower()
    assert "pickup link" in first_actions and "cancel" not in first_actions and "drop-off key" not in first_actions

    assert "reserved until" in (second.content or "") and "(medium)" in (second.content or "")
    second_actions = " | ".join(second.buttons).lower()
    assert "drop-off key" in second_actions and "cancel" in second_actions and "pickup" not in second_actions

    # The actions work from the list.
    await alice.press("cancel", second)
    await alice.wait_for("cancelled")
    assert harbor_status(w, reserved.locker_id) == "available"
