"""The whole drop-off, as a customer lives it: location -> locker -> key -> item in the locker."""

from __future__ import annotations

from tests.flows.harness import SF, World, decode_key


async def test_from_location_to_item_in_locker(w: World) -> None:
    alice = w.user(101, "Alice", username="alice")
    await alice.command("start")
    menu = await alice.wait_for("what would you like")
    labels = " | ".join(menu.buttons).lower()
    assert "drop off" in labels and "my deliveries" in labels and "help" in labels

    await alice.command("dropoff")
    ask = await alice.wait_for("where are you")
    assert ask.reply_buttons[0][0].request_location

    alice.location = SF
    await alice.press_reply("share my location")
    nearby = await alice.wait_for("free lockers within")
    assert "Civic Center" in nearby.buttons[0]
    assert "Hayes Valley" not in nearby.content  # the full location is left out

    await alice.press("Civic Center")
    sizes = await alice.wait_for("which locker size")
    assert any("small" in b for b in sizes.buttons)

    await alice.press("small")
    held = await alice.wait_for("is held for you")
    assert "Civic Center" in held.content and "small" in held.content
    # One message says where and until when, with the way there; the size list became it.
    assert "McAllister" in held.content and held.message_id == sizes.message_id
    [delivery] = await w.services.repo.open_deliveries_of(101)
    assert (delivery.status_chat_id, delivery.status_message_id) == (101, sizes.message_id)
    [directions] = [b for row in held.inline_buttons for b in row if b.url]
    assert "destination=37.78" in directions.url

    await alice.press("key", held)
    photo = await alice.wait_for(lambda m: m.photo is not None)
    key = decode_key(photo)
    issued = w.simulator.issued_tokens()
    assert len(issued) == 1
    assert (key.payload, key.payload_auth) == (issued[0]["payload"], issued[0]["payload_auth"])
    assert key.kind == "dropoff" and key.tower_id == issued[0]["tower_id"] and key.sdk_token
    assert "drop-off key" in photo.caption.lower()

    answer = await w.use_at_tower(key)
    assert answer.status_code == 200, answer.text
    await w.watch()
    inside = await alice.wait_for("is in locker")
    assert f"locker {key.locker_name}" in inside.content.lower()
    assert any("pickup link" in b.lower() for b in inside.buttons)
