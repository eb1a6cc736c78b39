"""Issue 17: your places, sizes people understand, and the papercuts of the drop-off as a new user meets
them (the link's time zone, /forget's way out, /my's finished deliveries, revoking on a finished
delivery, coordinates out of range)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.telegram_driver import ChatMessage, UserDriver
from tests.flows.harness import SF, World, world
from tests.flows.steps import get_pickup_key, item_in_locker, share_link


async def hold_and_cancel(user: UserDriver, typed: str, location: str) -> None:
    """Find a location by typing, hold a small locker there, and give it back."""
    await user.command("dropoff")
    await user.wait_for("where are you")
    await user.send_text(typed)
    await user.wait_for("matching")
    await user.press(location)
    sizes = await user.wait_for("which locker size")
    await user.press("small", sizes)
    held = await user.wait_for("is held for you")
    await user.press("cancel", held)
    await user.wait_for("cancelled")


def places_offered(user: UserDriver) -> list[ChatMessage]:
    return [m for m in user.bot_messages if "place you used before" in (m.content or "")]


@pytest.fixture
async def busy(database_url: str) -> AsyncIterator[World]:
    """A customer who searches a lot in one minute (the per-person search budget is tested elsewhere)."""
    async with world(database_url, user_searches_per_minute=100, user_update_burst=200) as running:
        yield running


async def test_used_places_are_offered_latest_first_and_vanish_after_forget(busy: World) -> None:
    w = busy
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    assert not places_offered(alice)  # a new customer has none
    await alice.command("cancel")
    await alice.wait_for("stopped")

    for typed, location in (
        ("civic center", "Civic Center"),
        ("mission st", "Yerba Buena"),
        ("congress ave", "Downtown Austin"),
        ("elizabeth", "South Congress"),
        ("mission", "Yerba Buena"),
    ):
        await hold_and_cancel(alice, typed, location)

    await alice.command("dropoff")
    await alice.wait_for("where are you")
    offered = await alice.wait_for("place you used before")
    # The last three distinct, latest first: one tap each.
    assert offered.buttons == [
        "⭐ Yerba Buena - Mission St",
        "⭐ South Congress - Elizabeth St",
        "⭐ Downtown Austin - Congress Ave",
    ]
    await alice.press("South Congress", offered)
    sizes = await alice.wait_for("which locker size")
    assert "South Congress" in (sizes.content or "")
    await alice.command("cancel")
    await alice.wait_for("stopped")

    await alice.command("forget")
    await alice.press("forget me", await alice.wait_for("This deletes what I store about you"))
    await alice.wait_for("Done: I deleted")
    before = len(places_offered(alice))
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.send_text("austin")  # the next answer comes after any places would have
    await alice.wait_for("matching")
    assert len(places_offered(alice)) == before


async def test_sizes_say_what_they_hold_in_english_and_spanish(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.share_location(*SF)
    await alice.wait_for("free lockers within")
    await alice.press("Civic Center")
    sizes = await alice.wait_for("which locker size")
    assert sizes.buttons[0].startswith("small · up to 30 × 40 × 12 cm — ")
    assert "medium: up to 30 × 40 × 30 cm, shoe boxes, most parcels" in (sizes.content or "")
    await alice.press("medium", sizes)
    held = await alice.wait_for("is held for you")
    assert "(medium)" in (held.content or "") and "up to 30 × 40 × 30 cm" in (held.content or "")

    ana = w.user(102, "Ana", lang="es")
    await ana.command("dropoff")
    prompt = await ana.wait_for("dónde estás")
    assert "código postal" in (prompt.content or "")
    await ana.send_text("austin")
    found = await ana.wait_for("coinciden con «austin»")
    assert "pequeño" in (found.content or "")
    await ana.press("Downtown Austin", found)
    tamaños = await ana.wait_for("qué tamaño")
    assert tamaños.buttons[0].startswith("pequeño · hasta 30 × 40 × 12 cm — ")
    assert "mediano: hasta 30 × 40 × 30 cm, cajas de zapatos" in (tamaños.content or "")
    await ana.press("mediano", tamaños)
    reservado = await ana.wait_for("mediano")
    assert "hasta 30 × 40 × 30 cm" in (reservado.content or "")


async def test_coordinates_out_of_range_are_called_that(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("dropoff")
    await alice.wait_for("where are you")
    await alice.send_text("91, 200")
    answer = await alice.next_reply()
    assert "out of range" in (answer.content or ""), answer.describe()
    assert not w.harbor_requests("GET", "/api/v1/locations")  # nothing was searched


async def test_forget_offers_no_as_well(w: World) -> None:
    alice = w.user(101, "Alice")
    await alice.command("start")
    await alice.next_reply()
    await alice.command("forget")
    asked = await alice.wait_for("This deletes what I store about you")
    assert len(asked.buttons) == 2
    await alice.press("No, keep it", asked)
    kept = await alice.wait_for("forgot nothing")
    assert kept.message_id == asked.message_id  # the question became the answer
    assert await w.services.repo.get_user(alice.id) is not None


async def test_link_expiry_my_finished_and_revoking_a_finished_delivery(w: World) -> None:
    alice = w.user(101, "Alice")
    delivery_id, inside = await item_in_locker(w, alice)
    _url, made = await share_link(alice, inside)
    # Civic Center is in San Francisco: the link's end is in Pacific time like every other time there.
    assert "PST" in (made.content or "") or "PDT" in (made.content or ""), made.describe()
    assert "UTC" not in (made.content or "")

    await alice.press("myself", inside)
    key = await get_pickup_key(w, alice, await alice.wait_for("waiting for you"))
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("is complete")

    await alice.press("Revoke", made)
    truth = await alice.wait_for("nothing to revoke")
    assert f"#{delivery_id}" in (truth.content or "") and "completed" in (truth.content or "")

    await alice.command("my")
    await alice.wait_for("no open deliveries")
    finished = await alice.wait_for("Recently finished")
    assert f"#{delivery_id}" in (finished.content or "") and "completed" in (finished.content or "")
    assert "✔" in (finished.content or "")
