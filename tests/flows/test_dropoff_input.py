"""The drop-off conversation meets what people actually send: stray text, photos, stickers, typed
coordinates, venues, places with no locker near, and buttons that are no longer (or never were) ours.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable

import pytest

from bot.geo import EARTH_RADIUS_KM
from sandbox.telegram_driver import ChatMessage, UserDriver
from tests.flows.harness import SF, World
from tests.flows.steps import to_sizes

OCEAN = (30.0, -140.0)  # the Pacific, 1,500 km from any locker
CIVIC_CENTER_ADDRESS = "355 McAllister St"


async def removed(w: World, message: ChatMessage) -> None:
    """Wait until the bot deleted `message` (the emulator notifies every change to a chat)."""
    record = w.emulator.bot().chats[message.chat_id].messages[message.message_id]
    changed = w.emulator._changed
    async with changed:
        await asyncio.wait_for(changed.wait_for(lambda: record.deleted), 5)


STRAYS: dict[str, Callable[[UserDriver], Awaitable[ChatMessage]]] = {
    "text": lambda u: u.send_text("hello?"),
    "photo": lambda u: u.send_photo(caption="this parcel"),
    "sticker": lambda u: u.send_sticker(),
}


@pytest.mark.parametrize(
    ("step", "reminder"),
    [
        ("asking for a location", "i need a location"),
        ("choosing a location", "tap one of the locations"),
        ("choosing a size", "tap one of the sizes"),
    ],
)
async def test_stray_messages_get_a_reminder_at_every_step(w: World, step: str, reminder: str) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    if step != "asking for a location":
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within")
    if step == "choosing a size":
        await alice.press("Civic Center")
        await alice.wait_for("which locker size")

    for kind, stray in STRAYS.items():
        await stray(alice)
        answer = await alice.next_reply()
        assert reminder in (answer.content or "").lower(), f"{kind} while {step}: {answer.describe()}"

    # The reminders left the step where it was: its buttons still work.
    if step == "choosing a location":
        await alice.press("Civic Center")
        await alice.wait_for("which locker size")
    elif step == "choosing a size":
        await alice.press("small")
        await alice.wait_for("is held for you")
    else:
        await alice.share_location(*SF)
        await alice.wait_for("free lockers within")


async def test_stray_messages_outside_any_conversation_get_the_fallback(w: World) -> None:
    bob = w.user(102, "Bob")
    for stray in STRAYS.values():
        await stray(bob)
        answer = await bob.next_reply()
        assert "/dropoff" in (answer.content or ""), answer.describe()
    assert not w.harbor_requests("GET", "/locations")


async def test_typed_coordinates_work_as_a_location(w: World) -> None:
    alice = w.user(101, "Alice")
    for typed in ("37.7793, -122.4193", "37.7793 -122.4193", "37.7793;-122.4193"):
        await alice.command("dropoff")
        await alice.wait_for("where are you")
        await alice.send_text(typed)
        nearby = await alice.wait_for("free lockers within")
        assert "Civic Center" in nearby.buttons[0], typed
        search = w.harbor_requests("GET", "in-area")[-1]
        assert "37.7" in search.query and "-122.4" in search.query


async def test_a_venue_from_the_attachment_menu_works_as_a_location(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.send_venue(*SF, "San Francisco City Hall", "1 Dr Carlton B Goodlett Pl")
    nearby = await alice.wait_for("free lockers within")
    assert "Civic Center" in nearby.buttons[0]


async def test_a_new_location_while_choosing_searches_again(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*OCEAN)
    await alice.wait_for("no free lockers")
    await alice.send_text("37.7793, -122.4193")
    await alice.wait_for("free lockers within")
    await alice.send_venue(*SF, "City Hall", "1 Dr Carlton B Goodlett Pl")  # changed her mind: nearby again
    nearby = await alice.wait_for("free lockers within")
    await alice.press("Civic Center", nearby)
    await alice.wait_for("which locker size")


async def test_nothing_within_50_km_says_so_after_widening_the_search(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*OCEAN)
    nothing = await alice.wait_for("no free lockers")
    assert "50 km" in (nothing.content or "")
    assert "another location" in (nothing.content or "").lower()
    # The offer to try again: the location button is back.
    assert nothing.reply_buttons and nothing.reply_buttons[0][0].request_location

    # Harbor saw boxes around the point, each twice as wide as the one before, up to 50 km.
    reaches = [_box_reach_km(r.query) for r in w.harbor_requests("GET", "in-area")]
    assert reaches == pytest.approx([5, 10, 20, 40, 50], rel=0.01)

    # Another location now works in the same conversation.
    alice.location = SF
    await alice.press_reply("share my location")
    await alice.wait_for("free lockers within")


def _box_reach_km(query: str) -> float:
    """How far north and south of its centre an in-area box reaches."""
    found = re.search(r"start=(-?[\d.]+)%2C[^&]*&end=(-?[\d.]+)%2C", query)
    assert found, query
    return (float(found.group(2)) - float(found.group(1))) / 2 * math.pi / 180 * EARTH_RADIUS_KM


async def test_sizes_and_reservation_say_what_where_and_until_when(w: World) -> None:
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice)
    assert CIVIC_CENTER_ADDRESS in (sizes.content or "")
    # Each size button names the size and how many are free (Civic Center: 12 small, 11 medium
    # (one is out of service), 7 large, 5 x-large), and one leads back to the other locations.
    labels = [b for b in sizes.buttons if "free" in b]
    assert [re.match(r"[\w-]+", b).group(0) for b in labels] == ["small", "medium", "large", "x-large"]  # type: ignore[union-attr]
    assert [int(re.search(r"(\d+) free", b).group(1)) for b in labels] == [12, 11, 7, 5]  # type: ignore[union-attr]

    await alice.press("medium")
    held = await alice.wait_for("is held for you")
    delivery = await w.services.deliveries.open_dropoff(alice.id)
    text = held.content or ""
    assert f"Locker {delivery.locker_name} (medium)" in text
    assert "Civic Center" in text and CIVIC_CENTER_ADDRESS in text
    # The hold's end, in the locker's own time zone (America/Los_Angeles).
    assert re.search(r"ends at \d\d:\d\d P[SD]T", text), text
    assert any("key" in b.lower() for b in held.buttons)
    assert any("cancel" in b.lower() for b in held.buttons)
    # Harbor holds exactly that locker for the bot.
    assert w.simulator.locker(delivery.locker_id)["status"]["name"] == "reserved"


# stale and forged buttons ------------------------------------------------------------------------


async def test_a_location_list_from_before_the_reservation_still_works_but_holds_one_locker(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    old_list = await alice.wait_for("free lockers within")
    await alice.send_text("37.7793, -122.4193")  # a second search: a second list
    await alice.wait_for(lambda m: "Free lockers within" in (m.content or "") and m.message_id != old_list.message_id)
    await alice.press("Civic Center")
    sizes = await alice.wait_for("which locker size")
    await alice.press("small")
    held = await alice.wait_for("is held for you")
    assert held.message_id == sizes.message_id  # the size list became the reservation

    # Buttons are self-describing: the old list still shows a location's sizes (docs/design.md §8)...
    await alice.press("Yerba Buena", old_list)
    other = await alice.wait_for(
        lambda m: m.message_id == old_list.message_id and "which locker size" in (m.content or "").lower()
    )
    # ...but one customer holds one locker before the drop-off: a second size tap reserves nothing.
    answer = await alice.press("small", other)
    assert answer is not None and "already have a locker reserved" in (answer.text or "").lower()
    assert len(w.simulator.assigned_lockers(w.settings.harbor_client_id)) == 1
    assert len(w.harbor_requests("POST", "reservations")) == 1


async def test_the_key_button_of_a_cancelled_delivery_shows_where_it_stands(w: World) -> None:
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice)
    await alice.press("small", sizes)
    await alice.wait_for("is held for you")
    await alice.command("my")
    listed = await alice.wait_for(lambda m: any("key" in b.lower() for b in m.buttons))
    await alice.command("cancel")
    await alice.wait_for("cancelled")

    answer = await alice.press("key", listed)
    assert answer is not None and "moved on" in (answer.text or "").lower()
    # The pressed message now says where the delivery stands, with no dead buttons.
    now = await alice.wait_for(lambda m: m.message_id == listed.message_id and "cancelled" in (m.content or ""))
    assert not now.inline_buttons
    assert not w.simulator.issued_tokens()
    assert not w.simulator.assigned_lockers(w.settings.harbor_client_id)


async def test_a_forged_button_press_is_answered_and_changes_nothing(w: World) -> None:
    alice = w.user(101, "Alice")
    sizes = await to_sizes(alice)
    # A client that makes up its own callback data (not one the bot ever sent).
    chat = w.emulator.bot().chats[alice.id]
    malformed = await w.emulator.press_callback(alice.bot, alice.record, chat.messages[sizes.message_id], "size:x;1")
    await asyncio.wait_for(malformed.answered.wait(), 5)
    assert malformed.answer is not None and "no longer active" in (malformed.answer["text"] or "").lower()
    # Well-formed but naming a location that does not exist: a friendly word, nothing reserved.
    state = await w.emulator.press_callback(alice.bot, alice.record, chat.messages[sizes.message_id], "size:999999:1")
    await asyncio.wait_for(state.answered.wait(), 5)
    await alice.wait_for("no longer available")
    assert not w.harbor_requests("POST", "reservations")
    assert (await w.services.deliveries.open_dropoff(alice.id)) is None
