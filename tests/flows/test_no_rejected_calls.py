"""No call Telegram rejects in a whole delivery: each key's photo is deleted once, when it has had its
day, and never a second time (issue 19). SDK keys and Locker Open links alike."""

from __future__ import annotations

from collections import Counter

from sandbox.telegram_driver import UserDriver
from tests.flows.harness import World
from tests.flows.steps import get_pickup_key, item_in_locker, settled, share_link
from tests.flows.test_links import link_world, open_button, to_sizes


def rejected(w: World) -> list[tuple[str, int | None, str | None]]:
    return [(c.method, c.error_code, c.description) for c in w.emulator.calls if not c.ok]


def assert_each_key_deleted_once(w: World, *holders: UserDriver) -> None:
    """Every key photo the bot sent is gone from its chat, after exactly one deleteMessage, and no message
    (a key, or the "looking for lockers" note a search removes) is deleted twice."""
    deletes = Counter(
        (c.params["chat_id"], c.params["message_id"]) for c in w.emulator.calls if c.method == "deleteMessage"
    )
    photos = [
        (c.params["chat_id"], c.result["message_id"]) for c in w.emulator.calls if c.method == "sendPhoto" and c.ok
    ]
    assert photos and {(int(chat), message): deletes[(chat, message)] for chat, message in photos} == {
        (int(chat), message): 1 for chat, message in photos
    }, deletes
    assert set(deletes.values()) == {1}, deletes
    for holder in holders:
        assert not [m for m in holder.bot_messages if m.photo], f"a key photo is left in {holder.first_name}'s chat"


async def test_a_handover_through_a_link_deletes_each_key_once(w: World) -> None:
    alice, bob = w.user(101, "Alice"), w.user(202, "Bob")
    _, inside = await item_in_locker(w, alice)
    url, _ = await share_link(alice, inside)
    await bob.open_link(url)
    key = await get_pickup_key(w, bob, await bob.wait_for("waiting for you"))
    assert (await w.use_at_tower(key)).status_code == 200
    await w.watch()
    await alice.wait_for("complete")
    await bob.wait_for("thank you")
    await settled(w)
    assert not rejected(w), rejected(w)
    assert_each_key_deleted_once(w, alice, bob)


async def test_a_handover_with_locker_open_links_deletes_each_key_once(database_url: str) -> None:
    async with link_world(database_url, with_return_page=False) as w:
        alice, bob = w.user(301, "Alice"), w.user(302, "Bob")
        await alice.press("small", await to_sizes(alice))
        dropoff = await alice.wait_for(lambda m: m.photo is not None)
        await w.open_link(open_button(dropoff))
        await w.watch()
        inside = await alice.wait_for("is in locker")
        url, _ = await share_link(alice, inside)
        await bob.open_link(url)
        await bob.press("pickup key", await bob.wait_for("waiting for you"))
        pickup = await bob.wait_for(lambda m: m.photo is not None and "pickup link" in (m.caption or "").lower())
        await w.open_link(open_button(pickup))
        await w.watch()
        await alice.wait_for("complete")
        await bob.wait_for("thank you")
        await settled(w)
        assert not rejected(w), rejected(w)
        assert_each_key_deleted_once(w, alice, bob)
